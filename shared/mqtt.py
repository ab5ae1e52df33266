"""One long-lived MQTT v5 connection with reconnect, re-subscribe and at-least-once publishing.

Everything that touches the broker goes through `Link`. It speaks MQTT v5 itself (packets in `mqtt_wire`):
shared subscriptions, response topic and correlation data, subscription identifiers. It sets TCP_NODELAY
(Nagle would add ~40 ms per QoS-1 round trip) and keeps a persistent session. A QoS-1 publish is kept until
the broker acknowledges it and is sent again after a reconnect, so callers need not wait for the PUBACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from . import mqtt_wire as wire
from .settings import Settings
from .topics import matches

log = logging.getLogger("hbmesh.mqtt")

Callback = Callable[["Message"], Awaitable[None] | None]

# CONNACK reason codes worth a sentence (MQTT 5.0 §3.2.2.2); 0x01 is also MQTT 3's "unacceptable protocol version".
_REFUSALS = {
    0x01: "the broker does not speak MQTT v5", 0x84: "the broker does not speak MQTT v5",
    0x85: "client id not accepted", 0x86: "bad user name or password", 0x87: "not authorized",
    0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
}


class MqttError(Exception):
    """The broker refused something, or the connection is gone."""


class ConnectionLost(MqttError):
    pass


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


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection to the broker.

    Packets queued in one event-loop pass leave in one write (one syscall, one TCP segment under load).
    Received PUBLISHes are acknowledged and handed to the link in arrival order, and so are PUBACKs.
    """

    def __init__(self, link: Link):
        self._link = link
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.receive_maximum = 65535  # how many of our QoS-1 publishes the broker accepts unacknowledged
        self.connack: asyncio.Future = self.loop.create_future()
        self.closed: asyncio.Future = self.loop.create_future()
        self.writable = asyncio.Event()
        self.writable.set()
        self.waiters: dict[int, asyncio.Future] = {}  # SUBSCRIBE/UNSUBSCRIBE awaiting their ack
        self._partial: list[bytes] = []  # chunks of a packet still arriving
        self._partial_len = 0
        self._need = 0  # bytes the partial packet needs in all (a lower bound while its header is incomplete)
        self._out: list[bytes] = []
        self._closing = False
        self._qos2_seen: set[int] = set()
        self._last_rx = time.monotonic()
        self._ping: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # Nagle costs ~40 ms per round trip
        self._ping = self.loop.call_later(self._link.keepalive_s / 2, self._keepalive)

    def data_received(self, data: bytes) -> None:
        self._last_rx = time.monotonic()
        if self._partial:  # a large packet arrives in many reads: join its chunks once, when it is complete
            self._partial.append(data)
            self._partial_len += len(data)
            if self._partial_len < self._need:
                return
            data = b"".join(self._partial)
            self._partial.clear()
        try:
            packets, used = wire.split_packets(data)
            for first, start, end in packets:
                self._packet(first, data, start, end)
        except (wire.ProtocolError, IndexError, UnicodeDecodeError, ValueError) as exc:
            log.error("broker sent a malformed packet; reconnecting", extra={"error": str(exc)})
            self.close(reason=0x81)
            return
        if used < len(data):
            rest = data[used:]
            self._partial.append(rest)
            self._partial_len = len(rest)
            self._need = wire.packet_size(rest)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._ping:
            self._ping.cancel()
        error = ConnectionLost(f"connection lost: {exc}" if exc else "connection closed")
        for fut in (self.connack, *self.waiters.values()):
            if not fut.done():
                fut.set_exception(error)
        self.waiters.clear()
        self.writable.set()  # wake blocked publishers so they see the loss
        if not self.closed.done():
            self.closed.set_result(error)
        self._link._lost(self)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # -- sending ------------------------------------------------------------------------------
    def send(self, packet: bytes) -> None:
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(packet)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if not self.lost and out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    async def request(self, packet_id: int, packet: bytes) -> bytes:
        """Send a SUBSCRIBE/UNSUBSCRIBE and return the reason codes of its ack."""
        if self.lost:
            raise ConnectionLost("connection closed")
        fut = self.waiters[packet_id] = self.loop.create_future()
        self.send(packet)
        return await fut

    def close(self, reason: int = 0) -> None:
        """Say DISCONNECT (reason 0: the broker drops our will) and close the socket."""
        if self.transport is not None and not self.lost and not self._closing:
            self._closing = True
            self.send(wire.disconnect(reason))
            self._flush()
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- receiving ----------------------------------------------------------------------------
    def _packet(self, first: int, data: bytes, start: int, end: int) -> None:
        kind = first >> 4
        if kind == wire.PUBLISH:
            msg = wire.read_publish(first, data, start, end)
            if msg.qos == 1:
                self.send(wire.ack(wire.PUBACK, msg.packet_id))
            elif msg.qos == 2:  # our subscriptions are QoS <= 1, so only a misbehaving broker sends these
                self.send(wire.ack(wire.PUBREC, msg.packet_id))
                if msg.packet_id in self._qos2_seen:
                    return
                self._qos2_seen.add(msg.packet_id)
            self._link._dispatch(msg)
        elif kind == wire.PUBACK:
            self._link._acked(*wire.read_puback(data, start, end))
        elif kind in (wire.SUBACK, wire.UNSUBACK):
            packet_id, codes, _ = wire.read_suback(data, start, end)
            fut = self.waiters.pop(packet_id, None)
            if fut is not None and not fut.done():
                fut.set_result(codes)
        elif kind == wire.PUBREL:
            packet_id, _ = wire.read_puback(data, start, end)
            self._qos2_seen.discard(packet_id)
            self.send(wire.ack(wire.PUBCOMP, packet_id))
        elif kind == wire.CONNACK:
            present, reason, props = wire.read_connack(data, start, end)
            self.receive_maximum = props.receive_maximum or 65535
            if not self.connack.done():
                self.connack.set_result((present, reason))
        elif kind == wire.DISCONNECT:
            reason, props = wire.read_disconnect(data, start, end)
            log.warning("broker disconnected us", extra={"reason": f"0x{reason:02x}", "detail": props.reason_string})
        elif kind != wire.PINGRESP:
            raise wire.ProtocolError(f"unexpected packet type {kind}")

    def _keepalive(self) -> None:
        if time.monotonic() - self._last_rx > self._link.keepalive_s * 1.5:
            log.warning("broker silent past the keepalive; reconnecting")
            self.abort()
            return
        self.send(wire.PINGREQ_BYTES)
        self._ping = self.loop.call_later(self._link.keepalive_s / 2, self._keepalive)


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
    keepalive_s: int = 30

    def __post_init__(self) -> None:
        self._routes: list[_Route] = []
        self._sub_ids: dict[str, int] = {}  # v5 subscription identifiers: overlapping filters dispatch once each
        self._conn: _Connection | None = None
        self._connected = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        self._runner: asyncio.Task | None = None
        self._next_id = 0
        # QoS-1 publishes the broker has not acknowledged, in send order: sent again after a reconnect.
        self._unacked: dict[int, tuple[str, bytes]] = {}
        self._confirm: dict[int, asyncio.Future] = {}
        self._slot_free = asyncio.Event()
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
        if self.connected:
            await self._subscribe(self._conn, filter_, qos, sub_id)

    async def unsubscribe(self, filter_: str, callback: Callback | None = None) -> None:
        self._routes = [r for r in self._routes if not (r.filter == filter_ and callback in (None, r.callback))]
        if self.connected and not any(r.filter == filter_ for r in self._routes):
            packet_id = self._packet_id()
            try:
                await self._conn.request(packet_id, wire.unsubscribe(packet_id, filter_))
            except ConnectionLost:
                pass  # a new connection only subscribes what is routed

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                      correlation_data: bytes | None = None, response_topic: str | None = None,
                      confirm: bool = False) -> None:
        """Publish; while the broker is away, wait for the reconnect and send then (never dropped).

        QoS 1 returns once the message is sent and kept for resending until the broker acknowledges it;
        confirm=True waits for that acknowledgement and raises MqttError when the broker refuses it."""
        while True:
            if not self._connected.is_set():
                await self._connected.wait()
            conn = self._conn
            if not conn.writable.is_set():
                await conn.writable.wait()
            if conn.lost:
                continue  # its loss cleared _connected: wait for the next connection
            if not qos:
                conn.send(wire.publish(topic, payload, 0, retain, 0, response_topic, correlation_data))
                return
            if len(self._unacked) >= conn.receive_maximum:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            packet_id = self._packet_id()
            packet = wire.publish(topic, payload, 1, retain, packet_id, response_topic, correlation_data)
            self._unacked[packet_id] = (topic, packet)
            conn.send(packet)
            if not confirm:
                return
            fut = self._confirm[packet_id] = asyncio.get_running_loop().create_future()
            reason = await fut
            if reason >= 0x80:
                raise MqttError(f"publish to {topic} refused by the broker (reason 0x{reason:02x})")
            return

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name=f"mqtt-{self.client_id}")

    async def stop(self, final: list[tuple[str, bytes, bool]] | None = None, drain_s: float = 5.0) -> None:
        """Send final messages (e.g. presence offline), wait (bounded) until the broker has acknowledged every
        QoS-1 publish, then disconnect cleanly."""
        if final and self.connected:
            for topic, payload, retain in final:
                with contextlib.suppress(MqttError, asyncio.TimeoutError):
                    await asyncio.wait_for(self.publish(topic, payload, 1, retain), 2)
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio.timeout(drain_s):
                while self._unacked and self.connected:
                    self._slot_free.clear()
                    await self._slot_free.wait()
        self._stopping = True
        if self._conn is not None:
            self._conn.close()
        if self._runner:
            self._runner.cancel()
            try:
                await self._runner
            except asyncio.CancelledError:
                pass
        for task in list(self._tasks):
            task.cancel()

    # -- internals ----------------------------------------------------------------------------
    def _packet_id(self) -> int:
        waiters = self._conn.waiters if self._conn is not None else {}
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._unacked and self._next_id not in waiters:
                return self._next_id
        raise MqttError("65535 packets await acknowledgement")

    def _acked(self, packet_id: int, reason: int) -> None:
        entry = self._unacked.pop(packet_id, None)
        self._slot_free.set()
        fut = self._confirm.pop(packet_id, None)
        if fut is not None and not fut.done():
            fut.set_result(reason)
        elif reason >= 0x80 and entry is not None:
            log.error("publish refused by the broker", extra={"topic": entry[0], "reason": f"0x{reason:02x}"})

    async def _subscribe(self, conn: _Connection, filter_: str, qos: int, sub_id: int) -> None:
        packet_id = self._packet_id()
        try:
            codes = await conn.request(packet_id, wire.subscribe(packet_id, filter_, qos, sub_id))
        except ConnectionLost:
            return  # the next connection subscribes every route again
        if codes and codes[0] >= 0x80:
            log.error("subscription refused by the broker", extra={"filter": filter_, "reason": f"0x{codes[0]:02x}"})

    async def _open(self, clean_start: bool) -> _Connection:
        s = self.settings
        tls = ssl.create_default_context(cafile=s.broker_ca_file) if s.tls_enabled else None
        loop = asyncio.get_running_loop()
        will = (self.will.topic, self.will.payload, self.will.qos, self.will.retain) if self.will else None
        expiry = s.session_expiry_s if self.session_expiry_s is None else self.session_expiry_s
        async with asyncio.timeout(10):
            _, conn = await loop.create_connection(lambda: _Connection(self), s.broker_host, s.broker_port, ssl=tls,
                                                   server_hostname=s.broker_host if tls else None)
            conn.send(wire.connect(self.client_id, clean_start=clean_start, keepalive=self.keepalive_s,
                                   session_expiry=expiry, username=s.broker_username or None,
                                   password=s.broker_password or None, will=will))
            try:
                _, reason = await conn.connack
            except BaseException:
                conn.abort()
                raise
        if reason:
            conn.abort()
            raise MqttError(f"broker refused the connection: {_REFUSALS.get(reason, f'reason 0x{reason:02x}')}")
        return conn

    def _lost(self, conn: _Connection) -> None:
        if conn is self._conn:
            self._connected.clear()
            self._slot_free.set()  # publishers waiting for a slot go back to waiting for a connection

    async def _run(self) -> None:
        backoff = 0.1
        first = True
        while not self._stopping:
            conn = None
            try:
                conn = self._conn = await self._open(clean_start=first)
                for _, packet in self._unacked.values():  # unacknowledged QoS-1 publishes, again, marked DUP
                    conn.send(bytes((packet[0] | 0x08,)) + packet[1:])
                filters: dict[str, _Route] = {}
                for route in self._routes:
                    filters.setdefault(route.filter, route)
                async with asyncio.timeout(10):  # a broker that never sends SUBACK must not hold us here
                    for route in filters.values():
                        await self._subscribe(conn, route.filter, route.qos, route.sub_id)
                if conn.lost:
                    raise ConnectionLost("connection lost while subscribing")
                first = False
                backoff = 0.1
                self.connects += 1
                self._connected.set()
                log.info("mqtt connected", extra={"client_id": self.client_id, "connects": self.connects})
                for hook in self.on_connect:  # a task: a hook that publishes must not block reconnecting
                    self._spawn(hook())
                raise await conn.closed
            except Exception as exc:  # noqa: BLE001 - whatever ends a connection, the link connects again
                self._connected.clear()
                if self._stopping:
                    break
                if isinstance(exc, (OSError, MqttError, TimeoutError)):
                    log.warning("mqtt connection lost", extra={"error": str(exc), "retry_in_s": backoff})
                else:  # a bug, not the network: say so loudly rather than end the link silently
                    log.exception("mqtt link failed; reconnecting", extra={"retry_in_s": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_max_backoff_s)
            finally:
                self._connected.clear()
                if conn is not None and self._stopping:
                    conn.close()
                elif conn is not None:
                    conn.abort()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self, raw: wire.Incoming) -> None:
        props = raw.props
        ids = props.subscription_ids
        msg = Message(raw.topic, raw.payload, raw.qos, raw.retain, props.response_topic, props.correlation_data)
        for route in self._routes:
            if (route.sub_id in ids) if ids else matches(route.filter, msg.topic):
                try:
                    result = route.callback(msg)
                except Exception:  # noqa: BLE001 - one bad subscriber must not break the connection for all
                    log.exception("subscriber failed", extra={"topic": msg.topic, "filter": route.filter})
                    continue
                if asyncio.iscoroutine(result):
                    self._spawn(result)
