"""MQTT v5 packets as bytes: the encoders hbmesh sends and a decoder for what a broker sends back.

Only what a client needs (OASIS MQTT 5.0, sections 2-3). Pure functions, no I/O: `shared.mqtt` owns the socket.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

# Property identifiers (MQTT 5.0 §2.2.2.2) hbmesh reads or writes.
RESPONSE_TOPIC, CORRELATION_DATA, SUBSCRIPTION_ID = 0x08, 0x09, 0x0B
SESSION_EXPIRY, RECEIVE_MAXIMUM, REASON_STRING = 0x11, 0x21, 0x1F

# How every property's value is laid out, so unknown ones can be skipped.
_BYTE, _TWO, _FOUR, _VARINT, _STR, _BIN, _PAIR = range(7)
_PROP_KIND = {
    0x01: _BYTE, 0x02: _FOUR, 0x03: _STR, 0x08: _STR, 0x09: _BIN, 0x0B: _VARINT, 0x11: _FOUR, 0x12: _STR,
    0x13: _TWO, 0x15: _STR, 0x16: _BIN, 0x17: _BYTE, 0x18: _FOUR, 0x19: _BYTE, 0x1A: _STR, 0x1C: _STR,
    0x1F: _STR, 0x21: _TWO, 0x22: _TWO, 0x23: _TWO, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _FOUR,
    0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}

PINGREQ_BYTES = b"\xc0\x00"
MAX_REMAINING = 268_435_455  # the largest remaining length a 4-byte varint holds


class ProtocolError(Exception):
    """The broker sent bytes that are not MQTT v5 as this client understands it."""


def varint(n: int) -> bytes:
    if n < 128:
        return bytes((n,))
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _str(s: str) -> bytes:
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


def _bin(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def _packet(first: int, body: bytes) -> bytes:
    if len(body) > MAX_REMAINING:
        raise ValueError(f"packet of {len(body)} bytes exceeds MQTT's maximum")
    return bytes((first,)) + varint(len(body)) + body


def _props(props: bytes) -> bytes:
    return varint(len(props)) + props


def connect(client_id: str, *, clean_start: bool, keepalive: int, session_expiry: int,
            username: str | None = None, password: str | None = None,
            will: tuple[str, bytes, int, bool] | None = None) -> bytes:
    """`will` is (topic, payload, qos, retain)."""
    flags = 0x02 if clean_start else 0
    payload = _str(client_id)
    if will is not None:
        topic, body, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _props(b"") + _str(topic) + _bin(body)
    if username is not None:
        flags |= 0x80
        payload += _str(username)
    if password is not None:
        flags |= 0x40
        payload += _bin(password.encode())
    props = bytes((SESSION_EXPIRY,)) + session_expiry.to_bytes(4, "big")
    header = b"\x00\x04MQTT\x05" + bytes((flags,)) + keepalive.to_bytes(2, "big") + _props(props)
    return _packet(CONNECT << 4, header + payload)


def publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False, packet_id: int = 0,
            response_topic: str | None = None, correlation_data: bytes | None = None) -> bytes:
    props = b""
    if response_topic is not None:
        props += bytes((RESPONSE_TOPIC,)) + _str(response_topic)
    if correlation_data is not None:
        props += bytes((CORRELATION_DATA,)) + _bin(correlation_data)
    head = _str(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + _props(props)
    return _packet((PUBLISH << 4) | (qos << 1) | retain, head + payload)


def ack(kind: int, packet_id: int) -> bytes:
    """PUBACK, PUBREC or PUBCOMP with success: the packet id alone."""
    return bytes((kind << 4, 2)) + packet_id.to_bytes(2, "big")


def subscribe(packet_id: int, topic_filter: str, qos: int, sub_id: int) -> bytes:
    props = bytes((SUBSCRIPTION_ID,)) + varint(sub_id)
    return _packet((SUBSCRIBE << 4) | 0x02, packet_id.to_bytes(2, "big") + _props(props) + _str(topic_filter)
                   + bytes((qos,)))


def unsubscribe(packet_id: int, topic_filter: str) -> bytes:
    return _packet((UNSUBSCRIBE << 4) | 0x02, packet_id.to_bytes(2, "big") + _props(b"") + _str(topic_filter))


def disconnect(reason: int = 0) -> bytes:
    """reason 0: normal (the broker discards the will); 0x04: disconnect with will message."""
    return bytes((DISCONNECT << 4, 2, reason, 0))


# -- decoding -----------------------------------------------------------------------------------
def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); raises IndexError when data ends inside it."""
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise ProtocolError("variable byte integer longer than 4 bytes")


@dataclass(slots=True)
class Props:
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_ids: list[int] = field(default_factory=list)
    receive_maximum: int = 65535
    reason_string: str | None = None


def read_props(data: bytes, pos: int) -> tuple[Props, int]:
    length, pos = read_varint(data, pos)
    end = pos + length
    props = Props()
    while pos < end:
        pid = data[pos]
        pos += 1
        kind = _PROP_KIND.get(pid)
        if kind is None:
            raise ProtocolError(f"unknown property 0x{pid:02x}")
        if kind == _VARINT:
            value, pos = read_varint(data, pos)
        elif kind == _BYTE:
            value, pos = data[pos], pos + 1
        elif kind == _TWO:
            value, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
        elif kind == _FOUR:
            value, pos = int.from_bytes(data[pos:pos + 4], "big"), pos + 4
        else:
            n = int.from_bytes(data[pos:pos + 2], "big")
            value, pos = data[pos + 2:pos + 2 + n], pos + 2 + n
            if kind == _PAIR:  # user property: a second string follows
                n = int.from_bytes(data[pos:pos + 2], "big")
                pos += 2 + n
        if pid == SUBSCRIPTION_ID:
            props.subscription_ids.append(value)
        elif pid == RESPONSE_TOPIC:
            props.response_topic = value.decode()
        elif pid == CORRELATION_DATA:
            props.correlation_data = bytes(value)
        elif pid == RECEIVE_MAXIMUM:
            props.receive_maximum = value
        elif pid == REASON_STRING:
            props.reason_string = value.decode(errors="replace")
    if pos != end:
        raise ProtocolError("properties overrun their length")
    return props, end


@dataclass(slots=True)
class Incoming:
    """A PUBLISH received from the broker."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    packet_id: int
    props: Props


def read_publish(first: int, data: bytes, pos: int, end: int) -> Incoming:
    qos = (first >> 1) & 0x03
    n = int.from_bytes(data[pos:pos + 2], "big")
    topic = data[pos + 2:pos + 2 + n].decode()
    pos += 2 + n
    packet_id = 0
    if qos:
        packet_id = int.from_bytes(data[pos:pos + 2], "big")
        pos += 2
    props, pos = read_props(data, pos)
    if pos > end:
        raise ProtocolError("PUBLISH header overruns the packet")
    return Incoming(topic, data[pos:end], qos, bool(first & 0x01), packet_id, props)


def read_puback(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """PUBACK/PUBREL: (packet id, reason code); the bare 2-byte form means success."""
    return int.from_bytes(data[pos:pos + 2], "big"), data[pos + 2] if end > pos + 2 else 0


def read_suback(data: bytes, pos: int, end: int) -> tuple[int, bytes, Props]:
    """SUBACK/UNSUBACK: (packet id, one reason code per filter, properties)."""
    packet_id = int.from_bytes(data[pos:pos + 2], "big")
    props, pos = read_props(data, pos + 2)
    return packet_id, data[pos:end], props


def read_connack(data: bytes, pos: int, end: int) -> tuple[bool, int, Props]:
    """(session present, reason code, properties)."""
    props, _ = read_props(data, pos + 2) if end > pos + 2 else (Props(), end)
    return bool(data[pos] & 0x01), data[pos + 1], props


def read_disconnect(data: bytes, pos: int, end: int) -> tuple[int, Props]:
    if end <= pos:
        return 0, Props()
    props, _ = read_props(data, pos + 1) if end > pos + 1 else (Props(), end)
    return data[pos], props


def packet_size(data: bytes) -> int:
    """The whole size of the packet data starts with; len(data) + 1 while its length field is incomplete."""
    try:
        length, start = read_varint(data, 1)
    except IndexError:
        return len(data) + 1
    return start + length


def split_packets(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """The complete packets in data as (first byte, body start, body end), and where the incomplete rest begins."""
    packets = []
    pos, n = 0, len(data)
    while pos + 1 < n:
        try:
            length, start = read_varint(data, pos + 1)
        except IndexError:
            break
        end = start + length
        if end > n:
            break
        packets.append((data[pos], start, end))
        pos = end
    return packets, pos
