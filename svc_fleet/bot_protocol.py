"""The bots' own MQTT protocol, byte-compatible with Hummingbot's bridge (commlib era and aiomqtt era).

Wire facts (see shared/reference/bot-protocol.md):
- payloads are `ujson.dumps(make_primitives(obj))`: compact, `/` escaped as `\\/`, ASCII only, NaN and
  Infinity as bare tokens, negative ints as strings ("-1"), tuples as arrays, unknown objects as str();
- RPC request on `<ns>/<id>/<cmd>`: {"header": {reply_to, timestamp, content_type, encoding, agent}, "data"};
  the reply comes on header.reply_to as {"header": {...}, "data": {"status", "msg", ...}}; no correlation id;
- a bot's instance id may hold dots: commlib bots publish `hbot/my/bot/hb`, aiomqtt bots `hbot/my.bot/hb`.
  Both are the bot `my.bot`; commands go to the form the bot was seen with.

Nothing here touches the network.
"""

from __future__ import annotations

import math
import time
import uuid
from decimal import Decimal
from typing import Any

import ujson

OK, ERROR = 200, 400

# Suffixes a bot publishes, longest first so `external/event/...` is found before shorter ones.
STREAMS = ("status_updates", "performance", "notify", "events", "log", "hb")
COMMANDS = {
    "start": "start", "stop": "stop", "config": "config", "import": "import", "status": "status",
    "history": "history", "balance_limit": "balance/limit", "balance_paper": "balance/paper",
}
COMMAND_SUFFIXES = {"start", "stop", "config", "import", "status", "history", "limit", "paper"}


def make_primitive(val: Any) -> Any:
    """commlib's JSONSerializer.make_primitive_value, exactly (Hummingbot's `_make_primitive`)."""
    if isinstance(val, dict):
        return {k: make_primitive(v) for k, v in val.items()}
    if isinstance(val, (list, tuple)):
        return [make_primitive(v) for v in val]
    if isinstance(val, (Decimal, float)):
        return float(val)
    if isinstance(val, int) and str(val).isdigit():  # bools are ints: True -> "True".isdigit() is False
        return int(val)
    if isinstance(val, bool):
        return bool(val)
    if val is None:
        return None
    return str(val)  # negative ints land here: -1 -> "-1"


def dumps(obj: Any) -> bytes:
    """Serialise like a bot: ujson over make_primitive."""
    return ujson.dumps(make_primitive(obj)).encode()


def loads(payload: bytes | str) -> Any:
    """Parse what a bot sends (bare NaN/Infinity allowed). Raises ValueError on anything else."""
    return ujson.loads(payload)


def clean(obj: Any) -> Any:
    """Make a bot payload safe for hbmesh JSON: non-finite floats become None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    return obj


def as_number(value: Any) -> float | None:
    """A numeric field as the bot sent it: numbers, or strings such as "-1" (negative ints)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def gen_timestamp() -> int:
    """commlib's header timestamp: ms with a +0.5 s offset."""
    return int((time.time() + 0.5) * 1000)


def reply_topic(base: str = "rpc") -> str:
    """A fresh reply topic like commlib's `rpc-<32 hex>` (no dots: commlib bots would rewrite them)."""
    return f"{base}-{uuid.uuid4().hex}"


def request_bytes(data: dict, reply_to: str, agent: str = "hbmesh") -> bytes:
    return dumps({"header": {"reply_to": reply_to, "timestamp": gen_timestamp(), "content_type": "json",
                             "encoding": "utf8", "agent": agent}, "data": data})


def reply_bytes(data: dict) -> bytes:
    """A reply as the aiomqtt bridge writes it (commlib's RPCService envelope)."""
    return dumps({"header": {"reply_to": "", "timestamp": int(time.time() * 1000), "content_type": "json",
                             "encoding": "utf8", "agent": "commlib"}, "data": data})


class BadReply(ValueError):
    pass


def parse_reply(payload: bytes) -> dict:
    """The `data` of a reply envelope; numbers that came as strings stay as sent except `status`."""
    try:
        obj = loads(payload)
    except ValueError as exc:
        raise BadReply(f"bot reply is not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), dict):
        raise BadReply("bot reply has no data object")
    data = clean(obj["data"])
    status = as_number(data.get("status", OK))
    data["status"] = int(status) if status is not None else ERROR
    data.setdefault("msg", "")
    return data


# ---------------------------------------------------------------- topics
def namespace_of(namespace: str) -> str:
    """The bridge strips one trailing '/' or '.' from mqtt_namespace."""
    return namespace[:-1] if namespace and namespace[-1] in "/." else namespace


def parse_topic(namespace: str, topic: str) -> tuple[str, str, str] | None:
    """`<ns>/<id...>/<stream>` -> (bot_id, stream, topic_id) for what bots publish, else None.

    bot_id joins the id's levels with dots (commlib bots turned dots into levels); topic_id is the id
    part as it appears on the wire, used to address that bot's command topics.
    """
    head = namespace_of(namespace) + "/"
    if not topic.startswith(head):
        return None
    rest = topic[len(head):]
    parts = rest.split("/")
    if "external" in parts:  # <id>/external/event/<name...>: inbound to the bot
        i = parts.index("external")
        if i == 0 or parts[i + 1:i + 2] != ["event"]:
            return None
        return ".".join(parts[:i]), "external", "/".join(parts[:i])
    if len(parts) < 2 or parts[-1] not in STREAMS:
        return None
    id_parts = parts[:-1]
    if any(p == "" for p in id_parts):
        return None
    return ".".join(id_parts), parts[-1], "/".join(id_parts)


def command_topic(namespace: str, topic_id: str, command: str) -> str:
    return f"{namespace_of(namespace)}/{topic_id}/{COMMANDS.get(command, command)}"


def stream_topic(namespace: str, bot_id: str, stream: str) -> str:
    return f"{namespace_of(namespace)}/{bot_id}/{stream}"


# ---------------------------------------------------------------- request bodies (bot field order)
def start_request(log_level=None, script=None, conf=None, is_quickstart=False, async_backend=False) -> dict:
    return {"log_level": log_level, "script": script, "conf": conf, "is_quickstart": is_quickstart,
            "async_backend": async_backend}


def stop_request(skip_order_cancellation=False, async_backend=False) -> dict:
    return {"skip_order_cancellation": skip_order_cancellation, "async_backend": async_backend}


def history_request(days=0.0, verbose=False, precision=None, async_backend=False) -> dict:
    return {"days": days, "verbose": verbose, "precision": precision, "async_backend": async_backend}


def status_request(async_backend=False) -> dict:
    return {"async_backend": async_backend}


def config_request(params) -> dict:
    return {"params": [list(p) for p in params]}


def import_request(strategy: str) -> dict:
    return {"strategy": strategy}


def balance_limit_request(exchange: str, asset: str, amount: float) -> dict:
    return {"exchange": exchange, "asset": asset, "amount": amount}


def balance_paper_request(asset: str, amount: float) -> dict:
    return {"asset": asset, "amount": amount}
