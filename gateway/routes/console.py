"""The web console: static files from gateway/console/ under /console (the shell loads without auth; every API
and WebSocket call it makes carries the gateway's credentials), plus GET /console/config.json (authenticated)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, RedirectResponse

from ..auth import check_header

router = APIRouter(tags=["console"])
ROOT = (Path(__file__).resolve().parent.parent / "console").resolve()
MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}
# Everything the console needs comes from the gateway itself: no inline scripts, no third-party origins.
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY",
           "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                      "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; "
                                      "form-action 'none'"}


def _file(rel: str) -> FileResponse:
    path = (ROOT / rel).resolve()
    if not path.is_relative_to(ROOT) or not path.is_file() or path.suffix not in MEDIA:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return FileResponse(path, media_type=MEDIA[path.suffix], headers=HEADERS)


@router.get("/console", include_in_schema=False)
async def console_root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/console/", include_in_schema=False)
async def console_index() -> FileResponse:
    return _file("index.html")


@router.get("/console/config.json", summary="The console's settings: topic prefix and the bots' namespace")
async def console_config(request: Request) -> dict:
    # Checked here rather than with require_auth: a 401 without a WWW-Authenticate challenge, so a wrong
    # login on the console's form shows the form's error instead of the browser's own password dialog.
    if not check_header(request.app.state.gw_settings, request.headers.get("authorization")):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or missing credentials")
    topics = request.app.state.mesh.topics
    return {"prefix": topics.prefix, "bot_namespace": topics.bot_namespace, "root": topics.root}


@router.get("/console/{rel:path}", include_in_schema=False)
async def console_file(rel: str) -> FileResponse:
    return _file(rel)
