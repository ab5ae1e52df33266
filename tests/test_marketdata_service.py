"""svc_marketdata through the gateway: a real hummingbot feed against the fake exchange on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import websockets

from svc_marketdata.service import service as marketdata
from tests.gateway_helpers import basic_token, running_gateway, wait_online
from tests.mqtt_helpers import running

START = 1_735_689_600


async def test_download_status_and_hummingbot_api_routes(settings, fake_binance):
    rng = {"connector_name": "binance", "trading_pair": "BTC-USDT", "interval": "1m",
           "start_time": START, "end_time": START + 3000 * 60 - 60}
    async with running(marketdata, settings), running_gateway(settings) as http:
        await wait_online(http, "marketdata")
        url = str(http.base_url).replace("http", "ws") + "/ws/topics?token=" + basic_token()
        async with websockets.connect(url) as ws:
            await ws.recv()
            await ws.send(json.dumps({"action": "subscribe", "filter": f"{settings.prefix}/v1/marketdata/events/tasks/+"}))
            await ws.recv()
            started = await http.post("/market-data/candles/download", json=rng)
            task_id = started.json()["task_id"]
            async with asyncio.timeout(60):
                while (ev := json.loads(await ws.recv())["payload"])["status"] == "running":
                    pass
        status = await http.post("/market-data/candles/status", json=rng)
        hist = await http.post("/market-data/historical-candles", json={**rng, "end_time": START + 59 * 60})
        connectors = await http.get("/market-data/available-candle-connectors")
        bad_pair = await http.post("/market-data/candles/status", json={**rng, "trading_pair": "BTCUSDT"})
        unsupported = await http.post("/market-data/historical-candles", json={**rng, "connector_name": "nope"})
        requests_before = fake_binance.count()
        again = await http.post("/market-data/historical-candles", json=rng)
    assert ev["task_id"] == task_id and ev["status"] == "completed", ev
    assert status.status_code == 200 and status.json()["rows"] == 3000 and status.json()["gaps"] == []
    assert len(hist.json()) == 60 and hist.json()[0]["timestamp"] == START
    assert "binance" in connectors.json()
    assert bad_pair.status_code == 422
    assert unsupported.status_code == 404
    assert again.status_code == 200 and len(again.json()) == 3000
    assert fake_binance.count() == requests_before  # stored already: nothing fetched again


async def test_live_feed_publishes_and_stops_when_idle(settings, fake_binance, monkeypatch):
    import svc_marketdata.service as md
    from tests.mqtt_helpers import Collector

    monkeypatch.setattr(md, "POLL_S", 0.2)
    topic = f"{settings.prefix}/v1/marketdata/events/candles/binance/BTC-USDT/1m"
    async with running(marketdata, settings), running_gateway(settings) as http:
        await wait_online(http, "marketdata")
        async with Collector(settings, topic, f"{topic}/stopped") as events:
            sub = await http.post("/market-data/candles/subscribe", json={
                "connector_name": "binance", "trading_pair": "BTC-USDT", "interval": "1m", "idle_timeout_s": 5})
            candle = await events.next(15, lambda m: m.topic == topic)
            active = await http.get("/market-data/active-feeds")
            again = await http.post("/market-data/candles/subscribe", json={
                "connector_name": "binance", "trading_pair": "BTC-USDT", "interval": "1m", "idle_timeout_s": 5})
            stopped = await events.next(30, lambda m: m.topic == f"{topic}/stopped")  # nobody renewed it
            after = await http.get("/market-data/active-feeds")
            bad = await http.post("/market-data/candles/subscribe", json={
                "connector_name": "nope", "trading_pair": "BTC-USDT", "interval": "1m"})
    assert sub.status_code == 200 and sub.json()["started"] is True and sub.json()["topic"] == topic
    body = json.loads(candle.payload)
    assert body["trading_pair"] == "BTC-USDT" and body["candle"]["close"] > 0
    assert [f["trading_pair"] for f in active.json()] == ["BTC-USDT"]
    assert again.json()["started"] is False
    assert json.loads(stopped.payload)["published"] >= 1
    assert after.json() == []
    assert bad.status_code == 404 and "nope" in bad.json()["detail"]
