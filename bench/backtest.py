"""svc_backtest against a direct BacktestingEngineBase run on the same config and candles; sweep scaling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path

from bench.common import Row, broker

DAY = 86_400
START = 1_735_689_600
CONFIG = {"controller_type": "market_making", "controller_name": "pmm_simple", "connector_name": "binance",
          "trading_pair": "BTC-USDT", "total_amount_quote": 1000}


def _candles(days: int):
    from svc_marketdata.store import resample
    from tests.candles import generate_candles

    one = generate_candles(START - 3 * DAY, START + days * DAY)  # covers the indicators' warm-up
    return {"1m": one, "3m": resample(one, "3m")}


@contextlib.asynccontextmanager
async def _mesh(settings, workers: int):
    from shared.service import Runtime
    from svc_backtest.service import service as backtest
    from svc_marketdata.service import service as marketdata
    from tests.mqtt_helpers import client

    os.environ["HBMESH_BACKTEST_WORKERS"] = str(workers)
    runtimes = [Runtime(marketdata, settings), Runtime(backtest, settings)]
    for rt in runtimes:
        await rt.start()
    try:
        async with client(settings) as rpc:
            for interval, df in _candles(3).items():
                path = Path(settings.data_dir) / f"{interval}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                df.to_csv(path, index=False)
                await rpc.request(rpc.topics.command("marketdata", "candles/import"),
                                  {"connector_name": "binance", "trading_pair": "BTC-USDT", "interval": interval,
                                   "path": str(path)}, 60)
            yield rpc
    finally:
        for rt in reversed(runtimes):
            await rt.stop(drain_s=1)


def _direct_seconds(job: dict, candles: dict) -> float:
    from svc_backtest.engine import run_backtest

    feeds = {f"binance_BTC-USDT_{k}": v for k, v in candles.items()}
    run_backtest(job, feeds)  # warm
    t = time.perf_counter()
    run_backtest(job, feeds)
    return time.perf_counter() - t


async def _service_seconds(rpc, job: dict) -> float:
    topic = rpc.topics.command("backtest", "run")
    await rpc.request(topic, job, 600)  # warm: the workers' first run
    t = time.perf_counter()
    reply = await rpc.request(topic, job, 600)
    assert reply.status == 200, reply.msg
    return time.perf_counter() - t


async def _sweep_seconds(rpc, settings, job: dict) -> float:
    """Time an 8-task sweep after a warm-up sweep, so every worker has run a backtest once."""
    await _sweep(rpc, settings, job, {"buy_spreads": [[0.01], [0.02]]})
    return await _sweep(rpc, settings, job, {"buy_spreads": [[0.01], [0.02]], "sell_spreads": [[0.01], [0.02]],
                                              "stop_loss": [0.02, 0.05]})


async def _sweep(rpc, settings, job: dict, grid: dict) -> float:
    from tests.mqtt_helpers import Collector

    async with Collector(settings, f"{settings.prefix}/v1/backtest/events/tasks/+") as events:
        t = time.perf_counter()
        reply = await rpc.request(rpc.topics.command("backtest", "sweep"), {"base": job, "grid": grid}, 30)
        pending = set(reply.result["task_ids"])
        while pending:
            msg = await events.next(600)
            body = events.json(msg)
            if body.get("status") in ("completed", "failed"):
                pending.discard(body.get("task_id"))
        return time.perf_counter() - t


def run() -> list[Row]:
    job = {"config": CONFIG, "start_time": START, "end_time": START + DAY, "backtesting_resolution": "1m",
           "trade_cost": 0.0006}
    direct = _direct_seconds({**job, "start": START, "end": START + DAY}, _candles(1))
    sweeps: dict[int, float] = {}
    service_s = 0.0
    for workers in (1, 2):
        with broker() as settings, tempfile.TemporaryDirectory() as tmp:
            settings = settings.model_copy(update={"data_dir": Path(tmp)})

            async def go() -> None:
                nonlocal service_s
                async with _mesh(settings, workers) as rpc:
                    if workers == 1:
                        service_s = await _service_seconds(rpc, job)
                    sweeps[workers] = await _sweep_seconds(rpc, settings, job)

            asyncio.run(go())
    return [
        Row("backtest pmm_simple 1 day 1m: svc_backtest (MQTT, worker process) vs direct engine call",
            f"{service_s:.2f} s", f"direct {direct:.2f} s", round(service_s / direct, 3), "overhead ratio ~1"),
        Row("sweep of 8 backtests: 1 worker vs 2 workers (speed-up)", f"2 workers {sweeps[2]:.2f} s",
            f"1 worker {sweeps[1]:.2f} s", round(sweeps[1] / sweeps[2], 3), "→ 2.0 on 2 cores"),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
