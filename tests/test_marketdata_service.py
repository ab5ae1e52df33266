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


async def test_store_on_s3_shared_by_backtests(settings, moto_s3, s3_filesystem, tmp_path):
    """HBMESH_CANDLE_STORE on S3 (a real moto server): svc_marketdata writes it, svc_backtest's workers read it."""
    from svc_backtest.service import service as backtest
    from tests.candles import generate_candles
    from tests.test_backtest_service import DAY, START, pmm_dynamic

    from pyarrow.fs import FileSelector

    from svc_marketdata.store import resample

    _, bucket = s3_filesystem
    uri = (f"s3://{moto_s3['access_key']}:{moto_s3['secret_key']}@{bucket}/candles"
           f"?endpoint_override={moto_s3['host_port']}&scheme=http&region={moto_s3['region']}")
    s3 = settings.model_copy(update={"candle_store": uri})
    one = generate_candles(START - DAY, START + DAY)
    async with running(marketdata, s3), running(backtest, s3), running_gateway(s3) as http:
        await wait_online(http, "marketdata")
        await wait_online(http, "backtest")
        for interval, df in {"1m": one, "3m": resample(one, "3m")}.items():
            path = tmp_path / f"{interval}.csv"
            df.to_csv(path, index=False)
            imported = await http.post("/market-data/candles/import", json={
                "connector_name": "binance", "trading_pair": "BTC-USDT", "interval": interval, "path": str(path)})
            assert imported.status_code == 200, imported.text
        run = await http.post("/backtesting/run", json={"start_time": START, "end_time": START + DAY // 4,
                                                        "config": pmm_dynamic()})
    objects = s3_filesystem[0].get_file_info(FileSelector(bucket, recursive=True))
    assert any(o.path.endswith(".parquet") for o in objects)
    assert not (settings.data_dir / "candles").exists()  # nothing went to local disk
    assert run.status_code == 200, run.text
    assert run.json()["results"]["total_executors"] > 0
