"""Services and the gateway on an event loop in a background thread, for sync test drivers
(hypothesis, schemathesis) that call into them from the test thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from shared.cli import available_services
from tests.gateway_helpers import running_gateway
from tests.mqtt_helpers import client, running


class ThreadedMesh:
    def __init__(self, settings, services=None, gateway: bool = False):
        self.settings = settings
        self.services = services if services is not None else available_services()
        self.gateway = gateway
        self.loop = asyncio.new_event_loop()
        self.rpc = None
        self.http = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._main = None

    def run(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            for svc in self.services:
                await stack.enter_async_context(running(svc, self.settings))
            self.rpc = await stack.enter_async_context(client(self.settings))
            if self.gateway:
                self.http = await stack.enter_async_context(running_gateway(self.settings))
                for svc in self.services:
                    await self.http.app.state.mesh.presence.wait_online(svc.name, 30)
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> "ThreadedMesh":
        self._thread.start()
        self._main = asyncio.run_coroutine_threadsafe(self._serve(), self.loop)
        if not self._ready.wait(180):
            self._main.result(0)  # raises the start-up error, if any
            raise TimeoutError("mesh did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._main.result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
