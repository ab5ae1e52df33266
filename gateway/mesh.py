"""The gateway's one broker connection: request/reply to services, presence, topic fan-out to WebSockets."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Callable

from shared.envelope import RawReplyData
from shared.errors import HbError, Unavailable
from shared.mqtt import Link, Message
from shared.presence import PresenceTracker
from shared.rpc import Requester
from shared.settings import Settings
from shared.topics import Topics

log = logging.getLogger("hbmesh.gateway")


class Subscriber:
    """One WebSocket client's inbox: bounded, never blocks the relay (overflow is counted and skipped)."""

    def __init__(self, size: int):
        self.queue: asyncio.Queue[tuple[str, bytes, float]] = asyncio.Queue(size)
        self.skipped = 0

    def offer(self, msg: Message) -> None:
        try:
            self.queue.put_nowait((msg.topic, msg.payload, time.time()))
        except asyncio.QueueFull:
            self.skipped += 1


class Mesh:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.topics = Topics(settings.prefix, settings.bot_namespace)
        self.link = Link(settings, f"gateway-{settings.instance_id}")
        self.rpc = Requester(self.link, self.topics, agent="hbmesh-gateway", reply_qos=0)
        self.presence = PresenceTracker(self.link, self.topics)
        self._fanout: dict[str, set[Subscriber]] = {}
        self._callbacks: dict[str, Callable[[Message], None]] = {}
        # request ids: a random per-process prefix and a counter (uuid4 costs a getrandom syscall per request)
        self._rid_prefix = uuid.uuid4().hex[:12]
        self._rid_seq = itertools.count(1)

    def request_id(self) -> str:
        return f"{self._rid_prefix}{next(self._rid_seq):08x}"

    async def start(self) -> None:
        await self.rpc.start()
        await self.presence.start()
        await self.link.start()

    async def stop(self) -> None:
        await self.link.stop()

    async def call(self, service: str, command: str, data, timeout: float, request_id: str | None = None) -> RawReplyData:
        """Request a service; 503 at once when no instance is online or the broker is unreachable."""
        if not self.link.connected:
            raise Unavailable("message broker unreachable")
        if not self.presence.online(service):
            raise Unavailable(f"no {service} service instance is online")
        return await self.rpc.request(self.topics.command(service, command), data, timeout,
                                      request_id or self.request_id(), raw=True)

    # -- fan-out to WebSocket clients ---------------------------------------------------------
    async def add_subscriber(self, filter_: str, sub: Subscriber) -> None:
        subs = self._fanout.get(filter_)
        if subs is None:
            subs = self._fanout[filter_] = set()

            def deliver(msg: Message, subs=subs) -> None:
                for s in tuple(subs):
                    s.offer(msg)

            self._callbacks[filter_] = deliver
            await self.link.subscribe(filter_, deliver, qos=0)
        subs.add(sub)

    async def remove_subscriber(self, filter_: str, sub: Subscriber) -> None:
        subs = self._fanout.get(filter_)
        if not subs:
            return
        subs.discard(sub)
        if not subs:
            del self._fanout[filter_]
            await self.link.unsubscribe(filter_, self._callbacks.pop(filter_))


def raise_for_status(reply: RawReplyData) -> None:
    if reply.status >= 300:
        raise HbError(reply.msg, reply.status)
