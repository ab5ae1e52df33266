"""hbmesh's own MQTT v5 client: packet codec, large messages, flow control, resending unacknowledged publishes."""

from __future__ import annotations

import asyncio
import os

import pytest

from shared import mqtt_wire as wire
from shared.mqtt import Link, MqttError
from shared.settings import Settings
from tests.broker import TestBroker, free_port
from tests.mqtt_helpers import linked


def test_publish_round_trips_through_the_decoder():
    packet = wire.publish("a/b", b"payload", 1, True, 513, response_topic="r/1", correlation_data=b"\x00c")
    (first, start, end), = wire.split_packets(packet)[0]
    msg = wire.read_publish(first, packet, start, end)
    assert (msg.topic, msg.payload, msg.qos, msg.retain, msg.packet_id) == ("a/b", b"payload", 1, True, 513)
    assert (msg.props.response_topic, msg.props.correlation_data) == ("r/1", b"\x00c")


@pytest.mark.parametrize("n", [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, wire.MAX_REMAINING])
def test_varint_boundaries(n):
    encoded = wire.varint(n)
    assert len(encoded) == 1 + (n >= 128) + (n >= 16_384) + (n >= 2_097_152)
    assert wire.read_varint(encoded, 0) == (n, len(encoded))


def test_split_packets_keeps_an_incomplete_tail():
    a, b = wire.publish("t", b"x" * 300), wire.ack(wire.PUBACK, 7)
    data = a + b + b[:3]
    packets, used = wire.split_packets(data)
    assert [p[0] >> 4 for p in packets] == [wire.PUBLISH, wire.PUBACK]
    assert used == len(a) + len(b)
    assert wire.packet_size(data[used:]) == len(b)
    assert wire.packet_size(a[:1]) == 2  # length field not here yet: wait for at least one more byte


def test_unknown_property_is_a_protocol_error():
    with pytest.raises(wire.ProtocolError):
        wire.read_props(b"\x02\x7f\x00", 0)


async def test_large_message_arrives_whole(settings):
    """Several MB arrive in many socket reads; the client joins them into one message."""
    body = os.urandom(3 * 1024 * 1024)
    got: asyncio.Future = asyncio.get_running_loop().create_future()
    async with linked(settings, "rx") as rx, linked(settings, "tx") as tx:
        await rx.subscribe(f"{settings.prefix}/big", lambda m: got.done() or got.set_result(m.payload))
        await tx.publish(f"{settings.prefix}/big", body, qos=1, confirm=True)
        assert await asyncio.wait_for(got, 10) == body


async def test_a_failing_subscriber_does_not_stop_the_others(settings):
    seen: asyncio.Queue = asyncio.Queue()

    def broken(_msg):
        raise RuntimeError("subscriber bug")

    async with linked(settings, "rx") as rx, linked(settings, "tx") as tx:
        await rx.subscribe(f"{settings.prefix}/x/#", broken)
        await rx.subscribe(f"{settings.prefix}/x/+", lambda m: seen.put_nowait(m.topic))
        for i in range(3):
            await tx.publish(f"{settings.prefix}/x/{i}", b"{}")
        assert [await asyncio.wait_for(seen.get(), 5) for _ in range(3)] == [f"{settings.prefix}/x/{i}" for i in range(3)]
        assert rx.connects == 1  # the exception did not cost the connection


class ScriptedBroker:
    """A TCP peer speaking just enough MQTT to test what mosquitto cannot be made to do: advertise a small
    Receive Maximum, hold PUBACKs back, or drop the client before acknowledging."""

    def __init__(self, receive_maximum: int | None = None, drop_before_ack: bool = False):
        self.receive_maximum = receive_maximum
        self.drop_before_ack = drop_before_ack
        self.received: list[tuple[int, bytes]] = []  # (first byte, body) of every PUBLISH
        self.arrived: asyncio.Queue = asyncio.Queue()
        self.connections = 0
        self.acks_allowed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None

    async def _packet(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        first = (await reader.readexactly(1))[0]
        length, shift = 0, 0
        while True:
            b = (await reader.readexactly(1))[0]
            length |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return first, await reader.readexactly(length)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writer = writer
        props = b"\x21" + self.receive_maximum.to_bytes(2, "big") if self.receive_maximum else b""
        try:
            while True:
                first, body = await self._packet(reader)
                kind = first >> 4
                if kind == wire.CONNECT:
                    present = 1 if self.connections > 1 else 0
                    writer.write(bytes((wire.CONNACK << 4, 3 + len(props), present, 0, len(props))) + props)
                elif kind == wire.PUBLISH:
                    self.received.append((first, body))
                    if self.drop_before_ack and self.connections == 1:
                        return  # the finally closes the socket before any PUBACK
                    self.arrived.put_nowait(int.from_bytes(body[2 + body[1]:4 + body[1]], "big"))
                elif kind == wire.DISCONNECT:
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    def ack(self, packet_id: int) -> None:
        self._writer.write(wire.ack(wire.PUBACK, packet_id))


async def _scripted_link(peer: ScriptedBroker):
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    s = Settings(broker_url=f"mqtt://127.0.0.1:{port}", prefix="sb", reconnect_max_backoff_s=0.1, _env_file=None)
    return server, linked(s, "tx")


async def test_publishes_respect_the_brokers_receive_maximum():
    """The broker accepts 2 unacknowledged QoS-1 publishes: the third waits for a PUBACK before it is sent."""
    peer = ScriptedBroker(receive_maximum=2)
    server, link = await _scripted_link(peer)
    async with server, link as tx:
        sends = [asyncio.create_task(tx.publish("sb/t", str(i).encode())) for i in range(5)]
        first_two = [await asyncio.wait_for(peer.arrived.get(), 5) for _ in range(2)]
        await asyncio.wait(sends, timeout=0)  # let every send run up to where it waits
        assert len(tx._unacked) == 2 and sum(not t.done() for t in sends) == 3
        for pid in first_two:
            peer.ack(pid)
        for _ in range(3):
            peer.ack(await asyncio.wait_for(peer.arrived.get(), 5))
        await asyncio.wait_for(asyncio.gather(*sends), 5)
        assert [body[-1:] for _, body in peer.received] == [str(i).encode() for i in range(5)]


async def test_unacknowledged_publish_is_resent_after_reconnect():
    peer = ScriptedBroker(drop_before_ack=True)
    server, link = await _scripted_link(peer)
    async with server, link as tx:
        await tx.publish("sb/t", b"hello", qos=1)  # returns once sent; the broker drops us before its PUBACK
        peer.ack(await asyncio.wait_for(peer.arrived.get(), 10))
        (first1, body1), (first2, body2) = peer.received
        assert body1 == body2  # same topic, packet id, payload
        assert not first1 & 0x08 and first2 & 0x08  # the resend is marked DUP
        assert tx.connects == 2


async def test_refused_connection_says_why():
    peer_port = free_port()

    async def refuse(reader, writer):
        await reader.read(100)
        writer.write(bytes((wire.CONNACK << 4, 3, 0, 0x86, 0)))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", peer_port)
    async with server:
        link = Link(Settings(broker_url=f"mqtt://127.0.0.1:{peer_port}", _env_file=None), "refused")
        with pytest.raises(MqttError, match="bad user name or password"):
            await link._open(clean_start=True)
