"""Declaring and running a service: a name, a table of typed command handlers, declared events.

    service = Service("backtest", "Hummingbot backtests")

    @service.command("tasks/get", timeout=5)
    async def get_task(req: TaskRef, rt: Runtime) -> Task: ...

The runtime subscribes `$share/<service>/<prefix>/v1/<service>/#` (N instances split the work),
decodes and validates (400 not JSON, 422 bad fields, 404 unknown command), runs the handler under a
concurrency bound and a per-command timeout, maps domain errors to statuses and always replies
when a reply topic was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from . import __version__
from .envelope import decode_request, encode, reply_bytes
from .errors import HbError
from .heap import freeze_startup_objects
from .logs import bind, current, setup_logging
from .mqtt import Link, Message, Will
from .rpc import Requester
from .settings import Settings, get_settings
from .topics import Topics

log = logging.getLogger("hbmesh.service")


class Empty(msgspec.Struct, forbid_unknown_fields=False):
    """A command without parameters."""


@dataclass
class Command:
    name: str
    handler: Callable[..., Awaitable[Any]]
    request_type: type
    result_type: Any
    timeout: float | None
    summary: str


@dataclass
class EventSpec:
    name: str  # may hold {placeholders}, e.g. "tasks/{task_id}"
    payload_type: Any
    summary: str


class Ping(msgspec.Struct):
    service: str
    instance_id: str
    version: str
    uptime_s: float


class Presence(msgspec.Struct):
    status: str  # online | offline
    service: str
    instance_id: str
    version: str
    ts: int


@dataclass
class Service:
    name: str
    description: str = ""
    version: str = __version__
    commands: dict[str, Command] = field(default_factory=dict)
    events: dict[str, EventSpec] = field(default_factory=dict)
    _lifespan: Callable[[Runtime], contextlib.AbstractAsyncContextManager[Any]] | None = None

    def command(self, name: str, *, timeout: float | None = None, summary: str | None = None):
        """Register `async def handler(req: <Struct>, rt: Runtime) -> <result type>`."""

        def register(fn: Callable[..., Awaitable[Any]]):
            hints = typing.get_type_hints(fn)
            params = list(inspect.signature(fn).parameters)
            req_type = hints.get(params[0], Empty) if params else Empty
            self.commands[name] = Command(name, fn, req_type, hints.get("return", Any), timeout,
                                          summary or (inspect.getdoc(fn) or "").split("\n")[0])
            return fn

        return register

    def event(self, name: str, payload_type: Any, summary: str = "") -> None:
        self.events[name] = EventSpec(name, payload_type, summary)

    def lifespan(self, fn: Callable[[Runtime], AsyncIterator[Any]]):
        """An async generator run around the service's life; what it yields becomes `rt.state`."""
        self._lifespan = contextlib.asynccontextmanager(fn)
        return fn


class Runtime:
    """A running instance of a Service: its broker link, RPC client, event publisher and state."""

    def __init__(self, service: Service, settings: Settings | None = None):
        self.service = service
        self.settings = settings or get_settings()
        self.topics = Topics(self.settings.prefix, self.settings.bot_namespace)
        self.instance_id = self.settings.instance_id
        self.state: Any = None
        self.started = time.monotonic()
        presence = self.topics.presence(service.name, self.instance_id)
        self.link = Link(self.settings, f"{service.name}-{self.instance_id}",
                         will=Will(presence, self._presence("offline")),
                         session_expiry_s=self.settings.service_session_expiry_s)
        self.link.on_connect.append(self._announce)
        self.rpc = Requester(self.link, self.topics, agent=f"hbmesh-{service.name}")
        self._sem = asyncio.Semaphore(self.settings.max_concurrency)
        self._inflight: set[asyncio.Task] = set()
        self._stack = contextlib.AsyncExitStack()
        self._builtin = {"ping": self._ping, "describe": self._describe}

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        bind(service=self.service.name, instance=self.instance_id)
        if self.service._lifespan:
            self.state = await self._stack.enter_async_context(self.service._lifespan(self))
        root = self.topics.commands_filter(self.service.name)
        await self.link.subscribe(self.topics.shared(self.service.name, root), self._on_message, qos=1)
        await self.rpc.start()
        await self.link.start()

    async def stop(self, drain_s: float = 10.0) -> None:
        """Let in-flight commands finish (bounded), say offline, disconnect, close the domain."""
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=drain_s)
        topic = self.topics.presence(self.service.name, self.instance_id)
        await self.link.stop(final=[(topic, self._presence("offline"), True)])
        await self._stack.aclose()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # -- events and calls to other services ---------------------------------------------------
    async def emit(self, event: str, payload: Any, qos: int = 0) -> None:
        """Publish an event on <prefix>/v1/<service>/events/<event>."""
        await self.link.publish(self.topics.event(self.service.name, event), encode(payload), qos=qos)

    async def call(self, service: str, command: str, data: Any, timeout: float = 30.0) -> Any:
        """Request another service; non-2xx replies raise HbError with the same status."""
        reply = await self.rpc.request(self.topics.command(service, command), data, timeout,
                                       request_id=current("request_id"))  # one request followed across services
        if reply.status >= 300:
            raise HbError(f"{service}/{command}: {reply.msg}", status=reply.status)
        return reply.result

    # -- incoming commands --------------------------------------------------------------------
    def _presence(self, status: str) -> bytes:
        return encode(Presence(status, self.service.name, self.instance_id, self.service.version,
                               int(time.time() * 1000)))

    async def _announce(self) -> None:
        await self.link.publish(self.topics.presence(self.service.name, self.instance_id),
                                self._presence("online"), qos=1, retain=True)

    async def _ping(self, _req: Any, _rt: Runtime) -> Ping:
        return Ping(self.service.name, self.instance_id, self.service.version,
                    round(time.monotonic() - self.started, 3))

    async def _describe(self, _req: Any, _rt: Runtime) -> dict:
        from .asyncapi import describe_service

        return describe_service(self.service)

    async def _on_message(self, msg: Message) -> None:
        task = asyncio.current_task()
        self._inflight.add(task)
        try:
            await self._handle(msg)
        finally:
            self._inflight.discard(task)

    async def _handle(self, msg: Message) -> None:
        name = self.topics.command_of(self.service.name, msg.topic)
        if name is None or name.startswith("replies/"):
            return  # our own events/presence seen through the wildcard: not commands
        reply_to, correlation = msg.response_topic, msg.correlation_data
        try:
            envelope = decode_request(msg.payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return await self._reply(reply_to, correlation, None, 400, f"not a valid JSON envelope: {exc}")
        reply_to = reply_to or envelope.header.reply_to or None
        request_id = envelope.header.request_id
        bind(command=name, request_id=request_id)
        builtin = self._builtin.get(name)
        command = self.service.commands.get(name)
        if builtin is None and command is None:
            return await self._reply(reply_to, correlation, request_id, 404, f"unknown command '{name}'")
        try:
            req = msgspec.json.decode(envelope.data, type=command.request_type) if command else None
        except msgspec.ValidationError as exc:
            return await self._reply(reply_to, correlation, request_id, 422, str(exc))
        except msgspec.DecodeError as exc:
            return await self._reply(reply_to, correlation, request_id, 400, f"data is not JSON: {exc}")
        handler = command.handler if command else builtin
        timeout = (command.timeout if command else None) or self.settings.default_timeout_s
        started = time.perf_counter()
        try:
            async with self._sem:
                async with asyncio.timeout(timeout):
                    result = await handler(req, self)
            status, text = 200, "ok"
        except HbError as exc:
            status, text, result = exc.status, exc.msg, None
        except TimeoutError:
            status, text, result = 504, f"'{name}' did not finish within {timeout:g}s", None
        except (msgspec.ValidationError, ValueError) as exc:
            status, text, result = 422, str(exc), None
        except Exception as exc:  # noqa: BLE001 - a handler bug must become a 500 reply, not a dead service
            log.exception("handler failed")
            status, text, result = 500, f"internal error: {type(exc).__name__}: {exc}", None
        log.info("handled", extra={"status": status, "ms": round((time.perf_counter() - started) * 1000, 2)})
        await self._reply(reply_to, correlation, request_id, status, text, result)

    async def _reply(self, reply_to: str | None, correlation: bytes | None, request_id: str | None,
                     status: int, text: str, result: Any = None) -> None:
        if status >= 400:
            log.warning("command refused", extra={"status": status, "error": text})
        if not reply_to:
            return  # fire-and-forget request: executed, nobody to answer
        try:
            payload = reply_bytes(status, text, result, request_id)
        except (TypeError, NotImplementedError, OverflowError) as exc:
            log.exception("reply not serialisable")
            payload = reply_bytes(500, f"internal error: result not serialisable: {exc}", None, request_id)
        await self.link.publish(reply_to, payload, qos=1, correlation_data=correlation)


async def run_services(services: list[Service], settings: Settings | None = None) -> None:
    """Run several services in this process until cancelled."""
    settings = settings or get_settings()
    setup_logging(settings.log_level)
    runtimes = [Runtime(s, settings) for s in services]
    for rt in runtimes:
        await rt.start()
    freeze_startup_objects()
    try:
        await asyncio.Event().wait()
    finally:
        for rt in runtimes:
            await rt.stop()
