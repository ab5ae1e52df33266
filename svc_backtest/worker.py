"""What runs inside a backtest worker process. Imports are paid once, when the worker starts."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import msgspec

_queue = None
_cancel_dir: Path | None = None


def init(queue, cancel_dir: str, user_controllers: str) -> None:
    global _queue, _cancel_dir
    _queue, _cancel_dir = queue, Path(cancel_dir)
    queue.cancel_join_thread()  # progress is disposable: never let unflushed progress block this process's exit
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from . import engine  # warm: hummingbot and the controllers load now, not on the first task

    engine.add_controller_dir(user_controllers)


def _exit_with_parent(parent: int) -> None:
    """A service instance killed with -9 cannot stop its workers: they notice and leave by themselves."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def plan(job: dict) -> list[dict]:
    """Candle feeds the job will read (validates the config: unknown controller / bad fields raise here)."""
    from .engine import required_candles

    return required_candles(job)


def controllers() -> dict:
    from .engine import controller_config_schema, list_controllers

    out = {}
    for ctype, names in list_controllers().items():
        out[ctype] = {name: controller_config_schema(ctype, name) for name in names}
    return out


def performance(executors: list[dict], total_amount_quote: float) -> dict:
    from .engine import summarize_executors

    return summarize_executors(executors, total_amount_quote)


def execute(task_id: str, job: dict, rules: dict | None, candles_root: str, results_dir: str,
            reply_limit: int) -> dict:
    """Run one backtest; store the full executors and pnl series as Parquet; return the reply body."""
    from svc_marketdata.store import CandleKey, CandleStore

    from .engine import run_backtest
    from .results import write_result

    store = CandleStore(candles_root)

    def load(connector, trading_pair, interval, start, end):
        return store.read(CandleKey(connector, trading_pair, interval), start, end)

    last = [0.0]

    def progress(pct: float, executors: int) -> None:
        now = time.monotonic()
        if pct >= 100 or now - last[0] > 0.2:  # bounded event rate, whatever the candle count
            last[0] = now
            _queue.put((task_id, round(pct, 2), {"executors": executors}))

    def cancelled() -> bool:
        return os.path.exists(_cancel_dir / task_id)

    result = run_backtest(job, load, rules, progress, cancelled)
    write_result(Path(results_dir) / task_id, result)
    return shape_reply(result, task_id, reply_limit)


def shape_reply(result: dict, task_id: str, limit: int) -> dict:
    """The summary always; executors, processed data and pnl only when they fit within `limit` bytes."""
    reply = {"results": result["results"], "executors": result["executors"],
             "processed_data": result["processed_data"], "position_holds": result["position_holds"],
             "pnl_timeseries": result["pnl_timeseries"], "truncated": False, "task_id": task_id,
             "warnings": result.get("warnings", []), "meta": result.get("meta", {})}
    if len(msgspec.json.encode(reply)) > limit:
        reply.update(executors=[], processed_data={}, pnl_timeseries=[], truncated=True)
    return reply
