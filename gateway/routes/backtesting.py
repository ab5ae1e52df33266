"""hummingbot-api /backtesting/* plus hbmesh's task pages and sweeps, and the legacy /get-performance-results."""

from fastapi import APIRouter

from shared.schemas.backtest import BacktestRequest, PerformanceRequest, SweepRequest, TaskQuery

from ..relay import relay

router = APIRouter(tags=["backtesting"])
B = "backtest"
PAGE = {"offset": (int, 0), "limit": (int, 500)}

relay(router, "POST", "/backtesting/run", B, "run", body=BacktestRequest, timeout=3600)
relay(router, "POST", "/backtesting/tasks", B, "tasks/submit", body=BacktestRequest)
relay(router, "GET", "/backtesting/tasks", B, "tasks/list", params={"status": (str | None, None), "limit": (int, 100)})
relay(router, "GET", "/backtesting/tasks/{task_id}", B, "tasks/get")
relay(router, "DELETE", "/backtesting/tasks/{task_id}", B, "tasks/cancel")
relay(router, "GET", "/backtesting/tasks/{task_id}/executors", B, "tasks/executors", params=PAGE)
relay(router, "GET", "/backtesting/tasks/{task_id}/pnl", B, "tasks/pnl", params=PAGE)
relay(router, "POST", "/backtesting/sweeps", B, "sweep", body=SweepRequest)
relay(router, "GET", "/backtesting/sweeps/{sweep_id}", B, "sweep/get")
relay(router, "GET", "/backtesting/controllers", B, "controllers")
relay(router, "POST", "/get-performance-results", B, "performance", body=PerformanceRequest, timeout=120)
_ = TaskQuery  # tasks/list's query parameters mirror TaskQuery
