"""The commlib-compatible message envelope and JSON codec.

Request: {"header": {"reply_to", "timestamp", "content_type", "encoding", "agent", "request_id"?}, "data": {...}}
Reply:   {"header": {...}, "data": {"status": int, "msg": str, "result": ...}}

JSON never carries NaN/Infinity: floats that are not finite are written as null.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import time
from decimal import Decimal
from typing import Any

import msgspec


class Header(msgspec.Struct):
    reply_to: str = ""
    timestamp: int = 0
    content_type: str = "json"
    encoding: str = "utf8"
    agent: str = "hbmesh"
    request_id: str | None = None


class Request(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    data: msgspec.Raw = msgspec.Raw(b"{}")


class ReplyData(msgspec.Struct):
    status: int
    msg: str = ""
    result: Any = None


class Reply(msgspec.Struct):
    header: Header
    data: ReplyData


class RawReplyData(msgspec.Struct):
    """A reply whose result stays undecoded JSON, for relaying it as it is (the gateway)."""

    status: int
    msg: str = ""
    result: msgspec.Raw = msgspec.Raw(b"null")


class RawReply(msgspec.Struct):
    data: RawReplyData


def now_ms() -> int:
    return int(time.time() * 1000)


def _to_builtin(obj: Any) -> Any:
    """Encoder hook for what msgspec does not know: Decimal, numpy, pandas, enums, pydantic models."""
    if isinstance(obj, Decimal):
        return float(obj) if obj.is_finite() else None
    if isinstance(obj, enum.Enum):
        return obj.name
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="python")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return obj.item()
    if hasattr(obj, "tolist"):  # numpy array
        return obj.tolist()
    if isinstance(obj, (dt.timedelta,)):
        return obj.total_seconds()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_to_builtin, decimal_format="number")


def encode(obj: Any) -> bytes:
    """JSON-encode anything hbmesh sends. Non-finite floats become null (msgspec's behaviour)."""
    return _encoder.encode(obj)


def to_builtins(obj: Any) -> Any:
    """Plain JSON-able Python objects (dict/list/str/int/float/None) with the same rules as encode()."""
    return msgspec.json.decode(encode(obj))


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def request_bytes(data: Any, reply_to: str = "", agent: str = "hbmesh", request_id: str | None = None) -> bytes:
    return encode({"header": Header(reply_to=reply_to, timestamp=now_ms(), agent=agent, request_id=request_id),
                   "data": data})


def reply_bytes(status: int, msg: str = "", result: Any = None, request_id: str | None = None) -> bytes:
    return encode(Reply(header=Header(timestamp=now_ms(), request_id=request_id),
                        data=ReplyData(status=status, msg=msg, result=result)))


_request_decoder = msgspec.json.Decoder(Request)
_reply_decoder = msgspec.json.Decoder(Reply)


def decode_request(payload: bytes) -> Request:
    """Raises msgspec.DecodeError (not JSON) or msgspec.ValidationError (not an envelope)."""
    return _request_decoder.decode(payload)


_raw_reply_decoder = msgspec.json.Decoder(RawReply)


def decode_reply(payload: bytes, raw: bool = False) -> ReplyData | RawReplyData:
    return (_raw_reply_decoder if raw else _reply_decoder).decode(payload).data
