"""Runs claimed tasks on the worker pool: candles ensured through svc_marketdata first, progress
published as events, leases renewed, lost workers re-run or failed, cancellation honoured."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from shared.errors import HbError, NotFound
from shared.schemas.common import TaskProgress
from shared.service import Runtime

from . import worker
from .errors import Cancelled
from .pool import WorkerLost, WorkerPool
from .tasks import MAX_ATTEMPTS, TaskStore

log = logging.getLogger("hbmesh.backtest")
REPLY_LIMIT = 4_000_000  # bytes of executors/processed data a reply may carry; the rest is paged


class Scheduler:
    def __init__(self, rt: Runtime, store: TaskStore, pool: WorkerPool):
        self.rt = rt
        self.store = store
        self.pool = pool
        self.owner = rt.instance_id
        self.data = rt.settings.data_dir
        self.running: dict[str, asyncio.Task] = {}
        self.progress: dict[str, float] = {}
        self.wake = asyncio.Event()
        self._loops: list[asyncio.Task] = []

    async def start(self) -> None:
        self._loops = [asyncio.create_task(self._claim_loop()), asyncio.create_task(self._lease_loop())]

    async def stop(self) -> None:
        for t in self._loops:
            t.cancel()
        for t in list(self.running.values()):
            t.cancel()

    # -- progress from workers ----------------------------------------------------------------
    def on_progress(self, task_id: str, pct: float, detail: dict) -> None:
        self.progress[task_id] = pct
        asyncio.ensure_future(self.rt.emit(f"tasks/{task_id}", TaskProgress(task_id, "running", pct, detail)))

    # -- claiming -----------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        while True:
            while len(self.running) < self.pool.size:
                row = await asyncio.to_thread(self.store.claim, self.owner)
                if row is None:
                    break
                self.launch(row["task_id"], json.loads(row["request"]), row["attempts"])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.store.lease_s / 3):  # also catches leases of dead instances
                    await self.wake.wait()
            self.wake.clear()

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.store.lease_s / 3)  # periodic lease renewal, not synchronisation
            ids = list(self.running)
            await asyncio.to_thread(self.store.renew, ids, self.owner)
            for task_id in ids:
                if task_id in self.progress:
                    await asyncio.to_thread(self.store.progress, task_id, self.progress[task_id])

    def launch(self, task_id: str, request: dict, attempts: int) -> asyncio.Task:
        task = asyncio.create_task(self.execute(task_id, request, attempts))
        self.running[task_id] = task
        task.add_done_callback(lambda _t: (self.running.pop(task_id, None), self.wake.set()))
        return task

    # -- one task -----------------------------------------------------------------------------
    async def execute(self, task_id: str, request: dict, attempts: int = 1) -> dict | None:
        """Run to the end and record the outcome; returns the reply body (None when not completed)."""
        await self.rt.emit(f"tasks/{task_id}", TaskProgress(task_id, "running", 0.0), qos=1)
        status, summary, failure = "failed", None, None
        try:
            summary = await self._run(task_id, request)
            status = "completed"
        except Cancelled as exc:
            status, failure = "cancelled", exc
        except WorkerLost as exc:
            if attempts < MAX_ATTEMPTS:
                await asyncio.to_thread(self._requeue, task_id)
                self.wake.set()
                return None
            failure = HbError(f"{exc}; attempts exhausted", 500)
        except HbError as exc:
            failure = exc
        except Exception as exc:  # noqa: BLE001 - a task failure, reported, never a dead scheduler
            log.exception("backtest failed", extra={"task_id": task_id})
            failure = HbError(f"internal error: {type(exc).__name__}: {exc}", 500)
        finally:
            self.pool.clear(task_id)
            self.progress.pop(task_id, None)
        metric = None
        if summary is not None:
            metric = _metric(summary["results"], request.get("_sweep_metric", "net_pnl_quote"))
        error = failure.msg if failure else None
        await asyncio.to_thread(self.store.finish, task_id, status, summary, error, metric, self.owner)
        await self.rt.emit(f"tasks/{task_id}", TaskProgress(task_id, status, 100.0 if summary else 0.0,
                                                            {"results": summary["results"]} if summary else {},
                                                            error), qos=1)
        if failure:
            raise failure
        return summary

    def _requeue(self, task_id: str) -> None:
        from .tasks import tasks as table

        with self.store.engine.begin() as c:
            c.execute(table.update().where(table.c.task_id == task_id, table.c.status == "running")
                      .values(status="pending", owner=None, lease_until=None))

    async def _run(self, task_id: str, request: dict) -> dict:
        job = {k: v for k, v in request.items() if not k.startswith("_")}
        needs = await self.pool.run(worker.plan, job)
        for need in needs:
            await self._ensure_candles(need, job)
        rules = await self._trading_rules(job["config"])
        return await self.pool.run(worker.execute, task_id, job, rules, self.rt.settings.candle_store_root,
                                   str(self.data / "backtest" / "results"), REPLY_LIMIT)

    async def _ensure_candles(self, need: dict, job: dict) -> None:
        """Ask svc_marketdata for the range unless it is stored; the warm-up part before start_time is
        best effort (an exchange may have no older data)."""
        rng = {"connector_name": need["connector"], "trading_pair": need["trading_pair"],
               "interval": need["interval"], "start_time": need["start"], "end_time": need["end"]}
        stored = await self.rt.call("marketdata", "candles/status", rng, timeout=30)
        if stored["rows"] and not stored["gaps"]:
            return
        try:
            await self.rt.call("marketdata", "candles/ensure", rng, timeout=3600)
        except HbError as exc:
            core = {**rng, "start_time": max(need["start"], int(job["start_time"]))}
            status = await self.rt.call("marketdata", "candles/status", core, timeout=30)
            if status["rows"] == 0 or status["gaps"]:
                raise NotFound(f"candles {need['connector']} {need['trading_pair']} {need['interval']} "
                               f"{core['start_time']}..{need['end']} are not available: {exc.msg}") from None

    async def _trading_rules(self, config: dict) -> dict | None:
        connector, pair = config.get("connector_name"), config.get("trading_pair")
        if not connector or not pair:
            return None
        try:
            rules = await self.rt.call("marketdata", "trading-rules",
                                       {"connector_name": connector, "trading_pairs": [pair]}, timeout=60)
        except HbError as exc:
            log.warning("trading rules unavailable, using permissive defaults", extra={"error": exc.msg})
            return None
        return {connector: {r["trading_pair"]: r for r in rules}}


def _metric(results: dict, name: str) -> float | None:
    value = results.get(name)
    return float(value) if isinstance(value, (int, float)) else None
