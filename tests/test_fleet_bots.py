"""svc_fleet against simulated bots on a real mosquitto: discovery, status events, logs, performance, bot RPCs
(history, an error reply, a bot that never answers), dotted ids, NaN payloads, performance snapshots."""

from __future__ import annotations

import json

import pytest

from svc_fleet.service import service as fleet
from tests.fakes.bot import (
    HISTORY_TRADES,
    FakeBot,
    fleet_test_settings,
    performance_report,
)
from tests.mqtt_helpers import Collector, client, running


@pytest.fixture
def fleet_settings(settings, monkeypatch, tmp_path):
    return fleet_test_settings(settings, monkeypatch, tmp_path, stale_after_s=1.0, sweep_interval_s=0.1)


def status_events(settings):
    return Collector(settings, f"{settings.prefix}/v1/fleet/events/bots/+/status")


async def next_status(events: Collector, bot: str, status: str, timeout: float = 5.0) -> dict:
    msg = await events.next(timeout, where=lambda m: json.loads(m.payload)["bot_name"] == bot
                            and json.loads(m.payload)["status"] == status)
    return json.loads(msg.payload)


async def call(rpc, settings, command, data=None, timeout=10.0):
    return await rpc.request(f"{settings.prefix}/v1/fleet/{command}", data or {}, timeout)


async def test_discovery_logs_performance_and_status_events(fleet_settings):
    s = fleet_settings
    async with running(fleet, s), status_events(s) as events, client(s) as rpc:
        async with FakeBot(s, "bot1", heartbeat_interval=0.2) as bot:
            idle = await next_status(events, "bot1", "idle")
            await bot.log("Strategy/started")
            await bot.log("order failed: insufficient balance", level="ERROR")
            await bot.notify("ignored by status, parsed without error")
            await bot.market_event("BuyOrderCreated", {"trading_pair": "BTC-USDT", "amount": 1.5, "price": 100.0})
            await bot.performance({"pmm_1": performance_report(pnl=2.0)})
            running_ev = await next_status(events, "bot1", "running")
            one = await call(rpc, s, "bots/get", {"bot_name": "bot1"})
            every = await call(rpc, s, "bots/status")
            mqtt = await call(rpc, s, "bots/mqtt")
            stored = await call(rpc, s, "performance/snapshot")
            latest = await call(rpc, s, "performance/latest", {"bot_name": "bot1"})
        stopped = await next_status(events, "bot1", "stopped")  # offline status_update on disconnect
    assert idle["previous"] == "stopped" and running_ev["previous"] == "idle" and stopped["previous"] == "running"
    data = one.result["data"]
    assert one.status == 200 and data["status"] == "running" and data["recently_active"] is True
    assert [e["msg"] for e in data["general_logs"]] == ["Strategy/started"]
    assert [e["msg"] for e in data["error_logs"]] == ["order failed: insufficient balance"]
    assert data["performance"]["pmm_1"]["status"] == "running"
    assert data["performance"]["pmm_1"]["performance"]["realized_pnl_quote"] == 2.0
    assert data["market_events"][0]["type"] == "BuyOrderCreated"
    assert set(every.result["data"]) == {"bot1"}
    assert mqtt.result["data"]["discovered_bots"] == ["bot1"] and mqtt.result["data"]["active_bots"] == ["bot1"]
    assert stored.result["stored"] == 1
    assert latest.result["data"][0]["controller_id"] == "pmm_1" and latest.result["data"][0]["global_pnl_quote"] == 2.25


async def test_silent_bot_goes_stopped_when_heartbeats_stop(fleet_settings):
    s = fleet_settings
    async with running(fleet, s), status_events(s) as events:
        async with FakeBot(s, "quiet", heartbeat_interval=0.2) as bot:
            await next_status(events, "quiet", "idle")
            bot.stop_heartbeats()  # still connected, but silent: a hung bot
            ev = await next_status(events, "quiet", "stopped", timeout=5)
    assert ev["previous"] == "idle"


async def test_bot_rpcs_history_error_reply_no_reply_and_validation(fleet_settings):
    s = fleet_settings
    async with running(fleet, s), status_events(s) as events, client(s) as rpc:
        async with FakeBot(s, "bot2", heartbeat_interval=0.2) as bot, FakeBot(s, "mute", silent=True):
            await next_status(events, "bot2", "idle")
            await next_status(events, "mute", "idle")
            history = await call(rpc, s, "bots/history", {"bot_name": "bot2", "days": 1.5, "timeout": 5})
            cmd, req = await bot.commands.get()
            raw = json.loads(await bot.raw_requests.get())
            status_err = await call(rpc, s, "bots/strategy-status", {"bot_name": "bot2", "timeout": 5})
            start = await call(rpc, s, "bots/start", {"bot_name": "bot2", "script": "v2_with_controllers.py"})
            again = await call(rpc, s, "bots/start", {"bot_name": "bot2", "script": "v2_with_controllers.py"})
            cfg = await call(rpc, s, "bots/config", {"bot_name": "bot2", "params": [["bid_spread", -5]]})
            imp = await call(rpc, s, "bots/import", {"bot_name": "bot2", "strategy": "conf_pure_mm_1"})
            paper = await call(rpc, s, "bots/balance-paper", {"bot_name": "bot2", "asset": "USDT", "amount": 1000})
            stop = await call(rpc, s, "bots/stop", {"bot_name": "bot2"})
            silent = await call(rpc, s, "bots/history", {"bot_name": "mute", "timeout": 0.5})
            unknown = await call(rpc, s, "bots/history", {"bot_name": "nobody"})
            bad_name = await call(rpc, s, "bots/history", {"bot_name": "a/b"})
            bad_timeout = await call(rpc, s, "bots/stop", {"bot_name": "bot2", "timeout": 0})
    assert history.status == 200 and history.result["response"]["trades"] == HISTORY_TRADES
    assert cmd == "history" and req["days"] == 1.5
    assert raw["header"]["reply_to"].startswith(f"{s.prefix}/v1/replies/fleet-bots-")
    assert list(raw["data"]) == ["days", "verbose", "precision", "async_backend"]
    assert status_err.status == 400 and "No strategy is currently running!" in status_err.msg
    assert start.status == 200 and start.result["response"] == {"status": 200, "msg": ""}
    assert again.status == 400 and "already running" in again.msg
    assert cfg.status == 200 and cfg.result["response"]["changes"] == [["bid_spread", "-5"]]  # the bot's quirk
    assert imp.status == 400 and "clear_input" in imp.msg
    assert paper.status == 200 and paper.result["response"]["data"] is None
    assert stop.status == 200
    assert silent.status == 504 and "did not reply" in silent.msg
    assert unknown.status == 404
    assert bad_name.status == 422 and bad_timeout.status == 422


async def test_dotted_commlib_bot_and_nan_payloads(fleet_settings):
    s = fleet_settings
    async with running(fleet, s), status_events(s) as events, client(s) as rpc:
        async with FakeBot(s, "my.bot", commlib_dots=True, heartbeat_interval=0.2) as bot:
            await next_status(events, "my.bot", "idle")
            await bot.publish_raw("performance", b'{"c1":{"performance":{"realized_pnl_quote":NaN,'
                                                 b'"volume_traded":1.0},"custom_info":{"x":NaN}}}')
            await next_status(events, "my.bot", "running")
            history = await call(rpc, s, "bots/history", {"bot_name": "my.bot", "timeout": 5})
            view = await call(rpc, s, "bots/get", {"bot_name": "my.bot"})
    assert history.status == 200 and history.result["response"]["trades"]
    perf = view.result["data"]["performance"]["c1"]
    assert perf["status"] == "error" and perf["performance"]["realized_pnl_quote"] is None
    assert perf["custom_info"] == {"x": None}
