"""A simulated Hummingbot bot speaking the real bot MQTT protocol (shared/reference/bot-protocol.md).

It serialises with Hummingbot's own `mqtt_serialize` and validates requests with Hummingbot's own message
models (both from the installed package), so it is byte-compatible by construction and independent of the
code under test. Like a real bot it connects with MQTT 3.1.1, publishes `hb`, `status_updates`, `log`,
`events` and `performance` at QoS 0, answers RPCs on the request's reply_to at QoS 1, ignores requests
whose data does not validate (no reply at all), and can be told never to answer (`silent`).

    async with FakeBot(settings, "bot1") as bot:
        await bot.heartbeat(); await bot.log("hello"); cmd = await bot.commands.get()

`commlib_dots=True` makes an id like `my.bot` publish on `hbot/my/bot/...`, as commlib-era bots do.
Several bots can share one connection (`FakeBotFarm`), for benchmarks of hundreds of bots.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import aiomqtt
import ujson

from shared.settings import Settings

HISTORY_TRADES = [{"market": "binance_paper_trade", "trade_id": "T1", "price": "100.5", "quantity": "0.1",
                   "symbol": "BTC-USDT", "trade_timestamp": 1718000000123, "trade_type": "BUY", "base_asset": "BTC",
                   "quote_asset": "USDT", "raw_json": {"trade_fee": {"percent": "0.001", "flat_fees": []}}}]


def _hb():
    from hummingbot.remote_iface import messages as m
    from hummingbot.remote_iface.mqtt import mqtt_serialize

    return m, mqtt_serialize


class FakeBot:
    """One bot. `publish_raw` lets tests send odd payloads (bare NaN etc.)."""

    def __init__(self, settings: Settings, bot_id: str, *, namespace: str | None = None, silent: bool = False,
                 commlib_dots: bool = False, client: aiomqtt.Client | None = None,
                 heartbeat_interval: float | None = None):
        self.settings = settings
        self.bot_id = bot_id
        self.namespace = namespace or settings.bot_namespace
        self.topic_id = bot_id.replace(".", "/") if commlib_dots else bot_id
        self.prefix = f"{self.namespace}/{self.topic_id}"
        self.silent = silent
        self.strategy_running = False
        self.commands: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self.raw_requests: asyncio.Queue[bytes] = asyncio.Queue()
        self._client = client
        self._own_client = client is None
        self._reader: asyncio.Task | None = None
        self.heartbeat_interval = heartbeat_interval  # a real bot: 10 s; None: only the first one
        self._beater: asyncio.Task | None = None
        self.m, self.serialize = _hb()
        self.handlers = {
            "start": (self.m.StartCommandMessage, self._start), "stop": (self.m.StopCommandMessage, self._stop),
            "config": (self.m.ConfigCommandMessage, self._config), "import": (self.m.ImportCommandMessage, self._import),
            "status": (self.m.StatusCommandMessage, self._status),
            "history": (self.m.HistoryCommandMessage, self._history),
            "balance/limit": (self.m.BalanceLimitCommandMessage, self._balance),
            "balance/paper": (self.m.BalancePaperCommandMessage, self._balance),
        }

    # ------------------------------------------------------------ connection
    async def __aenter__(self) -> "FakeBot":
        if self._own_client:
            self._client = aiomqtt.Client(self.settings.broker_host, self.settings.broker_port,
                                          identifier=f"hbot.{self.bot_id}-{uuid.uuid4().hex[:4]}", keepalive=60)
            await self._client.__aenter__()
            self._reader = asyncio.create_task(self._read())
        await self.subscribe()
        await self.status_update("online")
        await self.heartbeat()
        if self.heartbeat_interval:
            self._beater = asyncio.create_task(self._beat())
        return self

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)  # the bot's own cadence, not test synchronisation
            await self.heartbeat()

    def stop_heartbeats(self) -> None:
        if self._beater:
            self._beater.cancel()

    async def __aexit__(self, *exc) -> None:
        self.stop_heartbeats()
        with contextlib.suppress(aiomqtt.MqttError):
            await self.status_update("offline")
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._own_client:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)

    async def subscribe(self) -> None:
        for cmd in self.handlers:
            await self._client.subscribe(f"{self.prefix}/{cmd}", qos=1)

    async def _read(self) -> None:
        async for message in self._client.messages:
            await self.dispatch(str(message.topic), bytes(message.payload))

    async def dispatch(self, topic: str, payload: bytes) -> None:
        if not topic.startswith(self.prefix + "/"):
            return
        cmd = topic[len(self.prefix) + 1:]
        if cmd not in self.handlers:
            return
        self.raw_requests.put_nowait(payload)
        try:
            body = ujson.loads(payload)
        except ValueError:
            return  # the aiomqtt bridge drops non-JSON silently
        header, data = body.get("header", {}), body.get("data", {})
        msg_type, handler = self.handlers[cmd]
        try:
            request = msg_type.Request(**(data or {}))
        except Exception:  # noqa: BLE001 - a real bot logs and never replies
            self.commands.put_nowait((cmd, {"invalid": data}))
            return
        self.commands.put_nowait((cmd, request.model_dump()))
        if self.silent:
            return
        response = handler(request)
        reply_to = header.get("reply_to")
        if reply_to:
            envelope = {"header": {"reply_to": "", "timestamp": int(time.time() * 1000), "content_type": "json",
                                   "encoding": "utf8", "agent": "commlib"}, "data": response.model_dump()}
            await self._client.publish(reply_to, self.serialize(envelope), qos=1)

    # ------------------------------------------------------------ RPC behaviour (a bot with a working strategy)
    def _start(self, req):
        R = self.m.StartCommandMessage.Response
        if self.strategy_running:
            return R(status=400, msg='The bot is already running - please run "stop" first')
        if req.script is None and req.conf is None:
            return R(status=400, msg="Strategy check: Please import or create a strategy.")
        self.strategy_running = True
        return R()

    def _stop(self, req):
        self.strategy_running = False
        return self.m.StopCommandMessage.Response()

    def _config(self, req):
        return self.m.ConfigCommandMessage.Response(changes=req.params, config={"client": {"instance_id": self.bot_id}})

    def _import(self, req):
        return self.m.ImportCommandMessage.Response(status=400, msg="'NoneType' object has no attribute 'clear_input'")

    def _status(self, req):
        R = self.m.StatusCommandMessage.Response
        if not self.strategy_running:
            return R(status=400, msg="No strategy is currently running!")
        return R(msg="Strategy running: 1 controller, 0 active executors")

    def _history(self, req):
        return self.m.HistoryCommandMessage.Response(trades=HISTORY_TRADES if req.days >= 0 else [])

    def _balance(self, req):
        return self.m.BalanceLimitCommandMessage.Response(data=None)

    # ------------------------------------------------------------ streams
    async def publish(self, suffix: str, payload: dict) -> None:
        await self._client.publish(f"{self.prefix}/{suffix}", self.serialize(payload), qos=0)

    async def publish_raw(self, suffix: str, payload: bytes) -> None:
        await self._client.publish(f"{self.prefix}/{suffix}", payload, qos=0)

    async def heartbeat(self) -> None:
        await self.publish("hb", {"ts": int((time.time() + 0.5) * 1000000)})

    async def status_update(self, msg: str) -> None:
        await self.publish("status_updates", self.m.StatusUpdateMessage(
            timestamp=int(time.time() * 1e3), type="availability", msg=msg).model_dump())

    async def log(self, msg: str, level: str = "INFO", logger: str = "hummingbot.strategy") -> None:
        levels = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
        await self.publish("log", self.m.LogMessage(timestamp=time.time(), msg=msg, level_no=levels[level],
                                                    level_name=level, logger_name=logger).model_dump())

    async def notify(self, msg: str) -> None:
        await self.publish("notify", self.m.NotifyMessage(msg=msg).model_dump())  # timestamp -1 -> "-1"

    async def performance(self, controllers: dict[str, dict[str, Any]]) -> None:
        """{controller_id: performance metrics}; an empty dict for a controller means it stopped."""
        await self.publish("performance", {cid: ({"performance": perf, "custom_info": {}} if perf else {})
                                           for cid, perf in controllers.items()})

    async def market_event(self, type_: str, data: dict) -> None:
        await self.publish("events", self.m.InternalEventMessage(timestamp=int(time.time()), type=type_,
                                                                 data=data).model_dump())


def performance_report(pnl: float = 1.5, volume: float = 100.0) -> dict:
    """A PerformanceReport as v2_with_controllers.py sends it (Decimals become floats on the wire)."""
    return {"realized_pnl_quote": pnl, "unrealized_pnl_quote": 0.25, "unrealized_pnl_pct": 0.001,
            "realized_pnl_pct": 0.01, "global_pnl_quote": pnl + 0.25, "global_pnl_pct": 0.011,
            "volume_traded": volume, "positions_summary": [],
            "close_type_counts": {"CloseType.TAKE_PROFIT": 2, "CloseType.STOP_LOSS": 1}}


class FakeBotFarm:
    """Many fake bots over one MQTT connection (a benchmark of hundreds of bots without hundreds of sockets)."""

    def __init__(self, settings: Settings, ids: list[str]):
        self.settings = settings
        self.ids = ids
        self.bots: dict[str, FakeBot] = {}
        self._client: aiomqtt.Client | None = None
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> "FakeBotFarm":
        self._client = aiomqtt.Client(self.settings.broker_host, self.settings.broker_port,
                                      identifier=f"farm-{uuid.uuid4().hex[:6]}", keepalive=60,
                                      max_queued_outgoing_messages=None)
        await self._client.__aenter__()
        for bot_id in self.ids:
            bot = self.bots[bot_id] = FakeBot(self.settings, bot_id, client=self._client)
            await bot.__aenter__()
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        ns = self.settings.bot_namespace
        async for message in self._client.messages:
            topic = str(message.topic)
            bot = self.bots.get(topic[len(ns) + 1:].split("/", 1)[0])
            if bot is not None:
                await bot.dispatch(topic, bytes(message.payload))

    async def __aexit__(self, *exc) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(None, None, None)


def fleet_test_settings(settings: Settings, monkeypatch, tmp_path, stale_after_s: float,
                        sweep_interval_s: float) -> Settings:
    """svc_fleet settings for tests: a bot namespace of its own, fast status sweeps, no Docker polling."""
    monkeypatch.setenv("HBMESH_FLEET_STALE_AFTER_S", str(stale_after_s))
    monkeypatch.setenv("HBMESH_FLEET_SWEEP_INTERVAL_S", str(sweep_interval_s))
    monkeypatch.setenv("HBMESH_FLEET_DOCKER_URL", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("HBMESH_FLEET_PERFORMANCE_SNAPSHOT_INTERVAL_S", "3600")
    return settings.model_copy(update={"bot_namespace": f"hb{uuid.uuid4().hex[:6]}"})
