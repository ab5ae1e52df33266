"""Processes the relay benchmark runs: a stand-in backtest service, and the same work as a plain FastAPI route."""

from __future__ import annotations

import sys

from shared.schemas.common import TaskId
from shared.service import Runtime, Service

service = Service("backtest", "benchmark stand-in")
TASK = {"task_id": "", "status": "completed", "progress": 100.0, "created_at": "2026-01-01T00:00:00+00:00"}


@service.command("tasks/get")
async def get(req: TaskId, rt: Runtime) -> dict:
    return {**TASK, "task_id": req.task_id}


def direct_app():
    """The same route with the gateway's auth and CORS, answering in-process: the relay's baseline."""
    from fastapi import Depends, FastAPI
    from fastapi.middleware.cors import CORSMiddleware

    from gateway.auth import require_auth
    from gateway.settings import GatewaySettings

    gw = GatewaySettings()
    app = FastAPI(redirect_slashes=False)
    app.state.gw_settings = gw
    app.add_middleware(CORSMiddleware, allow_origins=gw.cors_allow_origins, allow_origin_regex=gw.cors_allow_origin_regex,
                       allow_credentials=gw.cors_allow_credentials, allow_methods=["*"], allow_headers=["*"])

    @app.get("/backtesting/tasks/{task_id}", dependencies=[Depends(require_auth)])
    async def task(task_id: str) -> dict:
        return {**TASK, "task_id": task_id}

    return app


if __name__ == "__main__":
    if sys.argv[1] == "service":
        from shared.cli import run_until_signal
        from shared.service import run_services

        run_until_signal(run_services([service]))  # as `hbmesh svc` runs a service: on uvloop
    else:
        import uvicorn

        uvicorn.run(direct_app(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
