"""Declaring gateway routes as mappings to command topics.

    relay(router, "POST", "/run", "backtest", "run", body=BacktestRequest, timeout=900)

A route validates its body with the command's msgspec type (422 before anything is published),
sends the command, and returns the service's result as it is, or {"detail": msg} with the
service's status. Path and query parameters are merged into the command's data.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError

from .auth import require_auth
from .mesh import raise_for_status

# msgspec schemas referenced from the OpenAPI document, collected as routes are declared.
OPENAPI_COMPONENTS: dict[str, Any] = {}
_REF = "#/components/schemas/{name}"


def _schema_of(t: type) -> dict:
    (schema,), components = msgspec.json.schema_components([t], ref_template=_REF)
    OPENAPI_COMPONENTS.update(components)
    return schema


def _decode_body(raw: bytes, body: type) -> Any:
    try:
        return msgspec.json.decode(raw or b"{}", type=body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        path = text.rsplit("at `$.", 1)[1].rstrip("`").split(".") if "at `$." in text else []
        raise RequestValidationError([{"type": "value_error", "loc": ["body", *path], "msg": text, "input": None}])
    except msgspec.DecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ["body"], "msg": f"invalid JSON: {exc}",
                                       "input": None}])


def relay(router: APIRouter, method: str, path: str, service: str, command: str, *,
          body: type | None = None, params: dict[str, Any] | None = None, timeout: float = 30.0,
          shape: Callable[[dict], Any] | None = None, summary: str | None = None, body_field: str | None = None) -> None:
    """Declare one route. `params` maps query parameter names to (type, default); path parameters are
    taken from `{name}` in the path. `body_field` puts the body under that key instead of merging it."""
    path_names = [p.strip("{}").split(":")[0] for p in path.split("/") if p.startswith("{")]
    params = params or {}

    async def endpoint(request: Request, **kwargs) -> Response:
        data: dict[str, Any] = {}
        if body is not None:
            decoded = msgspec.to_builtins(_decode_body(await request.body(), body))
            if body_field:
                data[body_field] = decoded
            else:
                data.update(decoded)
        data.update({k: v for k, v in kwargs.items() if v is not None})
        if shape:
            data = shape(data)
        mesh = request.app.state.mesh
        request_id = request.headers.get("x-request-id") or mesh.request_id()
        reply = await mesh.call(service, command, data, timeout, request_id)
        raise_for_status(reply)
        return Response(content=bytes(reply.result), media_type="application/json",
                        headers={"x-request-id": request_id})

    sig_params = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    sig_params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=str) for n in path_names]
    for name, (typ, default) in params.items():
        sig_params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=typ, default=default))
    endpoint.__signature__ = inspect.Signature(sig_params)
    endpoint.__name__ = f"{service}_{command}".replace("/", "_").replace("-", "_")
    extra = None
    if body is not None:
        extra = {"requestBody": {"required": True, "content": {"application/json": {"schema": _schema_of(body)}}}}
    router.add_api_route(path, endpoint, methods=[method], openapi_extra=extra, dependencies=[Depends(require_auth)],
                         summary=summary or f"{service}/{command}",
                         description=f"Relays to topic `<prefix>/v1/{service}/{command}`.")
