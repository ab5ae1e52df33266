"""Run the gateway with uvicorn inside an existing event loop (used by `hbmesh up` and `hbmesh gateway`).
asyncio already sets TCP_NODELAY on accepted TCP connections, so replies never wait for Nagle."""

from __future__ import annotations

import uvicorn

from shared.settings import Settings

from .app import create_app
from .settings import GatewaySettings


def make_server(settings: Settings, gw: GatewaySettings | None = None) -> uvicorn.Server:
    gw = gw or GatewaySettings()
    config = uvicorn.Config(create_app(settings, gw), host=gw.host, port=gw.port, log_level="warning",
                            access_log=False, lifespan="on", ws="websockets-sansio")
    return uvicorn.Server(config)


async def serve(settings: Settings, gw: GatewaySettings | None = None) -> None:
    await make_server(settings, gw).serve()
