"""svc_fleet's bot protocol codec and bot registry, checked against Hummingbot's own serializer."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest

from svc_fleet import bot_protocol as bp
from svc_fleet.bots import Registry, controller_performance


@pytest.fixture(scope="module")
def hb_serialize():
    from hummingbot.remote_iface.mqtt import mqtt_serialize

    return mqtt_serialize


@pytest.mark.parametrize("payload", [
    {"ts": 1718000000750000},
    {"seq": 0, "timestamp": -1, "msg": "hello"},
    {"timestamp": 1718000000.123456, "msg": "Bot/started é", "level_no": 20, "level_name": "INFO"},
    {"params": [("bid_spread", 0.1), ("order_levels", -5)], "flag": True, "none": None},
    {"price": Decimal("100.25"), "nan": float("nan"), "inf": float("inf"), "tiny": 1e-07, "big": 1e21},
    {"nested": {"a": [1, -2, {"b": Decimal("-0.5")}]}, "path": "a/b/c"},
])
def test_serializer_is_byte_identical_to_hummingbot(payload, hb_serialize):
    assert bp.dumps(payload) == hb_serialize(payload).encode()


def test_serializer_quirks_are_the_bots():
    raw = bp.dumps({"timestamp": -1, "x": float("nan"), "s": "a/b"})
    assert raw == b'{"timestamp":"-1","x":NaN,"s":"a\\/b"}'
    assert bp.loads(raw)["timestamp"] == "-1" and math.isnan(bp.loads(raw)["x"])
    assert bp.as_number("-1") == -1.0 and bp.as_number("NaN") is None and bp.as_number(True) is None


def test_request_envelope_is_commlib_shaped():
    body = json.loads(bp.request_bytes(bp.start_request(script="v2_with_controllers.py"), "rpc-abc"))
    assert list(body) == ["header", "data"]
    assert list(body["header"]) == ["reply_to", "timestamp", "content_type", "encoding", "agent"]
    assert body["header"]["reply_to"] == "rpc-abc" and isinstance(body["header"]["timestamp"], int)
    assert list(body["data"]) == ["log_level", "script", "conf", "is_quickstart", "async_backend"]


def test_parse_reply_handles_nan_strings_and_garbage():
    reply = bp.parse_reply(b'{"header":{"reply_to":""},"data":{"status":"400","msg":"x","v":NaN}}')
    assert reply == {"status": 400, "msg": "x", "v": None}
    with pytest.raises(bp.BadReply):
        bp.parse_reply(b"not json")
    with pytest.raises(bp.BadReply):
        bp.parse_reply(b'{"header":{}}')


@pytest.mark.parametrize("topic,expected", [
    ("hbot/bot1/hb", ("bot1", "hb", "bot1")),
    ("hbot/my.bot/log", ("my.bot", "log", "my.bot")),          # aiomqtt-era bot: literal dot
    ("hbot/my/bot/status_updates", ("my.bot", "status_updates", "my/bot")),  # commlib-era: dots became levels
    ("hbot/bot1/external/event/order/market", ("bot1", "external", "bot1")),
    ("hbot/bot1/start", None),                                  # a command, not a stream
    ("hbot/bot1/balance/limit", None),
    ("other/bot1/hb", None),
    ("hbot//hb", None),
])
def test_parse_topic(topic, expected):
    assert bp.parse_topic("hbot", topic) == expected


def test_namespace_trailing_separator_is_stripped_like_the_bridge():
    assert bp.command_topic("hbot/", "a/b", "balance_limit") == "hbot/a/b/balance/limit"
    assert bp.parse_topic("hbot.", "hbot/x/hb") == ("x", "hb", "x")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_registry_status_rules():
    clock = Clock()
    reg = Registry(stale_after_s=30, clock=clock)
    assert reg.observe("hbot", "hbot/b1/hb", bp.dumps({"ts": 1})) == ("b1", "stopped", "idle")
    perf = {"c1": {"performance": {"realized_pnl_quote": 1.0, "volume_traded": 5, "positions_summary": []},
                   "custom_info": {}}}
    assert reg.observe("hbot", "hbot/b1/performance", bp.dumps(perf)) == ("b1", "idle", "running")
    clock.now += 31
    assert reg.sweep() == [("b1", "running", "stopped")]
    assert reg.observe("hbot", "hbot/b1/hb", bp.dumps({"ts": 2})) == ("b1", "stopped", "idle")
    assert reg.observe("hbot", "hbot/b1/status_updates",
                       bp.dumps({"timestamp": 1, "type": "availability", "msg": "offline"})) == ("b1", "idle", "stopped")
    assert reg.set_stopping("b1", True) == ("b1", "stopped", "stopping")


def test_registry_logs_are_split_deduplicated_and_bounded():
    reg = Registry(clock=Clock())
    for i in range(150):
        reg.observe("hbot", "hbot/b1/log", bp.dumps({"timestamp": 5.0 + i, "msg": f"m{i}", "level_no": 20,
                                                      "level_name": "INFO", "logger_name": "x"}))
    reg.observe("hbot", "hbot/b1/log", bp.dumps({"timestamp": 5.0, "msg": "m0", "level_no": 20}))  # duplicate
    reg.observe("hbot", "hbot/b1/log", bp.dumps({"timestamp": 9.0, "msg": "boom", "level_no": 40,
                                                  "level_name": "ERROR"}))
    view = reg.view("b1")
    assert len(view["general_logs"]) == 100 and view["general_logs"][-1]["msg"] == "m149"
    assert [e["msg"] for e in view["error_logs"]] == ["boom"]


def test_controller_performance_marks_non_numeric_metrics_as_error():
    out = controller_performance({"ok": {"performance": {"realized_pnl_quote": 1.0, "close_type_counts": {}}},
                                  "bad": {"performance": {"realized_pnl_quote": "oops"}},
                                  "stopped": {}})
    assert out["ok"]["status"] == "running" and out["bad"]["status"] == "error" and "realized_pnl_quote" in out[
        "bad"]["error"]
    assert out["stopped"]["status"] == "stopped"
