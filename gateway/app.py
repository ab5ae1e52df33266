"""The FastAPI application: route groups, auth, CORS, error mapping, one Mesh connection."""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from shared import __version__
from shared.errors import HbError
from shared.heap import freeze_startup_objects
from shared.settings import Settings, get_settings

from .mesh import Mesh
from .relay import OPENAPI_COMPONENTS
from .routes import GROUPS
from .routing import RouteIndex
from .settings import GatewaySettings
from .ws import router as ws_router

log = logging.getLogger("hbmesh.gateway")


def create_app(settings: Settings | None = None, gw: GatewaySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    gw = gw or GatewaySettings()
    mesh = Mesh(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if gw.insecure_defaults:
            log.critical("gateway USERNAME/PASSWORD are still the defaults (admin/admin): set them before exposing it")
        await mesh.start()
        freeze_startup_objects()
        yield
        await mesh.stop()

    app = FastAPI(title="hbmesh gateway", version=__version__, lifespan=lifespan, redirect_slashes=False,
                  description="hummingbot-api compatible REST in front of hbmesh's MQTT topic API.")
    app.state.mesh = mesh
    app.state.gw_settings = gw
    app.state.ws_prefixes = gw.ws_allowed_prefixes or [f"{settings.prefix}/", f"{settings.bot_namespace}/"]

    def asyncapi() -> dict:
        from shared.asyncapi import asyncapi_document
        from shared.cli import available_services

        return asyncapi_document(available_services(), mesh.topics, f"{settings.broker_host}:{settings.broker_port}")

    app.state.asyncapi = asyncapi
    app.add_middleware(CORSMiddleware, allow_origins=gw.cors_allow_origins,
                       allow_origin_regex=gw.cors_allow_origin_regex,
                       allow_credentials=gw.cors_allow_credentials and "*" not in gw.cors_allow_origins,
                       allow_methods=["*"], allow_headers=["*"])

    @app.exception_handler(HbError)
    async def hb_error(_request: Request, exc: HbError) -> JSONResponse:
        return JSONResponse({"detail": exc.msg}, status_code=exc.status)

    routes = [route for group in (*GROUPS, ws_router) for route in group.routes]
    app.router.routes.extend(routes)  # added as they are: FastAPI's include_router re-matches every request
    app.router.routes.insert(0, RouteIndex(routes))

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(OPENAPI_COMPONENTS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
