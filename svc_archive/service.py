"""svc_archive's entrypoints: commands on hbmesh/v1/archive/... mapped onto the bots folder, the archive
stores (bots/archived/ or S3), bot databases and checkpoints. All file, SQLite and S3 work runs in threads."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from shared.errors import BadRequest, Conflict, Invalid
from shared.schemas.archive import (ArchiveInfo, ArchiveList, ArchiveRef, ArchiveRequest, ArchiveResult,
                                    CheckpointCreate, CheckpointData, CheckpointInfo, CheckpointRef, DbAll,
                                    DbControllers, DbExecutors, DbList, DbOrders, DbOrdersPage, DbPage,
                                    DbPerformance, DbPositions, DbRef, DbStatus, DbSummary, DbTrades, Deleted, FleetArchive,
                                    RestoreRequest, RestoreResult)
from shared.schemas.common import TaskProgress
from shared.service import Runtime, Service

service = Service("archive", "Bot archives (local and S3), bot databases, checkpoints")
service.event("tasks/{task_id}", TaskProgress, "Archive and restore progress, then completion or failure")

# overall percentage per stage: (start, span)
STAGES = {"packing": (0, 40), "uploading": (40, 55), "verifying": (95, 5)}
RESTORE_STAGES = {"downloading": (0, 60), "verifying": (60, 40)}


class State:
    def __init__(self, rt: Runtime):
        from .config import ArchiveConfig, S3Config
        from .paths import BotsFolder

        cfg = ArchiveConfig()
        self.folder = BotsFolder(cfg.resolved_bots_dir(rt.settings.data_dir))
        self.folder.ensure()
        self.s3 = S3Config()
        self.db_timeout = cfg.db_timeout_s  # seconds to wait for a bot's write lock before answering 409
        self._client = None
        self.busy: set[str] = set()

    def s3_store(self, bucket: str | None, required: bool = True):
        from .archives import S3Store

        bucket = bucket or self.s3.bucket
        if not bucket:
            if required:
                raise Invalid("no S3 bucket: give 'bucket' or set HBMESH_S3_BUCKET")
            return None
        if self._client is None:
            self._client = self.s3.client()
        return S3Store(self._client, bucket, self.s3.prefix, self.s3.part_size)

    @contextlib.contextmanager
    def claim(self, key: str, what: str):
        if key in self.busy:
            raise Conflict(f"{what} is already in progress")
        self.busy.add(key)
        try:
            yield
        finally:
            self.busy.discard(key)


@service.lifespan
async def lifespan(rt: Runtime):
    yield State(rt)


async def _tracked(rt: Runtime, task_id: str | None, stages: dict, work: Callable[[Callable], Any]) -> Any:
    """Run blocking work in a thread, publishing its progress on events/tasks/<task_id> (when given) and a
    final completed/failed event after every progress event."""
    loop = asyncio.get_running_loop()
    sent: list = []
    last = {"stage": None, "t": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        if not task_id:
            return
        now = time.monotonic()
        if stage == last["stage"] and now - last["t"] < 0.25 and done < total:
            return  # at most 4 events a second per stage, and always the stage's last one
        last.update(stage=stage, t=now)
        start, span = stages.get(stage, (0, 100))
        pct = round(start + span * done / max(total, 1), 2)
        event = TaskProgress(task_id, "running", pct, {"stage": stage, "done": done, "total": total})
        sent.append(asyncio.run_coroutine_threadsafe(rt.emit(f"tasks/{task_id}", event), loop))

    try:
        result = await asyncio.to_thread(work, progress)
    except Exception as exc:
        await _flush(sent)
        if task_id:
            await rt.emit(f"tasks/{task_id}", TaskProgress(task_id, "failed", 0.0, {},
                                                           getattr(exc, "msg", None) or str(exc)), qos=1)
        raise
    await _flush(sent)
    if task_id:
        await rt.emit(f"tasks/{task_id}", TaskProgress(task_id, "completed", 100.0, _builtins(result)), qos=1)
    return result


async def _flush(sent: list) -> None:
    if sent:
        await asyncio.gather(*(asyncio.wrap_future(f) for f in sent), return_exceptions=True)


def _builtins(result: Any) -> dict:
    import msgspec

    out = msgspec.to_builtins(result)
    return out if isinstance(out, dict) else {"result": out}


# -- archives --------------------------------------------------------------------------------------

@service.command("archive", timeout=6 * 3600)
async def archive(req: ArchiveRequest, rt: Runtime) -> ArchiveResult:
    """Archive bots/instances/<bot_name> (tar.gz + sha256 manifest) locally or to S3; used by svc_fleet's
    stop-and-archive. The folder is removed only after the archive is verified."""
    from . import archives

    state: State = rt.state
    s3 = state.s3_store(req.bucket) if req.destination == "s3" else None
    with state.claim(f"bot:{req.bot_name}", f"archiving bot '{req.bot_name}'"):
        return await _tracked(rt, req.task_id, STAGES, lambda progress: archives.archive_bot(
            state.folder, req.bot_name, destination=req.destination, keep_browsable=req.keep_browsable,
            s3=s3, progress=progress))


@service.command("bots/archive", timeout=6 * 3600)
async def archive_for_fleet(req: FleetArchive, rt: Runtime) -> ArchiveResult:
    """svc_fleet's stop-and-archive step (hummingbot-api's archive_locally / s3_bucket options): `archive`
    with progress on events/tasks/archive-<instance_name>. `path`, when given, must be the instance folder
    svc_archive sees, so the two services never disagree silently about the bots folder."""
    from pathlib import Path

    state: State = rt.state
    expected = state.folder.instance_dir(req.instance_name)
    if req.path is not None and Path(req.path).resolve() != expected:
        raise BadRequest(f"'{req.path}' is not {expected}: svc_archive's bots folder is {state.folder.root}; "
                         "point HBMESH_ARCHIVE_BOTS_DIR (or HBMESH_BOTS_DIR) and svc_fleet at the same folder")
    return await archive(ArchiveRequest(bot_name=req.instance_name,
                                        destination="local" if req.archive_locally else "s3",
                                        bucket=req.s3_bucket, task_id=f"archive-{req.instance_name}"), rt)


@service.command("archives/list", timeout=120)
async def list_archives(req: ArchiveList, rt: Runtime) -> list[ArchiveInfo]:
    """Archives in bots/archived/ (location local) or in an S3 bucket (location s3), oldest first."""
    from .archives import LocalStore

    state: State = rt.state
    store = LocalStore(state.folder) if req.location == "local" else state.s3_store(req.bucket)
    return await asyncio.to_thread(store.list)


@service.command("archives/restore", timeout=6 * 3600)
async def restore(req: RestoreRequest, rt: Runtime) -> RestoreResult:
    """Verify an archive (sha256 of the archive and of every file) and unpack it into bots/archived/<bot>
    (readable by the database commands) or bots/instances/<bot>."""
    from . import archives

    state: State = rt.state
    s3 = state.s3_store(req.bucket) if req.location == "s3" else None
    with state.claim(f"archive:{req.archive_id}", f"restoring archive '{req.archive_id}'"):
        return await _tracked(rt, req.task_id, RESTORE_STAGES, lambda progress: archives.restore(
            state.folder, req.archive_id, source=req.location, target=req.target, s3=s3, progress=progress))


@service.command("archives/download", timeout=6 * 3600)
async def download(req: ArchiveRef, rt: Runtime) -> ArchiveInfo:
    """Copy an S3 archive into bots/archived/ (sha256 checked against its manifest)."""
    from . import archives

    state: State = rt.state
    s3 = state.s3_store(req.bucket)
    with state.claim(f"archive:{req.archive_id}", f"work on archive '{req.archive_id}'"):
        return await asyncio.to_thread(archives.download, state.folder, req.archive_id, s3)


@service.command("archives/delete", timeout=120)
async def delete_archive(req: ArchiveRef, rt: Runtime) -> Deleted:
    """Delete an archive and its manifest (local or S3)."""
    from .archives import LocalStore

    state: State = rt.state
    store = LocalStore(state.folder) if req.location == "local" else state.s3_store(req.bucket)
    with state.claim(f"archive:{req.archive_id}", f"work on archive '{req.archive_id}'"):
        gone = await asyncio.to_thread(store.delete, req.archive_id)
    return Deleted(message=f"archive '{req.archive_id}' deleted", deleted=gone)


# -- bot databases (hummingbot-api /archived-bots/*) -------------------------------------------------

async def _read(rt: Runtime, db_path: str, read: Callable) -> Any:
    from .botdb import BotDb

    state: State = rt.state
    path = state.folder.resolve_db(db_path)

    def run():
        with BotDb(path, state.folder.display(path), state.db_timeout) as db:
            return read(db)

    return await asyncio.to_thread(run)


@service.command("databases/list")
async def list_databases(req: DbList, rt: Runtime) -> list[str]:
    """Bot databases as bots/<archived|instances>/<bot>/data/<file>.sqlite paths."""
    return await asyncio.to_thread(rt.state.folder.list_databases, req.scope)


@service.command("databases/status")
async def db_status(req: DbRef, rt: Runtime) -> DbStatus:
    """Per-table health of a bot database (hummingbot-api's status)."""
    return await _read(rt, req.db_path, lambda db: db.status())


@service.command("databases/summary")
async def db_summary(req: DbRef, rt: Runtime) -> DbSummary:
    """Row counts, trading pairs and exchanges of a bot database."""
    return await _read(rt, req.db_path, lambda db: db.summary())


@service.command("databases/performance", timeout=120)
async def db_performance(req: DbRef, rt: Runtime) -> DbPerformance:
    """Trade-based rolling PnL per pair and its summary."""
    return await _read(rt, req.db_path, lambda db: db.performance())


@service.command("databases/trades")
async def db_trades(req: DbPage, rt: Runtime) -> DbTrades:
    return await _read(rt, req.db_path, lambda db: db.trades(req.limit, req.offset))


@service.command("databases/orders")
async def db_orders(req: DbOrders, rt: Runtime) -> DbOrdersPage:
    return await _read(rt, req.db_path, lambda db: db.orders(req.limit, req.offset, req.status))


@service.command("databases/executors")
async def db_executors(req: DbAll, rt: Runtime) -> DbExecutors:
    return await _read(rt, req.db_path, lambda db: db.executors(req.limit, req.offset))


@service.command("databases/positions")
async def db_positions(req: DbPage, rt: Runtime) -> DbPositions:
    return await _read(rt, req.db_path, lambda db: db.positions(req.limit, req.offset))


@service.command("databases/controllers")
async def db_controllers(req: DbAll, rt: Runtime) -> DbControllers:
    return await _read(rt, req.db_path, lambda db: db.controllers(req.limit, req.offset))


@service.command("databases/delete")
async def db_delete(req: DbRef, rt: Runtime) -> Deleted:
    """hummingbot-api's DELETE /archived-bots/{db_path}: remove the archived bot folder holding the database."""
    from .archives import delete_archived_folder

    state: State = rt.state
    path = state.folder.resolve_db(req.db_path, under="archived")
    bot = state.folder.archived_bot_of(path).name
    with state.claim(f"archived:{bot}", f"work on archived bot '{bot}'"):
        name = await asyncio.to_thread(delete_archived_folder, state.folder, path)
    return Deleted(message=f"Archived bot '{name}' deleted", deleted=[f"bots/archived/{name}"])


# -- checkpoints -----------------------------------------------------------------------------------

@service.command("checkpoints/create", timeout=1800)
async def create_checkpoint(req: CheckpointCreate, rt: Runtime) -> CheckpointInfo:
    """Merge bot databases (default: every archived one) into one checkpoint; corrupt or locked databases
    are skipped and reported with their reason."""
    from . import checkpoints

    state: State = rt.state
    folder = state.folder
    paths = req.db_paths or await asyncio.to_thread(folder.list_databases, "archived")
    sources = []
    for p in dict.fromkeys(paths):
        resolved = folder.resolve_db(p)
        sources.append((resolved, folder.display(resolved)))
    with state.claim(f"checkpoint:{req.name}", f"checkpoint '{req.name}'"):
        return await asyncio.to_thread(checkpoints.create, folder, req.name, sources, overwrite=req.overwrite,
                                       timeout=state.db_timeout)


@service.command("checkpoints/list")
async def list_checkpoints(req: Any, rt: Runtime) -> list[CheckpointInfo]:
    from . import checkpoints

    return await asyncio.to_thread(checkpoints.list_all, rt.state.folder)


@service.command("checkpoints/load", timeout=120)
async def load_checkpoint(req: CheckpointRef, rt: Runtime) -> CheckpointData:
    """A checkpoint's rows, table by table (up to `limit` per table)."""
    from . import checkpoints

    return await asyncio.to_thread(checkpoints.load, rt.state.folder, req.name, req.limit)

