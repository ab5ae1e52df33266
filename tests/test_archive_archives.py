"""svc_archive archives: reproducible tar.gz + manifest, local store, and S3 against a real S3 protocol server
(moto's server mode on 127.0.0.1): upload, verify, list, restore, delete, failed and interrupted uploads."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from shared.errors import Conflict, HbError, Invalid, NotFound
from svc_archive import archives
from svc_archive.archives import LocalStore, S3Store
from svc_archive.config import MIN_PART_SIZE, S3Config
from svc_archive.paths import BotsFolder
from svc_archive.service import service as archive
from tests.archive_helpers import make_instance, tree
from tests.mqtt_helpers import Collector, client, running


@pytest.fixture
def bots(tmp_path) -> BotsFolder:
    folder = BotsFolder(tmp_path / "bots")
    folder.ensure()
    return folder


@pytest.fixture
def s3(moto_s3):
    """S3 settings on the moto server, and a fresh bucket."""
    cfg = S3Config(endpoint_url=moto_s3["endpoint"], region=moto_s3["region"], access_key_id=moto_s3["access_key"],
                   secret_access_key=moto_s3["secret_key"], part_size=MIN_PART_SIZE, _env_file=None)
    c = cfg.client()
    bucket = f"hbmesh-{uuid.uuid4().hex[:12]}"
    c.create_bucket(Bucket=bucket)
    yield cfg, c, bucket
    for obj in c.list_objects_v2(Bucket=bucket).get("Contents", []):
        c.delete_object(Bucket=bucket, Key=obj["Key"])
    for up in c.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        c.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    c.delete_bucket(Bucket=bucket)


def keys(c, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in c.list_objects_v2(Bucket=bucket).get("Contents", []))


def open_uploads(c, bucket: str) -> list[dict]:
    return c.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


# -- local -------------------------------------------------------------------------------------------

def test_pack_is_reproducible_and_local_archive_round_trips(bots):
    src = make_instance(bots.root, "bot1")
    original = tree(src)
    one, m1 = archives.pack(src, "bot1", bots.staging)
    two, m2 = archives.pack(src, "bot1", bots.staging)
    assert one.read_bytes() == two.read_bytes() and m1.archive_id == m2.archive_id == f"bot1-{m1.sha256[:16]}"
    assert {f.path for f in m1.files} == set(original) and all(len(f.sha256) == 64 for f in m1.files)
    one.unlink(), two.unlink()

    result = archives.archive_bot(bots, "bot1", destination="local")
    assert result.verified and result.folder_removed and result.browsable_path == "bots/archived/bot1"
    assert not src.exists() and tree(bots.archived / "bot1") == original
    assert bots.list_databases("archived") == ["bots/archived/bot1/data/bot1.sqlite"]
    aid = result.archive.archive_id
    manifest = json.loads((bots.archived / f"{aid}.manifest.json").read_text())
    assert manifest["sha256"] == archives.sha256_file(bots.archived / f"{aid}.tar.gz") == result.archive.sha256
    assert [a.archive_id for a in LocalStore(bots).list()] == [aid]

    restored = archives.restore(bots, aid, source="local", target="instances")
    assert restored.path == "bots/instances/bot1" and restored.files == len(original)
    assert tree(src) == original
    with pytest.raises(Conflict):  # never over an existing folder
        archives.restore(bots, aid, source="local", target="instances")
    with pytest.raises(Conflict):  # bots/archived/bot1 is taken by the first archive
        archives.archive_bot(bots, "bot1", destination="local")
    assert tree(src) == original  # refused before anything was touched
    assert LocalStore(bots).delete(aid) and LocalStore(bots).list() == []
    with pytest.raises(NotFound):
        LocalStore(bots).delete(aid)
    with pytest.raises(NotFound):
        archives.archive_bot(bots, "ghost", destination="local")
    with pytest.raises(Invalid):
        archives.archive_bot(bots, "../bot1", destination="local")
    assert list(bots.staging.iterdir()) == []


def test_tampered_archive_is_not_restored(bots):
    make_instance(bots.root, "bot2")
    aid = archives.archive_bot(bots, "bot2", destination="local", keep_browsable=False).archive.archive_id
    assert not (bots.archived / "bot2").exists() and not (bots.instances / "bot2").exists()
    tar = bots.archived / f"{aid}.tar.gz"
    data = bytearray(tar.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tar.write_bytes(bytes(data))
    with pytest.raises(HbError) as err:
        archives.restore(bots, aid, source="local", target="archived")
    assert err.value.status == 422 and "sha256" in err.value.msg
    assert not (bots.archived / "bot2").exists()


# -- S3 ----------------------------------------------------------------------------------------------

def test_interrupted_multipart_upload_resumes_without_a_second_object(bots, s3):
    cfg, c, bucket = s3
    src = make_instance(bots.root, "big")
    (src / "data" / "candles.bin").write_bytes(os.urandom(2 * MIN_PART_SIZE + 12345))  # 3 parts, incompressible
    original = tree(src)
    store = S3Store(c, bucket, cfg.prefix, cfg.part_size)

    def cut_after_first_part(stage, done, total):
        if stage == "uploading" and done >= MIN_PART_SIZE:
            raise ConnectionError("network went away")

    with pytest.raises(ConnectionError):
        archives.archive_bot(bots, "big", destination="s3", s3=store, progress=cut_after_first_part)
    assert tree(src) == original and keys(c, bucket) == []  # nothing deleted, no object yet
    assert len(open_uploads(c, bucket)) == 1

    result = archives.archive_bot(bots, "big", destination="s3", s3=store)
    aid = result.archive.archive_id
    assert result.verified and result.reused_parts == 1 and not src.exists()
    assert keys(c, bucket) == [f"{cfg.prefix}{aid}.manifest.json", f"{cfg.prefix}{aid}.tar.gz"]
    assert open_uploads(c, bucket) == []
    head = c.head_object(Bucket=bucket, Key=f"{cfg.prefix}{aid}.tar.gz")
    assert head["ETag"].strip('"').endswith("-3") and head["Metadata"]["sha256"] == result.archive.sha256

    # the same archive again (e.g. a retry after the reply was lost): recognised, not uploaded twice
    restored = archives.restore(bots, aid, source="s3", target="instances", s3=store)
    assert restored.verified and tree(src) == original
    tmp, manifest = archives.pack(src, "big", bots.staging)
    assert manifest.archive_id == aid
    assert store.upload(tmp, manifest).already_uploaded
    tmp.unlink()
    assert len(keys(c, bucket)) == 2


async def test_s3_archive_list_restore_delete_through_the_service(settings, s3, monkeypatch):
    cfg, c, bucket = s3
    for k, v in {"ENDPOINT_URL": cfg.endpoint_url, "REGION": cfg.region, "ACCESS_KEY_ID": cfg.access_key_id,
                 "SECRET_ACCESS_KEY": cfg.secret_access_key, "BUCKET": bucket, "PART_SIZE": str(cfg.part_size)}.items():
        monkeypatch.setenv(f"HBMESH_S3_{k}", v)
    bots = BotsFolder(settings.data_dir / "bots")
    src = make_instance(bots.root, "mm1")
    original = tree(src)
    t = lambda cmd: f"{settings.prefix}/v1/archive/{cmd}"  # noqa: E731
    events = f"{settings.prefix}/v1/archive/events/tasks/+"
    async with running(archive, settings), client(settings) as rpc, Collector(settings, events) as ev:
        async def call(cmd, **data):
            return await rpc.request(t(cmd), data, 60)

        done = await call("archive", bot_name="mm1", destination="s3", task_id="arch-1")
        seen = []
        while not seen or seen[-1]["status"] == "running":
            seen.append(Collector.json(await ev.next()))
        listed = await call("archives/list", location="s3")
        local_list = await call("archives/list")
        aid = done.result["archive"]["archive_id"]
        restored = await call("archives/restore", archive_id=aid, location="s3", target="archived")
        summary = await call("databases/summary", db_path="bots/archived/mm1/data/mm1.sqlite")
        again = await call("archives/restore", archive_id=aid, location="s3", target="archived")
        fetched = await call("archives/download", archive_id=aid)
        fetched_again = await call("archives/download", archive_id=aid)
        local_after = await call("archives/list")
        missing = await call("archives/restore", archive_id="nope-0000", location="s3")
        bad_id = await call("archives/restore", archive_id="../../etc", location="s3")
        deleted = await call("archives/delete", archive_id=aid, location="s3")
        after = await call("archives/list", location="s3")
        gone = await call("archives/delete", archive_id=aid, location="s3")
    assert done.status == 200, done.msg
    r = done.result
    assert r["verified"] and r["folder_removed"] and r["browsable_path"] is None and not src.exists()
    assert r["archive"]["location"] == "s3" and r["archive"]["bucket"] == bucket
    assert [e["task_id"] for e in seen] == ["arch-1"] * len(seen) and seen[-1]["status"] == "completed"
    stages = [e["detail"]["stage"] for e in seen[:-1]]
    assert stages[0] == "packing" and "uploading" in stages and stages[-1] == "verifying"
    assert [e["progress"] for e in seen] == sorted(e["progress"] for e in seen) and seen[-1]["progress"] == 100
    assert [a["archive_id"] for a in listed.result] == [aid] and listed.result[0]["sha256"] == r["archive"]["sha256"]
    assert local_list.result == []
    assert restored.status == 200 and restored.result["path"] == "bots/archived/mm1"
    assert tree(bots.archived / "mm1") == original and summary.result["total_trades"] == 3
    assert fetched.status == 200 and fetched.result["sha256"] == r["archive"]["sha256"]
    assert fetched_again.status == 409 and [a["archive_id"] for a in local_after.result] == [aid]
    assert archives.sha256_file(bots.archived / f"{aid}.tar.gz") == r["archive"]["sha256"]
    assert again.status == 409 and missing.status == 404 and bad_id.status == 422
    assert deleted.status == 200 and len(deleted.result["deleted"]) == 2
    assert after.result == [] and keys(c, bucket) == [] and gone.status == 404


async def test_failed_upload_leaves_the_local_folder_intact(settings, s3, monkeypatch):
    cfg, c, bucket = s3
    for k, v in {"ENDPOINT_URL": cfg.endpoint_url, "ACCESS_KEY_ID": cfg.access_key_id,
                 "SECRET_ACCESS_KEY": cfg.secret_access_key}.items():
        monkeypatch.setenv(f"HBMESH_S3_{k}", v)
    monkeypatch.delenv("HBMESH_S3_BUCKET", raising=False)
    monkeypatch.delenv("AWS_S3_DEFAULT_BUCKET_NAME", raising=False)
    bots = BotsFolder(settings.data_dir / "bots")
    src = make_instance(bots.root, "mm2")
    original = tree(src)
    t = lambda cmd: f"{settings.prefix}/v1/archive/{cmd}"  # noqa: E731
    events = f"{settings.prefix}/v1/archive/events/tasks/fail-1"
    async with running(archive, settings), client(settings) as rpc, Collector(settings, events) as ev:
        no_bucket = await rpc.request(t("archive"), {"bot_name": "mm2", "destination": "s3"}, 30)
        wrong = await rpc.request(t("archive"), {"bot_name": "mm2", "destination": "s3", "task_id": "fail-1",
                                                 "bucket": "no-such-bucket-here"}, 30)
        while (failed := Collector.json(await ev.next()))["status"] == "running":
            pass
        bad_name = await rpc.request(t("archive"), {"bot_name": "../mm2"}, 30)
        ghost = await rpc.request(t("archive"), {"bot_name": "ghost"}, 30)
    assert no_bucket.status == 422 and "HBMESH_S3_BUCKET" in no_bucket.msg
    assert wrong.status == 404 and "no-such-bucket-here" in wrong.msg
    assert failed["status"] == "failed" and "no-such-bucket-here" in failed["error"]
    assert bad_name.status == 422 and ghost.status == 404
    assert tree(src) == original
    assert list(bots.staging.iterdir()) == [] and keys(c, bucket) == []


async def test_fleet_stop_and_archive_entrypoint(settings, tmp_path):
    """svc_fleet's call: {instance_name, path, archive_locally, s3_bucket} on archive/bots/archive."""
    bots = BotsFolder(settings.data_dir / "bots")
    src = make_instance(bots.root, "fleet1")
    original = tree(src)
    t = f"{settings.prefix}/v1/archive/bots/archive"
    async with running(archive, settings), client(settings) as rpc:
        elsewhere = await rpc.request(t, {"instance_name": "fleet1", "path": str(tmp_path / "fleet" / "bots" /
                                                                                "instances" / "fleet1")}, 30)
        untouched = tree(src)
        done = await rpc.request(t, {"instance_name": "fleet1", "path": str(src), "archive_locally": True,
                                     "s3_bucket": None}, 30)
        twice = await rpc.request(t, {"instance_name": "fleet1"}, 30)
    assert elsewhere.status == 400 and "bots folder" in elsewhere.msg and untouched == original
    assert done.status == 200 and done.result["browsable_path"] == "bots/archived/fleet1"
    assert tree(bots.archived / "fleet1") == original and not src.exists()
    assert twice.status == 404  # the instance folder is gone: nothing archived twice
