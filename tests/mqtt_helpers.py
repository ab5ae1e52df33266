"""Test helpers around a real broker: a raw client that collects messages into a queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

from shared.mqtt import Link, Message
from shared.rpc import Requester
from shared.settings import Settings
from shared.topics import Topics


class Collector:
    """Subscribes to filters and hands messages over through a queue (no sleeps needed)."""

    def __init__(self, settings: Settings, *filters: str):
        self.link = Link(settings, f"collector-{uuid.uuid4().hex[:8]}")
        self.filters = filters
        self.queue: asyncio.Queue[Message] = asyncio.Queue()

    async def __aenter__(self) -> "Collector":
        for f in self.filters:
            await self.link.subscribe(f, self.queue.put_nowait, qos=1)
        await self.link.start()
        await self.link.wait_connected(5)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.link.stop()

    async def next(self, timeout: float = 5.0, where=lambda m: True) -> Message:
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.queue.get()
                if where(msg):
                    return msg

    @staticmethod
    def json(msg: Message):
        return json.loads(msg.payload)


@contextlib.asynccontextmanager
async def linked(settings: Settings, name: str):
    """A started, connected Link."""
    link = Link(settings, f"{name}-{uuid.uuid4().hex[:8]}")
    await link.start()
    await link.wait_connected(5)
    try:
        yield link
    finally:
        await link.stop()


@contextlib.asynccontextmanager
async def client(settings: Settings):
    """A Link + Requester for sending commands like any other hbmesh client."""
    async with linked(settings, "client") as link:
        rpc = Requester(link, Topics(settings.prefix), agent="test")
        await rpc.start()  # subscribed (SUBACK received) before the first request
        yield rpc


@contextlib.asynccontextmanager
async def running(service, settings: Settings):
    from shared.service import Runtime

    rt = Runtime(service, settings)
    await rt.start()
    await rt.link.wait_connected(5)
    try:
        yield rt
    finally:
        await rt.stop(drain_s=1)
