"""Bot folder archives: a reproducible tar.gz plus a sha256 manifest, kept in bots/archived/ or on S3.

* ``pack``         bots/instances/<bot> -> staging tar.gz + Manifest (sha256 of the archive and every file).
  The bytes depend only on the files (sorted members, no owners, gzip mtime 0), so the archive id
  ``<bot>-<sha256[:16]>`` is the same when an interrupted archive is retried.
* ``LocalStore``   <id>.tar.gz + <id>.manifest.json in bots/archived/.
* ``S3Store``      multipart upload streamed part by part (ContentMD5 per part), resumed from the parts an
  interrupted attempt left (same key, so never a second object), verified by size, multipart ETag and the
  sha256 metadata before anything local is deleted.
* ``unpack``       verified, safe extraction (tarfile's ``data`` filter) into a staging folder, then renamed.
* ``archive_bot`` / ``restore`` put these together.

Blocking code: call it through ``asyncio.to_thread``. ``progress(stage, done, total)`` is called from the
worker thread; an exception it raises aborts the operation (the multipart upload stays resumable).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import os
import shutil
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from shared.errors import Conflict, HbError, Invalid, NotFound, Unavailable
from shared.schemas.archive import ArchiveInfo, ArchiveResult, FileEntry, Manifest, RestoreResult

from .paths import BotsFolder, check_name

Progress = Callable[[str, int, int], None]
CHUNK = 1024 * 1024


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, f):
        self.f, self.hash, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


class _HashingReader:
    def __init__(self, f, on_read: Callable[[int], None]):
        self.f, self.hash, self.on_read = f, hashlib.sha256(), on_read

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.hash.update(data)
        self.on_read(len(data))
        return data


# -- packing ---------------------------------------------------------------------------------------

def _walk(src: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames.sort()
        base = Path(dirpath)
        for name in dirnames:
            yield base / name
        for name in sorted(filenames):
            yield base / name


def pack(src: Path, bot_name: str, staging: Path, progress: Progress = _noop) -> tuple[Path, Manifest]:
    """Write bots/instances/<bot> as a reproducible tar.gz into staging; return it and its manifest."""
    entries = sorted(_walk(src), key=lambda p: p.relative_to(src).as_posix())
    total = sum(p.lstat().st_size for p in entries if p.is_file() and not p.is_symlink())
    staging.mkdir(parents=True, exist_ok=True)
    tmp = staging / f"{bot_name}.{uuid.uuid4().hex[:8]}.tar.gz.part"
    files: list[FileEntry] = []
    skipped: list[str] = []
    done = 0
    progress("packing", 0, total)

    def advance(n: int) -> None:
        nonlocal done
        done += n

    def info(path: Path, arcname: str, st: os.stat_result) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(arcname)
        ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = int(st.st_mtime), st.st_mode & 0o755, 0, 0, "", ""
        return ti

    try:
        with open(tmp, "wb") as raw:
            out = _HashingWriter(raw)
            with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz, \
                    tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                top = info(src, bot_name, src.stat())
                top.type = tarfile.DIRTYPE
                tar.addfile(top)
                for path in entries:
                    rel = path.relative_to(src).as_posix()
                    arcname = f"{bot_name}/{rel}"
                    st = path.lstat()
                    if path.is_symlink() or not (path.is_dir() or path.is_file()):
                        skipped.append(rel)
                        continue
                    ti = info(path, arcname, st)
                    if path.is_dir():
                        ti.type = tarfile.DIRTYPE
                        tar.addfile(ti)
                        continue
                    ti.size = st.st_size
                    with open(path, "rb") as f:
                        reader = _HashingReader(f, advance)
                        tar.addfile(ti, fileobj=reader)
                    files.append(FileEntry(rel, st.st_size, reader.hash.hexdigest()))
                    progress("packing", done, total)
            raw.flush()
            os.fsync(raw.fileno())
        digest, size = out.hash.hexdigest(), out.size
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest = Manifest(archive_id=f"{bot_name}-{digest[:16]}", bot_name=bot_name, created_at=time.time(),
                        archive_file=f"{bot_name}-{digest[:16]}.tar.gz", size=size, sha256=digest,
                        files=files, skipped=skipped)
    return tmp, manifest


def unpack(tar_path: Path, manifest: Manifest, dest: Path, staging: Path, progress: Progress = _noop) -> int:
    """Check the archive's sha256, extract it safely, check every file's sha256, then move it to dest."""
    if sha256_file(tar_path) != manifest.sha256:
        raise HbError(f"archive {manifest.archive_id} does not match its manifest's sha256", status=422)
    tmp = staging / f"restore-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            members = tar.getmembers()
            prefix = f"{manifest.bot_name}/"
            bad = [m.name for m in members if m.name != manifest.bot_name and not m.name.startswith(prefix)]
            if bad:
                raise HbError(f"archive {manifest.archive_id} holds entries outside '{prefix}': {bad[:3]}", 422)
            try:
                tar.extractall(tmp, filter="data")
            except tarfile.FilterError as exc:
                raise HbError(f"archive {manifest.archive_id} has an unsafe entry: {exc}", 422) from exc
        root = tmp / manifest.bot_name
        for i, entry in enumerate(manifest.files, 1):
            got = root / entry.path
            if not got.is_file() or sha256_file(got) != entry.sha256:
                raise HbError(f"restored file '{entry.path}' does not match the manifest", status=422)
            progress("verifying", i, len(manifest.files))
        if dest.exists():
            raise Conflict(f"'{dest.name}' already exists in {dest.parent.name}/; delete it first")
        os.replace(root, dest)
        return len(manifest.files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _manifest_bytes(manifest: Manifest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2)


def _info(manifest: Manifest, location: str, **extra) -> ArchiveInfo:
    return ArchiveInfo(archive_id=manifest.archive_id, bot_name=manifest.bot_name, location=location,
                       size=manifest.size, sha256=manifest.sha256, created_at=manifest.created_at,
                       files=len(manifest.files), **extra)


# -- local store ---------------------------------------------------------------------------------

class LocalStore:
    """<id>.tar.gz and <id>.manifest.json in bots/archived/."""

    def __init__(self, folder: BotsFolder):
        self.folder = folder

    def paths(self, archive_id: str) -> tuple[Path, Path]:
        check_name(archive_id, "archive id")
        return self.folder.archived / f"{archive_id}.tar.gz", self.folder.archived / f"{archive_id}.manifest.json"

    def put(self, tmp: Path, manifest: Manifest) -> ArchiveInfo:
        tar, man = self.paths(manifest.archive_id)
        if sha256_file(tmp) != manifest.sha256:  # what is on disk, read back
            raise HbError(f"archive {manifest.archive_id} read back with a different sha256", status=500)
        os.replace(tmp, tar)
        part = man.with_suffix(".part")
        part.write_bytes(_manifest_bytes(manifest))
        os.replace(part, man)
        return _info(manifest, "local")

    def manifest(self, archive_id: str) -> Manifest:
        tar, man = self.paths(archive_id)
        if not man.is_file() or not tar.is_file():
            raise NotFound(f"local archive '{archive_id}' not found")
        try:
            return msgspec.json.decode(man.read_bytes(), type=Manifest)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise HbError(f"manifest of '{archive_id}' is unreadable: {exc}", status=422) from exc

    def list(self) -> list[ArchiveInfo]:
        out = []
        for man in sorted(self.folder.archived.glob("*.manifest.json")):
            try:
                out.append(_info(self.manifest(man.name[: -len(".manifest.json")]), "local"))
            except HbError:
                continue  # a manifest without its archive, or unreadable: not a usable archive
        return sorted(out, key=lambda a: a.created_at)

    def delete(self, archive_id: str) -> list[str]:
        gone = [p for p in self.paths(archive_id) if p.exists()]
        if not gone:
            raise NotFound(f"local archive '{archive_id}' not found")
        for p in gone:
            p.unlink()
        return [self.folder.display(p.parent) + "/" + p.name for p in gone]


# -- S3 store --------------------------------------------------------------------------------------

@dataclass
class UploadOutcome:
    reused_parts: int = 0
    uploaded_parts: int = 0
    already_uploaded: bool = False


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


@contextlib.contextmanager
def s3_errors(bucket: str, what: str) -> Iterator[None]:
    """botocore failures as statuses: missing bucket/key 404, refused credentials or unreachable 503."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchBucket",):
            raise NotFound(f"S3 bucket '{bucket}' does not exist") from exc
        if code in ("NoSuchKey", "404", "NoSuchUpload"):
            raise NotFound(f"{what}: not found in S3 bucket '{bucket}'") from exc
        raise Unavailable(f"{what}: S3 refused ({code}): {exc}") from exc
    except BotoCoreError as exc:
        raise Unavailable(f"{what}: S3 unreachable: {exc}") from exc


class S3Store:
    def __init__(self, client, bucket: str, prefix: str = "hbmesh/archives/", part_size: int = 8 * 1024 * 1024):
        self.client, self.bucket, self.prefix, self.part_size = client, bucket, prefix, part_size

    def keys(self, archive_id: str) -> tuple[str, str]:
        check_name(archive_id, "archive id")
        return f"{self.prefix}{archive_id}.tar.gz", f"{self.prefix}{archive_id}.manifest.json"

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _open_uploads(self, key: str) -> list[dict]:
        found = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key).get("Uploads", [])
        return sorted([u for u in found if u["Key"] == key], key=lambda u: u["Initiated"], reverse=True)

    def _parts(self, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        parts: dict[int, tuple[str, int]] = {}
        marker = 0
        while True:
            page = self.client.list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
            for p in page.get("Parts", []):
                parts[p["PartNumber"]] = (_etag(p["ETag"]), p["Size"])
            if not page.get("IsTruncated"):
                return parts
            marker = page["NextPartNumberMarker"]

    def multipart_etag(self, path: Path) -> str:
        md5s = []
        with open(path, "rb") as f:
            while chunk := f.read(self.part_size):
                md5s.append(hashlib.md5(chunk).digest())
        return f"{hashlib.md5(b''.join(md5s)).hexdigest()}-{len(md5s)}"

    def _verified(self, key: str, size: int, sha256: str, etag: str) -> bool:
        head = self._head(key)
        return (head is not None and head["ContentLength"] == size and _etag(head["ETag"]) == etag
                and head.get("Metadata", {}).get("sha256") == sha256)

    def upload(self, tmp: Path, manifest: Manifest, progress: Progress = _noop) -> UploadOutcome:
        """Multipart upload, resumed from an interrupted attempt's parts; verified before returning."""
        key, man_key = self.keys(manifest.archive_id)
        size = tmp.stat().st_size
        outcome = UploadOutcome()
        with s3_errors(self.bucket, f"upload of {manifest.archive_id}"):
            self.client.head_bucket(Bucket=self.bucket)
            head = self._head(key)
            if head and head.get("Metadata", {}).get("sha256") == manifest.sha256 and \
                    self._verified(key, size, manifest.sha256, self.multipart_etag(tmp)):
                outcome.already_uploaded = True
            else:
                self._upload_parts(key, tmp, size, manifest, outcome, progress)
            body = _manifest_bytes(manifest)
            md5 = hashlib.md5(body)
            put = self.client.put_object(Bucket=self.bucket, Key=man_key, Body=body, ContentType="application/json",
                                         ContentMD5=base64.b64encode(md5.digest()).decode())
            if _etag(put.get("ETag")) != md5.hexdigest():
                raise HbError(f"manifest of {manifest.archive_id}: S3 stored different bytes", status=502)
        return outcome

    def _upload_parts(self, key: str, tmp: Path, size: int, manifest: Manifest, outcome: UploadOutcome,
                      progress: Progress) -> None:
        uploads = self._open_uploads(key)
        if uploads:
            upload_id = uploads[0]["UploadId"]
            existing = self._parts(key, upload_id)
        else:
            upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType="application/gzip",
                Metadata={"sha256": manifest.sha256, "archive-id": manifest.archive_id,
                          "bot-name": manifest.bot_name})["UploadId"]
            existing = {}
        parts, md5s, done = [], [], 0
        progress("uploading", 0, size)
        with open(tmp, "rb") as f:
            number = 1
            while chunk := f.read(self.part_size):
                md5 = hashlib.md5(chunk)
                prev = existing.get(number)
                if prev and prev == (md5.hexdigest(), len(chunk)):
                    etag = prev[0]
                    outcome.reused_parts += 1
                else:
                    etag = _etag(self.client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk,
                        ContentMD5=base64.b64encode(md5.digest()).decode())["ETag"])
                    outcome.uploaded_parts += 1
                parts.append({"PartNumber": number, "ETag": etag})
                md5s.append(md5.digest())
                done += len(chunk)
                progress("uploading", done, size)
                number += 1
        self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                              MultipartUpload={"Parts": parts})
        expected = f"{hashlib.md5(b''.join(md5s)).hexdigest()}-{len(md5s)}"
        progress("verifying", size, size)
        if not self._verified(key, size, manifest.sha256, expected):
            raise HbError(f"upload of {manifest.archive_id} could not be verified (size, ETag or sha256 differ)",
                          status=502)
        for stale in self._open_uploads(key):  # older interrupted attempts at the same key
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=stale["UploadId"])

    def manifest(self, archive_id: str) -> Manifest:
        _, man_key = self.keys(archive_id)
        with s3_errors(self.bucket, f"archive '{archive_id}'"):
            body = self.client.get_object(Bucket=self.bucket, Key=man_key)["Body"].read()
        try:
            return msgspec.json.decode(body, type=Manifest)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise HbError(f"manifest of '{archive_id}' is unreadable: {exc}", status=422) from exc

    def info(self, manifest: Manifest) -> ArchiveInfo:
        return _info(manifest, "s3", bucket=self.bucket, key=self.keys(manifest.archive_id)[0])

    def fetch(self, archive_id: str, staging: Path, progress: Progress = _noop) -> tuple[Path, Manifest]:
        """Download an archive into staging, checking its sha256 against the manifest on the way."""
        manifest = self.manifest(archive_id)
        key, _ = self.keys(archive_id)
        staging.mkdir(parents=True, exist_ok=True)
        tmp = staging / f"{archive_id}.{uuid.uuid4().hex[:8]}.download"
        h, done = hashlib.sha256(), 0
        try:
            with s3_errors(self.bucket, f"download of '{archive_id}'"), open(tmp, "wb") as f:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                for chunk in body.iter_chunks(CHUNK):
                    h.update(chunk)
                    f.write(chunk)
                    done += len(chunk)
                    progress("downloading", done, manifest.size)
            if h.hexdigest() != manifest.sha256 or done != manifest.size:
                raise HbError(f"download of '{archive_id}' does not match its manifest", status=502)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, manifest

    def list(self) -> list[ArchiveInfo]:
        out = []
        with s3_errors(self.bucket, "listing archives"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            names = [o["Key"][len(self.prefix): -len(".manifest.json")]
                     for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".manifest.json")]
        for name in names:
            tar_key, _ = self.keys(name)
            with s3_errors(self.bucket, f"archive '{name}'"):
                if self._head(tar_key) is None:
                    continue  # a manifest whose archive is gone
            out.append(self.info(self.manifest(name)))
        return sorted(out, key=lambda a: a.created_at)

    def delete(self, archive_id: str) -> list[str]:
        keys = self.keys(archive_id)
        with s3_errors(self.bucket, f"delete of '{archive_id}'"):
            present = [k for k in keys if self._head(k) is not None]
            if not present:
                raise NotFound(f"archive '{archive_id}' not found in S3 bucket '{self.bucket}'")
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in present]})
            for stale in self._open_uploads(keys[0]):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=keys[0], UploadId=stale["UploadId"])
        return [f"s3://{self.bucket}/{k}" for k in present]


# -- operations ------------------------------------------------------------------------------------

def archive_bot(folder: BotsFolder, bot_name: str, *, destination: str, keep_browsable: bool = True,
                s3: S3Store | None = None, progress: Progress = _noop) -> ArchiveResult:
    """Archive bots/instances/<bot>; the folder is removed (or moved to archived/) only once verified."""
    src = folder.instance_dir(bot_name)
    if not src.is_dir() or src.is_symlink():
        raise NotFound(f"bot instance '{bot_name}' not found in bots/instances")
    browsable = folder.archived_dir(bot_name) if destination == "local" and keep_browsable else None
    if browsable is not None and browsable.exists():
        raise Conflict(f"bots/archived/{bot_name} already exists: delete it or archive with keep_browsable=false")
    if destination == "s3" and s3 is None:
        raise Invalid("destination 's3' needs a bucket (request field or HBMESH_S3_BUCKET)")
    folder.ensure()
    tmp, manifest = pack(src, bot_name, folder.staging, progress)
    try:
        if destination == "local":
            info = LocalStore(folder).put(tmp, manifest)
            outcome = UploadOutcome()
        else:
            outcome = s3.upload(tmp, manifest, progress)
            info = s3.info(manifest)
    finally:
        tmp.unlink(missing_ok=True)
    if browsable is not None:
        os.replace(src, browsable)
    else:
        shutil.rmtree(src)
    return ArchiveResult(archive=info, verified=True, folder_removed=True,
                         browsable_path=folder.display(browsable) if browsable else None,
                         reused_parts=outcome.reused_parts, already_uploaded=outcome.already_uploaded)


def restore(folder: BotsFolder, archive_id: str, *, source: str, target: str, s3: S3Store | None = None,
            progress: Progress = _noop) -> RestoreResult:
    """Unpack a verified archive into bots/archived/<bot> or bots/instances/<bot>."""
    folder.ensure()
    downloaded = None
    if source == "local":
        manifest = LocalStore(folder).manifest(archive_id)
        tar = LocalStore(folder).paths(archive_id)[0]
    else:
        if s3 is None:
            raise Invalid("location 's3' needs a bucket (request field or HBMESH_S3_BUCKET)")
        manifest = s3.manifest(archive_id)
    dest = (folder.archived_dir if target == "archived" else folder.instance_dir)(manifest.bot_name)
    if dest.exists():
        raise Conflict(f"bots/{target}/{manifest.bot_name} already exists; delete or move it first")
    try:
        if source == "s3":
            downloaded, manifest = s3.fetch(archive_id, folder.staging, progress)
            tar = downloaded
        files = unpack(tar, manifest, dest, folder.staging, progress)
    finally:
        if downloaded is not None:
            downloaded.unlink(missing_ok=True)
    return RestoreResult(archive_id=archive_id, path=folder.display(dest), files=files, verified=True)


def download(folder: BotsFolder, archive_id: str, s3: S3Store, progress: Progress = _noop) -> ArchiveInfo:
    """Copy an S3 archive (checked against its manifest) into the local store, bots/archived/."""
    folder.ensure()
    tar, _ = LocalStore(folder).paths(archive_id)
    if tar.exists():
        raise Conflict(f"archive '{archive_id}' is already in bots/archived/")
    tmp, manifest = s3.fetch(archive_id, folder.staging, progress)
    try:
        return LocalStore(folder).put(tmp, manifest)
    finally:
        tmp.unlink(missing_ok=True)


def delete_archived_folder(folder: BotsFolder, db: Path) -> str:
    """hummingbot-api's DELETE /archived-bots/{db_path}: remove bots/archived/<bot> holding that database."""
    bot_dir = folder.archived_bot_of(db)
    shutil.rmtree(bot_dir)
    return bot_dir.name
