"""A stand-in "backtest" service on the shared runtime, for gateway tests that need precise replies."""

from __future__ import annotations

import asyncio

from shared.errors import Conflict, NotFound
from shared.schemas.backtest import BacktestRequest, TaskRef
from shared.schemas.common import TaskId
from shared.service import Runtime, Service

service = Service("backtest", "stand-in")
received: list[dict] = []


@service.command("tasks/get")
async def get(req: TaskId, rt: Runtime) -> dict:
    if req.task_id == "missing":
        raise NotFound("task missing not found")
    if req.task_id == "conflict":
        raise Conflict("task already finished")
    if req.task_id == "crash":
        raise RuntimeError("bug")
    if req.task_id == "slow":
        await asyncio.Event().wait()
    return {"task_id": req.task_id, "status": "completed"}


@service.command("tasks/submit")
async def submit(req: BacktestRequest, rt: Runtime) -> TaskRef:
    received.append({"config": req.config, "start_time": req.start_time})
    return TaskRef("t1", "pending")
