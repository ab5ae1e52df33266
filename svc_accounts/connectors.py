"""Hummingbot's connectors and their credential config maps (which fields, required, which are secret).

Everything here reads hummingbot's own registry (``AllConnectorSettings``) and the connector's pydantic
config map (e.g. ``BinanceConfigMap``); hummingbot is imported lazily (a few seconds the first time).
"""

from __future__ import annotations

import re
import typing
from typing import Any, Literal

from shared.errors import BadRequest, Invalid, NotFound

CONNECTOR_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_connector_name(connector: str) -> str:
    """Refuse anything that could be a path (``..``, ``/``) or is not a plain name."""
    if not isinstance(connector, str) or not CONNECTOR_RE.fullmatch(connector):
        raise BadRequest(f"invalid connector name {connector!r}: use letters, digits, '_' or '-'")
    return connector


def _settings() -> dict[str, Any]:
    from hummingbot.client.settings import AllConnectorSettings

    return AllConnectorSettings.get_connector_settings()


def list_connectors() -> list[str]:
    """Every connector hummingbot knows (hummingbot-api's GET /connectors/)."""
    return list(_settings())


def config_keys(connector: str):
    """A fresh copy of the connector's credential config model (hummingbot's is a shared instance)."""
    check_connector_name(connector)
    settings = _settings().get(connector)
    if settings is None:
        raise NotFound(f"unknown connector {connector!r}")
    keys = settings.config_keys
    if keys is None:
        raise Invalid(f"connector {connector!r} takes no credentials")
    return keys.model_copy(deep=True)


def _type_name(annotation: Any) -> tuple[str, list | None]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return "Literal", list(args)
    if origin is not None and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        if inner:
            return _type_name(inner[0])
    if origin is not None:
        return str(annotation), None
    return getattr(annotation, "__name__", str(annotation)), None


def credential_fields(connector: str) -> dict[str, dict[str, Any]]:
    """hummingbot-api's config map: ``{field: {type, required, allowed_values?}}`` plus ``secret``
    (stored encrypted) and ``connect_key`` (passed to the connector)."""
    keys = config_keys(connector)
    out: dict[str, dict[str, Any]] = {}
    for name, field in type(keys).model_fields.items():
        if name == "connector":
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        type_name, allowed = _type_name(field.annotation)
        info: dict[str, Any] = {"type": type_name, "required": field.is_required(),
                                "secret": bool(extra.get("is_secure", False)),
                                "connect_key": bool(extra.get("is_connect_key", False))}
        if allowed is not None:
            info["allowed_values"] = allowed
        out[name] = info
    return out


def connector_type(connector: str) -> str:
    settings = _settings().get(check_connector_name(connector))
    if settings is None:
        raise NotFound(f"unknown connector {connector!r}")
    return str(settings.type.name if hasattr(settings.type, "name") else settings.type)
