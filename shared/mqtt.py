"""One long-lived MQTT connection with reconnect, re-subscribe and publish-after-reconnect.

Everything that touches the broker goes through `Link`. It speaks MQTT v5 (shared subscriptions,
response-topic/correlation-data), sets TCP_NODELAY (Nagle would add ~40 ms per QoS-1 round trip),
and keeps a persistent session so QoS-1 messages sent while we reconnect are not lost.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .settings import Settings
from .topics import matches

log = logging.getLogger("hbmesh.mqtt")
# aiomqtt warns on every publish while more than 10 await their PUBACK: normal under load, and logging
# each one costs more than the publish itself.
_aiomqtt_log = logging.getLogger("hbmesh.mqtt.client")
_aiomqtt_log.setLevel(logging.ERROR)

Callback = Callable[["Message"], Awaitable[None] | None]


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    response_topic: str | None = None
    correlation_data: bytes | None = None


@dataclass(slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass
class _Route:
    filter: str
    qos: int
    callback: Callback
    sub_id: int


@dataclass
class Link:
    settings: Settings
    client_id: str
    will: Will | None = None
    on_connect: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    session_expiry_s: int | None = None  # None: settings.session_expiry_s

    def __post_init__(self) -> None:
        self._routes: list[_Route] = []
        self._sub_ids: dict[str, int] = {}  # v5 subscription identifiers: overlapping filters dispatch once each
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        self._runner: asyncio.Task | None = None
        self.connects = 0

    # -- public API ---------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def subscribe(self, filter_: str, callback: Callback, qos: int = 1) -> None:
        """Route messages matching filter_ to callback; survives reconnects."""
        sub_id = self._sub_ids.setdefault(filter_, len(self._sub_ids) + 1)
        self._routes.append(_Route(filter_, qos, callback, sub_id))
        if self._client is not None and self.connected:
            try:
                await self._subscribe(self._client, filter_, qos, sub_id)
            except aiomqtt.MqttError:
                pass  # the reconnect loop re-subscribes everything

    async def unsubscribe(self, filter_: str, callback: Callback | None = None) -> None:
        self._routes = [r for r in self._routes if not (r.filter == filter_ and callback in (None, r.callback))]
        if self._client is not None and self.connected and not any(r.filter == filter_ for r in self._routes):
            try:
                await self._client.unsubscribe(filter_)
            except aiomqtt.MqttError:
                pass

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                      correlation_data: bytes | None = None, response_topic: str | None = None) -> None:
        """Publish; while the broker is away, wait for the reconnect and send then (never dropped)."""
        props = None
        if correlation_data is not None or response_topic is not None:
            props = Properties(PacketTypes.PUBLISH)
            if correlation_data is not None:
                props.CorrelationData = correlation_data
            if response_topic is not None:
                props.ResponseTopic = response_topic
        while True:
            await self._connected.wait()
            client = self._client
            try:
                await client.publish(topic, payload, qos=qos, retain=retain, properties=props)
                return
            except aiomqtt.MqttCodeError as exc:
                if self.connected and client is self._client and exc.rc not in (4, 7):  # 4/7: no conn / conn lost
                    raise
            except aiomqtt.MqttError:
                pass
            self._connected.clear()
            await asyncio.sleep(0.05)

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name=f"mqtt-{self.client_id}")

    async def stop(self, final: list[tuple[str, bytes, bool]] | None = None) -> None:
        """Send final messages (e.g. presence offline), then disconnect cleanly."""
        if final and self._client is not None and self.connected:
            for topic, payload, retain in final:
                try:
                    await asyncio.wait_for(self._client.publish(topic, payload, qos=1, retain=retain), 2)
                except (aiomqtt.MqttError, asyncio.TimeoutError):
                    pass
        self._stopping = True
        if self._runner:
            self._runner.cancel()
            try:
                await self._runner
            except asyncio.CancelledError:
                pass
        for task in list(self._tasks):
            task.cancel()

    # -- internals ----------------------------------------------------------------------------
    def _make_client(self, first: bool) -> aiomqtt.Client:
        s = self.settings
        tls = None
        if s.tls_enabled:
            ctx = ssl.create_default_context(cafile=s.broker_ca_file)
            tls = aiomqtt.TLSParameters(ca_certs=s.broker_ca_file) if s.broker_ca_file else None
            tls_context = ctx
        else:
            tls_context = None
        will = None
        if self.will:
            will = aiomqtt.Will(self.will.topic, self.will.payload, qos=self.will.qos, retain=self.will.retain)
        connect_props = Properties(PacketTypes.CONNECT)
        connect_props.SessionExpiryInterval = (s.session_expiry_s if self.session_expiry_s is None
                                               else self.session_expiry_s)
        return aiomqtt.Client(
            hostname=s.broker_host, port=s.broker_port, username=s.broker_username or None,
            password=s.broker_password or None, identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5, will=will, clean_start=first, properties=connect_props,
            keepalive=30, tls_context=tls_context, tls_params=tls if tls_context is None else None,
            timeout=10, max_queued_outgoing_messages=None, logger=_aiomqtt_log,
        )

    async def _run(self) -> None:
        backoff = 0.1
        first = True
        while not self._stopping:
            client = self._make_client(first)
            try:
                async with client:
                    sock = client._client.socket()  # aiomqtt exposes no socket option hook
                    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._client = client
                    filters: dict[str, _Route] = {}
                    for route in self._routes:
                        filters.setdefault(route.filter, route)
                    for route in filters.values():
                        await self._subscribe(client, route.filter, route.qos, route.sub_id)
                    first = False
                    backoff = 0.1
                    self.connects += 1
                    self._connected.set()
                    log.info("mqtt connected", extra={"client_id": self.client_id, "connects": self.connects})
                    for hook in self.on_connect:
                        await hook()
                    async for message in client.messages:
                        self._dispatch(message)
            except aiomqtt.MqttError as exc:
                self._connected.clear()
                if self._stopping:
                    break
                log.warning("mqtt connection lost", extra={"error": str(exc), "retry_in_s": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_max_backoff_s)
            finally:
                self._connected.clear()

    @staticmethod
    async def _subscribe(client: aiomqtt.Client, filter_: str, qos: int, sub_id: int) -> None:
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = sub_id
        await client.subscribe(filter_, qos=qos, properties=props)

    def _dispatch(self, raw: aiomqtt.Message) -> None:
        props = raw.properties
        ids = getattr(props, "SubscriptionIdentifier", None) if props else None
        msg = Message(
            topic=raw.topic.value, payload=bytes(raw.payload or b""), qos=raw.qos, retain=raw.retain,
            response_topic=getattr(props, "ResponseTopic", None) if props else None,
            correlation_data=getattr(props, "CorrelationData", None) if props else None,
        )
        for route in self._routes:
            if (route.sub_id in ids) if ids else matches(route.filter, msg.topic):
                result = route.callback(msg)
                if asyncio.iscoroutine(result):
                    task = asyncio.create_task(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
