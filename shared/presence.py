"""Which service instances are online, from their retained presence messages."""

from __future__ import annotations

import asyncio

import msgspec

from .mqtt import Link, Message
from .service import Presence
from .topics import Topics


class PresenceTracker:
    def __init__(self, link: Link, topics: Topics):
        self.link = link
        self.topics = topics
        self.instances: dict[str, dict[str, Presence]] = {}
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        await self.link.subscribe(self.topics.presence_filter(), self._on_presence, qos=1)

    def _on_presence(self, msg: Message) -> None:
        parsed = self.topics.parse_presence(msg.topic)
        if parsed is None:
            return
        service, instance = parsed
        try:
            p = msgspec.json.decode(msg.payload, type=Presence) if msg.payload else None
        except (msgspec.DecodeError, msgspec.ValidationError):
            p = None
        online = self.instances.setdefault(service, {})
        if p is not None and p.status == "online":
            online[instance] = p
        else:
            online.pop(instance, None)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_online(self, service: str, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.online(service))

    def online(self, service: str) -> bool:
        return bool(self.instances.get(service))

    def snapshot(self) -> dict[str, list[str]]:
        return {s: sorted(i) for s, i in sorted(self.instances.items()) if i}
