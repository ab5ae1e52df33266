"""svc_backtest end to end through the gateway: real broker, real svc_marketdata store, real hummingbot."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import websockets

from svc_backtest.service import service as backtest
from svc_marketdata.service import service as marketdata
from svc_marketdata.store import resample
from tests.candles import generate_candles
from tests.gateway_helpers import basic_token, running_gateway, wait_online
from tests.mqtt_helpers import running

DAY = 86_400
START = 1_735_689_600  # 2025-01-01
PAIR = "BTC-USDT"


def pmm_dynamic(**over) -> dict:
    return {"controller_type": "market_making", "controller_name": "pmm_dynamic", "connector_name": "binance",
            "trading_pair": PAIR, "total_amount_quote": 1000, **over}


@contextlib.asynccontextmanager
async def mesh(settings, tmp_path, days: int = 4, with_backtest: bool = True):
    """Both services and the gateway, with synthetic candles imported into the market data store."""
    one_minute = generate_candles(START - DAY, START + days * DAY)
    files = {"1m": one_minute, "3m": resample(one_minute, "3m")}  # controllers read 3m features too
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(running(marketdata, settings))
        if with_backtest:
            await stack.enter_async_context(running(backtest, settings))
        http = await stack.enter_async_context(running_gateway(settings))
        if with_backtest:
            await wait_online(http, "backtest")
        await wait_online(http, "marketdata")
        mesh_ = http.app.state.mesh
        for interval, df in files.items():
            path = tmp_path / f"candles-{interval}.csv"
            df.to_csv(path, index=False)
            reply = await mesh_.rpc.request(mesh_.topics.command("marketdata", "candles/import"),
                                            {"connector_name": "binance", "trading_pair": PAIR, "interval": interval,
                                             "path": str(path)}, 60)
            assert reply.status == 200, reply.msg
        yield http


@pytest.mark.timeout(300)
async def test_run_through_gateway(settings, tmp_path):
    async with mesh(settings, tmp_path) as http:
        r = await http.post("/backtesting/run", json={"start_time": START, "end_time": START + DAY,
                                                      "backtesting_resolution": "1m", "trade_cost": 0.0006,
                                                      "config": pmm_dynamic()}, timeout=240)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["results"]["total_executors"] > 10
        assert body["executors"] and "processed_data" in body
        page = await http.get(f"/backtesting/tasks/{body['task_id']}/executors", params={"limit": 5})
        task = await http.get(f"/backtesting/tasks/{body['task_id']}")
        bad = await http.post("/backtesting/run", json={"start_time": START, "end_time": START + DAY,
                                                        "config": {**pmm_dynamic(), "controller_name": "nope"}})
        bad_field = await http.post("/backtesting/run", json={"start_time": START, "end_time": START + DAY,
                                                              "config": pmm_dynamic(total_amount_quote="lots")})
        empty = await http.post("/backtesting/run", json={"start_time": START + 30 * DAY, "end_time": START + 31 * DAY,
                                                          "config": pmm_dynamic()})
    assert page.status_code == 200 and page.json()["total"] == body["results"]["total_executors"]
    assert len(page.json()["items"]) == 5 and page.json()["next_offset"] == 5
    assert task.json()["status"] == "completed" and task.json()["result"]["results"] == body["results"]
    assert bad.status_code == 404 and "nope" in bad.json()["detail"]
    assert bad_field.status_code == 422 and "total_amount_quote" in bad_field.json()["detail"]
    assert empty.status_code == 404 and "not available" in empty.json()["detail"]
    json.loads(r.text, parse_constant=lambda token: pytest.fail(f"non-finite JSON token {token}"))


@pytest.mark.timeout(300)
async def test_task_progress_over_websocket_and_cancel(settings, tmp_path):
    async with mesh(settings, tmp_path, days=8) as http:
        submitted = await http.post("/backtesting/tasks", json={"start_time": START, "end_time": START + 7 * DAY,
                                                                "config": pmm_dynamic()})
        task_id = submitted.json()["task_id"]
        url = str(http.base_url).replace("http", "ws") + f"/ws/tasks/{task_id}?token={basic_token()}"
        async with websockets.connect(url) as ws:
            async with asyncio.timeout(120):
                while True:
                    event = json.loads(await ws.recv())["payload"]
                    if event["status"] == "running" and event["progress"] > 0:
                        break
            cancelled = await http.delete(f"/backtesting/tasks/{task_id}")
            async with asyncio.timeout(5):  # the worker stops within a second
                while (event := json.loads(await ws.recv())["payload"])["status"] == "running":
                    pass
        task = await http.get(f"/backtesting/tasks/{task_id}")
        listed = await http.get("/backtesting/tasks")
    assert cancelled.status_code == 200
    assert event["status"] == "cancelled" and task.json()["status"] == "cancelled"
    assert task_id in [t["task_id"] for t in listed.json()]


@pytest.mark.timeout(300)
async def test_sweep_and_performance(settings, tmp_path):
    async with mesh(settings, tmp_path) as http:
        ref = await http.post("/backtesting/sweeps", json={
            "base": {"start_time": START, "end_time": START + DAY // 2, "config": pmm_dynamic()},
            "grid": {"stop_loss": [0.01, 0.03], "take_profit": [0.005, 0.02]}, "metric": "net_pnl_quote"})
        assert ref.status_code == 200, ref.text
        sweep_id = ref.json()["sweep_id"]
        url = str(http.base_url).replace("http", "ws") + "/ws/topics?token=" + basic_token()
        async with websockets.connect(url) as ws:
            await ws.recv()
            await ws.send(json.dumps({"action": "subscribe", "filter": f"{settings.prefix}/v1/backtest/events/tasks/+"}))
            await ws.recv()
            pending = set(ref.json()["task_ids"])
            # Tasks may finish before we subscribed: ask once, then follow events for the rest.
            for t in (await http.get("/backtesting/tasks", params={"limit": 100})).json():
                if t["status"] in ("completed", "failed"):
                    pending.discard(t["task_id"])
            async with asyncio.timeout(240):
                while pending:
                    ev = json.loads(await ws.recv())["payload"]
                    if ev.get("status") in ("completed", "failed"):
                        pending.discard(ev["task_id"])
        result = (await http.get(f"/backtesting/sweeps/{sweep_id}")).json()
        task = (await http.get(f"/backtesting/tasks/{ref.json()['task_ids'][0]}")).json()
        perf = await http.post("/get-performance-results", json={"executors": task["result"]["executors"][:20]})
    assert result["done"] == 4 and len(result["ranking"]) == 4
    metrics = [row["metric"] for row in result["ranking"]]
    assert metrics == sorted(metrics, reverse=True)
    assert perf.status_code == 200 and perf.json()["results"]["total_executors"] == 20
