"""svc_backtest's entrypoints: hbmesh/v1/backtest/... commands onto tasks, the scheduler and worker pool.
Heavy imports (hummingbot) happen in the worker processes only."""

from __future__ import annotations

import asyncio
import copy
import itertools
import os
from typing import Any

import msgspec

from shared.errors import Conflict, NotFound
from shared.schemas.backtest import (BacktestRequest, BacktestResult, PerformanceRequest, PerformanceResult,
                                     SweepId, SweepRef, SweepRequest, SweepResult, SweepRow, TaskInfo, TaskPageRequest,
                                     TaskQuery, TaskRef)
from shared.schemas.common import Page, TaskId, TaskProgress
from shared.service import Runtime, Service

service = Service("backtest", "Hummingbot strategy-v2 backtests in warm worker processes")
service.event("tasks/{task_id}", TaskProgress, "Progress (percent of candles, executors so far) and completion")
service.event("tasks/queued", dict, "New tasks are waiting; every instance's scheduler wakes up")


class State:
    def __init__(self, rt: Runtime):
        from .pool import WorkerPool
        from .scheduler import Scheduler
        from .tasks import TaskStore

        self.tasks = TaskStore(rt.settings.sqlalchemy_url("backtest"),
                               lease_s=float(os.environ.get("HBMESH_BACKTEST_LEASE_S", "15")))
        size = int(os.environ.get("HBMESH_BACKTEST_WORKERS", "2"))
        self.pool = WorkerPool(size, rt.settings.data_dir / "backtest" / "cancel", self._progress,
                               rt.settings.bots_dir / "controllers")  # svc_fleet's user controllers
        self.scheduler = Scheduler(rt, self.tasks, self.pool)
        self.results_dir = rt.settings.data_dir / "backtest" / "results"

    def _progress(self, task_id: str, pct: float, detail: dict) -> None:
        self.scheduler.on_progress(task_id, pct, detail)


@service.lifespan
async def lifespan(rt: Runtime):
    state = State(rt)
    await state.pool.start()
    await state.scheduler.start()
    await rt.link.subscribe(rt.topics.event("backtest", "tasks", "queued"),
                            lambda _m: state.scheduler.wake.set(), qos=0)
    try:
        yield state
    finally:
        await state.scheduler.stop()
        await state.pool.close()


async def _request_dict(req: BacktestRequest, rt: Runtime) -> dict:
    """The request as stored; a config given by name is read from svc_fleet's config library."""
    out = msgspec.to_builtins(req)
    if isinstance(req.config, str):
        name = req.config.rsplit("/", 1)[-1].removesuffix(".yml").removesuffix(".yaml")
        stored = await rt.call("fleet", "controllers/configs/get", {"config_name": name}, timeout=30)
        out["config"] = {k: v for k, v in stored.items() if k != "config_name"}  # the library's own key
    return out


@service.command("run", timeout=3600)
async def run(req: BacktestRequest, rt: Runtime) -> BacktestResult:
    """Run a backtest and reply with its result (hummingbot-api POST /backtesting/run)."""
    state: State = rt.state
    request = await _request_dict(req, rt)
    task_id = await asyncio.to_thread(state.tasks.add, request, owner=state.scheduler.owner)
    task = state.scheduler.launch(task_id, request, 1)
    return await asyncio.shield(task)  # a timed-out caller does not kill the task; it stays queryable


@service.command("tasks/submit", timeout=10)
async def submit(req: BacktestRequest, rt: Runtime) -> TaskRef:
    """Queue a backtest; progress on events/tasks/<task_id>."""
    state: State = rt.state
    task_id = await asyncio.to_thread(state.tasks.add, await _request_dict(req, rt))
    await _wake_all(rt)
    return TaskRef(task_id, "pending")


@service.command("tasks/list")
async def list_tasks(req: TaskQuery, rt: Runtime) -> list[TaskInfo]:
    """Tasks, newest first, without results."""
    rows = await asyncio.to_thread(rt.state.tasks.list, req.status, req.sweep_id, req.limit)
    return [msgspec.convert(rt.state.tasks.info(r), TaskInfo) for r in rows]


@service.command("tasks/get")
async def get_task(req: TaskId, rt: Runtime) -> TaskInfo:
    """One task with its result when completed."""
    row = await _row(rt, req.task_id)
    info = rt.state.tasks.info(row, with_result=True)
    info["progress"] = rt.state.scheduler.progress.get(req.task_id, info["progress"])
    return msgspec.convert(info, TaskInfo)


@service.command("tasks/cancel")
async def cancel(req: TaskId, rt: Runtime) -> TaskRef:
    """Cancel a pending or running task (a running one stops within a second)."""
    state: State = rt.state
    before = await asyncio.to_thread(state.tasks.cancel, req.task_id)
    if before is None:
        raise NotFound(f"task {req.task_id} not found")
    if before in ("completed", "failed"):
        raise Conflict(f"task {req.task_id} already {before}")
    state.pool.cancel(req.task_id)
    return TaskRef(req.task_id, "cancelled")


@service.command("tasks/executors")
async def executors(req: TaskPageRequest, rt: Runtime) -> Page:
    """A page of a finished task's executors."""
    return await _page(rt, req, "executors")


@service.command("tasks/pnl")
async def pnl(req: TaskPageRequest, rt: Runtime) -> Page:
    """A page of a finished task's pnl timeseries (one row per candle)."""
    return await _page(rt, req, "pnl")


@service.command("performance", timeout=120)
async def performance(req: PerformanceRequest, rt: Runtime) -> PerformanceResult:
    """Summarize any list of executors (the legacy /get-performance-results)."""
    from . import worker

    out = await rt.state.pool.run(worker.performance, req.executors, req.total_amount_quote)
    return PerformanceResult(results=out["results"], executors=out["executors"])


@service.command("controllers", timeout=60)
async def controllers(req: Any, rt: Runtime) -> dict:
    """Available controllers with their config JSON schemas: {type: {name: schema}}."""
    from . import worker

    return await rt.state.pool.run(worker.controllers)


@service.command("sweep", timeout=30)
async def sweep(req: SweepRequest, rt: Runtime) -> SweepRef:
    """One task per combination of grid values; tasks spread over every instance."""
    state: State = rt.state
    base = await _request_dict(req.base, rt)
    keys = list(req.grid)
    combos = list(itertools.product(*(req.grid[k] for k in keys)))
    if len(combos) > 1000:
        raise Conflict(f"grid has {len(combos)} combinations; at most 1000")
    from .tasks import new_id

    sweep_id = new_id()
    ids = []
    for values in combos:
        params = dict(zip(keys, values))
        request = copy.deepcopy(base)
        request["config"].update(params)
        request["_sweep_metric"] = req.metric
        request["_sweep_descending"] = req.descending
        ids.append(await asyncio.to_thread(state.tasks.add, request, sweep_id, params))
    await _wake_all(rt)
    return SweepRef(sweep_id, ids)


@service.command("sweep/get")
async def sweep_get(req: SweepId, rt: Runtime) -> SweepResult:
    """Sweep tasks ranked by the chosen metric (unfinished last)."""
    import json

    rows = await asyncio.to_thread(rt.state.tasks.list, None, req.sweep_id, 1000)
    if not rows:
        raise NotFound(f"sweep {req.sweep_id} not found")
    first = json.loads(rows[0]["request"])
    metric, desc = first.get("_sweep_metric", "net_pnl_quote"), first.get("_sweep_descending", True)
    ranked = sorted(rows, key=lambda r: (r["metric"] is None, -(r["metric"] or 0) if desc else (r["metric"] or 0)))
    return SweepResult(req.sweep_id, metric, sum(r["status"] == "completed" for r in rows), len(rows),
                       [SweepRow(r["task_id"], r["status"], json.loads(r["params"] or "{}"), r["metric"])
                        for r in ranked])


async def _wake_all(rt: Runtime) -> None:
    rt.state.scheduler.wake.set()
    await rt.emit("tasks/queued", {"by": rt.instance_id})


async def _row(rt: Runtime, task_id: str) -> dict:
    row = await asyncio.to_thread(rt.state.tasks.get, task_id)
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


async def _page(rt: Runtime, req: TaskPageRequest, part: str) -> Page:
    from .results import read_page

    row = await _row(rt, req.task_id)
    page = await asyncio.to_thread(read_page, rt.state.results_dir / req.task_id, part, req.offset, req.limit)
    if page is None:
        raise Conflict(f"task {req.task_id} is {row['status']}: no stored result")
    return msgspec.convert(page, Page)
