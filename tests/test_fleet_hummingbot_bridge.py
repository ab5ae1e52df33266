"""Hummingbot's own MQTT bridge (hummingbot.remote_iface.mqtt.MQTTGateway from the installed package) acting as
the bot, around a stand-in application object: svc_fleet discovers it, reads its logs, gets history over its
RPC, and surfaces what a broken command answers (current releases have no `app.strategy`) as a 400."""

from __future__ import annotations

import json
import logging
import types
import uuid

import pytest

from svc_fleet.service import service as fleet
from tests.mqtt_helpers import Collector, client, running

TRADES = [{"market": "binance", "trade_id": "X1", "price": "1.5", "quantity": "2", "symbol": "ETH-USDT",
           "trade_timestamp": 1718000000000, "trade_type": "SELL", "base_asset": "ETH", "quote_asset": "USDT",
           "raw_json": {}}]


class StandInApp:
    """What MQTTGateway reads from HummingbotApplication. Like v2.7+ apps it has no `strategy` attribute."""

    def __init__(self, loop, settings, instance_id):
        self.ev_loop = loop
        self.instance_id = instance_id
        self.notifiers = []
        self.strategy_name = None
        self.client_config_map = types.SimpleNamespace(mqtt_bridge=types.SimpleNamespace(
            mqtt_host=settings.broker_host, mqtt_port=settings.broker_port, mqtt_username="", mqtt_password="",
            mqtt_ssl=False, mqtt_namespace=settings.bot_namespace + "/", mqtt_notifier=True, mqtt_commands=True,
            mqtt_events=True, mqtt_external_events=True, mqtt_autostart=True))

    def logger(self):
        return logging.getLogger("hummingbot.standin")

    def get_history_trades_json(self, days):
        return TRADES


@pytest.fixture
def fleet_settings(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("HBMESH_FLEET_DOCKER_URL", f"unix://{tmp_path}/no-docker.sock")
    return settings.model_copy(update={"bot_namespace": f"hb{uuid.uuid4().hex[:6]}"})


async def test_hummingbots_own_bridge_as_the_bot(fleet_settings, monkeypatch):
    import asyncio

    from hummingbot.remote_iface.mqtt import MQTTGateway

    s = fleet_settings
    bot_id = f"real{uuid.uuid4().hex[:6]}"
    monkeypatch.setattr(MQTTGateway, "patch_loggers", lambda self: None)  # reads conf/hummingbot_logs.yml
    monkeypatch.setattr(MQTTGateway, "_remove_log_handlers", lambda self: None)
    app = StandInApp(asyncio.get_running_loop(), s, bot_id)
    bot_logger = logging.getLogger(f"hummingbot.strategy.{bot_id}")
    bot_logger.setLevel(logging.INFO)
    async with running(fleet, s), client(s) as rpc, \
            Collector(s, f"{s.prefix}/v1/fleet/events/bots/{bot_id}/status") as events, \
            Collector(s, f"{s.bot_namespace}/{bot_id}/log") as logs:
        gw = MQTTGateway(app)
        gw._heartbeat_interval = 0.2
        gw.start()
        try:
            first = json.loads((await events.next(15)).payload)
            gw.add_log_handler(bot_logger)
            bot_logger.info("hello from the bridge/1")
            bot_logger.error("something broke")
            history = await rpc.request(f"{s.prefix}/v1/fleet/bots/history", {"bot_name": bot_id, "timeout": 10}, 15)
            status = await rpc.request(f"{s.prefix}/v1/fleet/bots/strategy-status", {"bot_name": bot_id,
                                                                                     "timeout": 10}, 15)
            start = await rpc.request(f"{s.prefix}/v1/fleet/bots/start", {"bot_name": bot_id, "timeout": 10}, 15)
            raw_error = await logs.next(10, where=lambda m: b'"level_name":"ERROR"' in m.payload)
            for _ in range(50):  # the broker delivered it; the service's own subscription may lag by a moment
                view = await rpc.request(f"{s.prefix}/v1/fleet/bots/get", {"bot_name": bot_id}, 5)
                if view.result["data"]["error_logs"]:
                    break
        finally:
            gw.remove_log_handler(bot_logger)
            gw.stop()
    assert first["status"] == "idle"
    assert raw_error.payload.startswith(b'{"timestamp":') and b'"logger_name":"hummingbot.strategy.' in raw_error.payload
    assert history.status == 200 and history.result["response"]["trades"] == TRADES
    assert status.status == 400 and "has no attribute 'strategy'" in status.msg  # what current bots say
    assert start.status == 400 and "Strategy check" in start.msg
    data = view.result["data"]
    assert [e["msg"] for e in data["general_logs"]] == ["hello from the bridge/1"]
    assert [e["msg"] for e in data["error_logs"]] == ["something broke"]
