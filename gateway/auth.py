"""HTTP Basic (USERNAME/PASSWORD) and bearer tokens, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import secrets

from fastapi import HTTPException, Request, WebSocket, status

from .settings import GatewaySettings


def _eq(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


def check_basic(settings: GatewaySettings, encoded: str) -> bool:
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return _eq(user, settings.username) & _eq(password, settings.password)


def check_token(settings: GatewaySettings, token: str) -> bool:
    ok = False
    for known in settings.tokens:
        ok |= _eq(token, known)
    return ok or check_basic(settings, token)  # hummingbot-api's ?token=base64(user:pass)


def check_header(settings: GatewaySettings, header: str | None) -> bool:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() == "basic":
        return check_basic(settings, value.strip())
    if scheme.lower() == "bearer":
        return check_token(settings, value.strip())
    return False


async def require_auth(request: Request) -> None:
    """Async on purpose: FastAPI runs a sync dependency in a thread pool, a thread hop per request."""
    if not check_header(request.app.state.gw_settings, request.headers.get("authorization")):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or missing credentials",
                            headers={"WWW-Authenticate": "Basic"})


def websocket_authorized(ws: WebSocket) -> bool:
    settings: GatewaySettings = ws.app.state.gw_settings
    token = ws.query_params.get("token")
    if token:
        return check_token(settings, token)
    return check_header(settings, ws.headers.get("authorization"))
