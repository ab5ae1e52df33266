"""Client side of request/reply: publish a command with a unique reply topic and await the reply."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import msgspec

from .envelope import RawReplyData, ReplyData, decode_reply, request_bytes
from .errors import TimedOut, Unavailable
from .mqtt import Link, Message
from .topics import Topics


class Requester:
    """Correlates replies by reply topic: one wildcard subscription per client, one topic per call."""

    def __init__(self, link: Link, topics: Topics, agent: str, reply_qos: int = 1):
        """reply_qos=1 keeps replies that arrive while this client reconnects (its session queues them);
        0 saves a PUBACK per call for clients that answer 504 on a lost connection anyway (the gateway)."""
        self.link = link
        self.reply_qos = reply_qos
        self.topics = topics
        self.agent = agent
        self._base = topics.reply_base(f"{link.client_id}-{uuid.uuid4().hex[:8]}")
        self._pending: dict[str, tuple[asyncio.Future, bool]] = {}
        self._ids = itertools.count(1)

    async def start(self) -> None:
        await self.link.subscribe(f"{self._base}/+", self._on_reply, qos=self.reply_qos)

    def _on_reply(self, msg: Message) -> None:
        fut, raw = self._pending.pop(msg.topic, (None, False))
        if fut is None or fut.done():
            return
        try:
            fut.set_result(decode_reply(msg.payload, raw))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            fut.set_result(ReplyData(status=502, msg=f"malformed reply: {exc}"))

    async def request(self, topic: str, data: Any, timeout: float, request_id: str | None = None,
                      raw: bool = False) -> ReplyData | RawReplyData:
        """Send and wait. Raises Unavailable when the broker link is down, TimedOut on no reply."""
        if not self.link.connected:
            raise Unavailable("message broker unreachable")
        reply_to = f"{self._base}/{next(self._ids)}"
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[reply_to] = (fut, raw)
        try:
            payload = request_bytes(data, reply_to=reply_to, agent=self.agent, request_id=request_id)
            async with asyncio.timeout(timeout):
                await self.link.publish(topic, payload, qos=1)
                return await fut
        except TimeoutError:
            raise TimedOut(f"no reply on {topic} within {timeout:g}s") from None
        finally:
            self._pending.pop(reply_to, None)

    async def send(self, topic: str, data: Any, request_id: str | None = None) -> None:
        """Fire-and-forget: a command without reply_to is executed, nobody is answered."""
        await self.link.publish(topic, request_bytes(data, agent=self.agent, request_id=request_id), qos=1)
