"""WebSockets: /ws/topics (operator topic stream) and /ws/tasks/{id} (one task's progress)."""

from __future__ import annotations

import asyncio
import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from shared.topics import valid_segment

from .auth import websocket_authorized
from .mesh import Mesh, Subscriber

router = APIRouter()
log = logging.getLogger("hbmesh.gateway.ws")


async def _pump(ws: WebSocket, sub: Subscriber) -> None:
    """Send queued messages; a client too slow for its queue loses messages, not the relay."""
    while True:
        topic, payload, ts = await sub.queue.get()
        try:
            body = json.loads(payload)
        except ValueError:
            body = payload.decode(errors="replace")
        await ws.send_json({"topic": topic, "payload": body, "ts": ts, "skipped": sub.skipped})


def _allowed(ws: WebSocket, filter_: str) -> bool:
    prefixes = ws.app.state.ws_prefixes
    return bool(filter_) and not filter_.startswith("$") and any(filter_.startswith(p) for p in prefixes)


async def _accept(ws: WebSocket) -> bool:
    if not websocket_authorized(ws):
        await ws.close(code=4001, reason="invalid or missing credentials")
        return False
    await ws.accept()
    return True


@router.websocket("/ws/topics")
async def topics(ws: WebSocket) -> None:
    """Client sends {"action": "subscribe"|"unsubscribe", "filter": "..."}; receives {topic, payload, ts}."""
    if not await _accept(ws):
        return
    mesh: Mesh = ws.app.state.mesh
    sub = Subscriber(ws.app.state.gw_settings.ws_queue_size)
    filters: set[str] = set()
    pump = asyncio.create_task(_pump(ws, sub))
    await ws.send_json({"type": "connected", "allowed_prefixes": ws.app.state.ws_prefixes})
    try:
        while True:
            msg = await ws.receive_json()
            action, filter_ = msg.get("action"), msg.get("filter", "")
            if action == "ping":
                await ws.send_json({"type": "pong"})
            elif action not in ("subscribe", "unsubscribe") or not isinstance(filter_, str):
                await ws.send_json({"type": "error", "detail": "expected {action: subscribe|unsubscribe, filter}"})
            elif not _allowed(ws, filter_):
                await ws.send_json({"type": "error", "detail": f"filter not allowed: {filter_}"})
            elif action == "subscribe":
                filters.add(filter_)
                await mesh.add_subscriber(filter_, sub)
                await ws.send_json({"type": "subscribed", "filter": filter_})
            else:
                filters.discard(filter_)
                await mesh.remove_subscriber(filter_, sub)
                await ws.send_json({"type": "unsubscribed", "filter": filter_})
    except (WebSocketDisconnect, ValueError, RuntimeError):
        pass
    finally:
        pump.cancel()
        for f in filters:
            await mesh.remove_subscriber(f, sub)


@router.websocket("/ws/tasks/{task_id}")
async def task(ws: WebSocket, task_id: str) -> None:
    """Progress and completion events of one task, from whichever service runs it."""
    if not valid_segment(task_id):
        await ws.close(code=4000, reason="invalid task id")
        return
    if not await _accept(ws):
        return
    mesh: Mesh = ws.app.state.mesh
    sub = Subscriber(ws.app.state.gw_settings.ws_queue_size)
    filter_ = f"{mesh.topics.root}/+/events/tasks/{task_id}"
    await mesh.add_subscriber(filter_, sub)
    pump = asyncio.create_task(_pump(ws, sub))
    try:
        while True:
            await ws.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        pump.cancel()
        await mesh.remove_subscriber(filter_, sub)
