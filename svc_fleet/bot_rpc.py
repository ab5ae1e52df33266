"""Calling a bot's RPC commands and awaiting replies (correlated by a unique reply topic, as commlib does).

Transport-free: the service hands in `publish(topic, payload, qos)` and routes messages arriving on
`<reply_base>/+` to `on_reply`. A bot's error reply (status >= 400) raises BotError (400 with the bot's
message); no reply raises TimedOut (504).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

from shared.errors import HbError, TimedOut

from . import bot_protocol as bp

Publish = Callable[[str, bytes, int], Awaitable[None]]


class BotError(HbError):
    status = 400


class BotCaller:
    def __init__(self, publish: Publish, reply_base: str, agent: str = "hbmesh-fleet"):
        if "." in reply_base:
            raise ValueError("reply topics must not contain dots: commlib bots rewrite them into levels")
        self.publish = publish
        self.reply_base = reply_base
        self.agent = agent
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future] = {}

    @property
    def reply_filter(self) -> str:
        return f"{self.reply_base}/+"

    def on_reply(self, topic: str, payload: bytes) -> None:
        fut = self._pending.pop(topic, None)
        if fut is None or fut.done():
            return
        try:
            fut.set_result(bp.parse_reply(payload))
        except bp.BadReply as exc:
            fut.set_exception(HbError(str(exc), 502))

    async def call(self, namespace: str, bot: str, topic_id: str, command: str, data: dict,
                   timeout: float) -> dict:
        """Send one command and return the reply's data; raises BotError / TimedOut."""
        reply_to = f"{self.reply_base}/{next(self._ids)}"
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[reply_to] = fut
        topic = bp.command_topic(namespace, topic_id, command)
        try:
            async with asyncio.timeout(timeout):
                await self.publish(topic, bp.request_bytes(data, reply_to, self.agent), 1)
                reply = await fut
        except TimeoutError:
            raise TimedOut(f"bot '{bot}' did not reply to '{bp.COMMANDS.get(command, command)}' within "
                           f"{timeout:g}s") from None
        finally:
            self._pending.pop(reply_to, None)
        if reply["status"] >= 400:
            raise BotError(f"bot '{bot}' answered {reply['status']}: {reply.get('msg') or '(no message)'}")
        return reply
