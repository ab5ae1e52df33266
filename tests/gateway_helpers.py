"""Run the real gateway (uvicorn on a free port) against the test broker."""

from __future__ import annotations

import asyncio
import base64
import contextlib

import httpx

from gateway.server import make_server
from gateway.settings import GatewaySettings
from shared.settings import Settings
from tests.broker import free_port

USER, PASSWORD = "tester", "s3cret-pass"
AUTH = (USER, PASSWORD)
TOKEN = "tok-123456"


def basic_token() -> str:
    return base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings, **overrides):
    gw = GatewaySettings(port=free_port(), username=USER, password=PASSWORD, tokens=[TOKEN], _env_file=None,
                         **overrides)
    server = make_server(settings, gw)
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{gw.port}"
    async with httpx.AsyncClient(base_url=base, auth=AUTH, timeout=30) as http:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)  # uvicorn exposes no start-up event; this polls its flag
            await server.config.app.state.mesh.link.wait_connected()
        http.app = server.config.app  # type: ignore[attr-defined]
        try:
            yield http
        finally:
            server.should_exit = True
            await task


async def wait_online(http, service: str) -> None:
    """Wait until the gateway has seen the service's presence (a retained message, delivered on subscribe)."""
    await http.app.state.mesh.presence.wait_online(service)
