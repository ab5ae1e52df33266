"""AsyncAPI 3 document generated from the services' declarations (never written by hand)."""

from __future__ import annotations

from typing import Any

import msgspec

from . import __version__
from .envelope import Header
from .service import Empty, Ping, Presence, Service
from .topics import Topics

_REF = "#/components/schemas/{name}"
_NOTE_NAN = "Floats that are not finite (NaN, Infinity) are sent as null."


def _schemas(types: list[Any]) -> tuple[list[dict], dict]:
    return msgspec.json.schema_components(types, ref_template=_REF)


def _builtin_commands(service: Service) -> dict[str, tuple[Any, Any, str]]:
    return {"ping": (Empty, Ping, "Liveness: service, instance, version, uptime."),
            "describe": (Empty, dict, "This service's commands and events with their JSON schemas.")}


def _command_table(service: Service) -> dict[str, tuple[Any, Any, str]]:
    table = _builtin_commands(service)
    table.update({n: (c.request_type, c.result_type, c.summary) for n, c in service.commands.items()})
    return table


def describe_service(service: Service) -> dict:
    table = _command_table(service)
    names = list(table)
    types = [t for n in names for t in table[n][:2]] + [e.payload_type for e in service.events.values()]
    refs, components = _schemas(types)
    out_cmds, i = {}, 0
    for n in names:
        out_cmds[n] = {"summary": table[n][2], "request": refs[i], "result": refs[i + 1]}
        i += 2
    events = {name: {"summary": e.summary, "payload": refs[i + k]} for k, (name, e) in enumerate(service.events.items())}
    return {"service": service.name, "version": service.version, "description": service.description,
            "commands": out_cmds, "events": events, "schemas": components, "note": _NOTE_NAN}


def _key(*parts: str) -> str:
    return ".".join(p.replace("/", ".").replace("{", "").replace("}", "") for p in parts)


def asyncapi_document(services: list[Service], topics: Topics | None = None, host: str = "localhost:1883") -> dict:
    topics = topics or Topics()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    pending: list[tuple[str, Any]] = [("Header", Header), ("Presence", Presence)]
    for svc in services:
        for cmd, (req_t, res_t, summary) in _command_table(svc).items():
            key = _key(svc.name, cmd)
            pending += [(f"{key}.request", req_t), (f"{key}.result", res_t)]
            messages[f"{key}.request"] = {
                "name": f"{key}.request", "summary": summary, "contentType": "application/json",
                "payload": {"type": "object", "required": ["data"], "properties": {
                    "header": {"$ref": _REF.format(name="Header")}, "data": {"$ref": f"#/x-types/{key}.request"}}}}
            messages[f"{key}.reply"] = {
                "name": f"{key}.reply", "contentType": "application/json", "description": _NOTE_NAN,
                "payload": {"type": "object", "properties": {
                    "header": {"$ref": _REF.format(name="Header")},
                    "data": {"type": "object", "required": ["status"], "properties": {
                        "status": {"type": "integer", "description": "HTTP meaning: 200, 400, 404, 409, 422, 500, 503, 504"},
                        "msg": {"type": "string"},
                        "result": {"anyOf": [{"$ref": f"#/x-types/{key}.result"}, {"type": "null"}]}}}}}}
            channels[key] = {"address": topics.command(svc.name, cmd), "messages": {
                "request": {"$ref": f"#/components/messages/{key}.request"}}}
            channels[f"{key}.reply"] = {"address": None, "description": "header.reply_to (or the MQTT v5 response topic)",
                                        "messages": {"reply": {"$ref": f"#/components/messages/{key}.reply"}}}
            operations[key] = {"action": "receive", "summary": summary, "channel": {"$ref": f"#/channels/{key}"},
                               "reply": {"channel": {"$ref": f"#/channels/{key}.reply"}}}
        for name, ev in svc.events.items():
            key = _key(svc.name, "events", name)
            pending.append((key, ev.payload_type))
            messages[key] = {"name": key, "summary": ev.summary, "contentType": "application/json",
                             "payload": {"$ref": f"#/x-types/{key}"}}
            params = {p.strip("{}"): {} for p in name.split("/") if p.startswith("{")}
            channels[key] = {"address": topics.event(svc.name, name), "messages": {"event": {"$ref": f"#/components/messages/{key}"}},
                             **({"parameters": params} if params else {})}
            operations[key] = {"action": "send", "summary": ev.summary, "channel": {"$ref": f"#/channels/{key}"}}
        pkey = _key(svc.name, "presence")
        channels[pkey] = {"address": topics.presence(svc.name, "{instance_id}"), "parameters": {"instance_id": {}},
                          "messages": {"presence": {"payload": {"$ref": _REF.format(name="Presence")}}},
                          "description": "Retained; online on connect, offline by last will or clean shutdown."}
        operations[pkey] = {"action": "send", "channel": {"$ref": f"#/channels/{pkey}"}}
    refs, schemas = _schemas([t for _, t in pending])
    # Types are referenced through one indirection so request/result names stay stable per command.
    doc = {
        "asyncapi": "3.0.0",
        "info": {"title": "hbmesh topic API", "version": __version__,
                 "description": "Commands are commlib-compatible JSON requests; replies go to header.reply_to. " + _NOTE_NAN},
        "defaultContentType": "application/json",
        "servers": {"broker": {"host": host, "protocol": "mqtt", "protocolVersion": "5"}},
        "channels": channels, "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
    doc["x-types"] = {name: ref for (name, _), ref in zip(pending, refs)}
    return doc
