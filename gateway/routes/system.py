"""Status routes: `/` (no auth) and `/health`, `/asyncapi.json`."""

from fastapi import APIRouter, Depends, Request

from shared import __version__

from ..auth import require_auth

router = APIRouter(tags=["system"])


def _status(request: Request) -> dict:
    mesh = request.app.state.mesh
    return {"name": "hbmesh-gateway", "version": __version__,
            "status": "running" if mesh.link.connected else "degraded",
            "broker_connected": mesh.link.connected, "services": mesh.presence.snapshot()}


@router.get("/", summary="Gateway status (no auth)")
async def root(request: Request) -> dict:
    return _status(request)


@router.get("/health", dependencies=[Depends(require_auth)], summary="Gateway, broker and service presence")
async def health(request: Request) -> dict:
    return _status(request)


@router.get("/asyncapi.json", dependencies=[Depends(require_auth)], summary="The generated topic API")
async def asyncapi(request: Request) -> dict:
    return request.app.state.asyncapi()
