"""The gateway against a real broker and a service on the same runtime: status mapping, auth, WS relay."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from gateway.settings import GatewaySettings
from tests import standin_backtest
from tests.gateway_helpers import TOKEN, basic_token, running_gateway, wait_online
from tests.mqtt_helpers import running


@pytest.mark.parametrize("task_id,status,detail", [
    ("t9", 200, None), ("missing", 404, "task missing not found"), ("conflict", 409, "task already finished"),
    ("crash", 500, "internal error: RuntimeError: bug"),
])
async def test_status_mapping(settings, task_id, status, detail):
    async with running(standin_backtest.service, settings), running_gateway(settings) as http:
        await wait_online(http, "backtest")
        r = await http.get(f"/backtesting/tasks/{task_id}")
    assert r.status_code == status
    if detail:
        assert r.json() == {"detail": detail}
    else:
        assert r.json() == {"task_id": "t9", "status": "completed"}


async def test_no_service_is_503_at_once(settings):
    async with running_gateway(settings) as http:
        r = await http.get("/backtesting/tasks/x")
    assert r.status_code == 503 and "no backtest service instance is online" in r.json()["detail"]


async def test_slow_service_is_504(settings, monkeypatch):
    from gateway.routes import backtesting  # noqa: F401 - the route table is declared at import

    async with running(standin_backtest.service, settings), running_gateway(settings) as http:
        await wait_online(http, "backtest")
        mesh = http.app.state.mesh
        original = mesh.call
        monkeypatch.setattr(mesh, "call", lambda s, c, d, t, r=None: original(s, c, d, 0.3, r))
        r = await http.get("/backtesting/tasks/slow")
    assert r.status_code == 504 and "no reply" in r.json()["detail"]


async def test_validation_422_before_publishing(settings):
    standin_backtest.received.clear()
    async with running(standin_backtest.service, settings), running_gateway(settings) as http:
        await wait_online(http, "backtest")
        bad = await http.post("/backtesting/tasks", json={"config": {}, "start_time": "yesterday"})
        bad_json = await http.post("/backtesting/tasks", content=b"{nope", headers={"content-type": "application/json"})
        good = await http.post("/backtesting/tasks", json={"config": {"controller_name": "x"}, "start_time": 5})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "start_time"]
    assert bad_json.status_code == 422
    assert good.status_code == 200 and good.json() == {"task_id": "t1", "status": "pending"}
    assert standin_backtest.received == [{"config": {"controller_name": "x"}, "start_time": 5}]


async def test_auth_refused_on_every_route(settings):
    async with running_gateway(settings) as http:
        app = http.app
        anon = httpx.AsyncClient(base_url=str(http.base_url))
        checked = 0
        for path, ops in app.openapi()["paths"].items():
            if path == "/":
                continue
            concrete = path.replace("{", "").replace("}", "")
            for method in ops:
                r = await anon.request(method.upper(), concrete)
                assert r.status_code == 401, (method, path, r.status_code)
                bad = await anon.request(method.upper(), concrete, auth=("tester", "wrong"))
                assert bad.status_code == 401
                checked += 1
        ok = await anon.get("/health", headers={"Authorization": f"Bearer {TOKEN}"})
        root = await anon.get("/")
        await anon.aclose()
    assert checked >= 10
    assert ok.status_code == 200 and root.status_code == 200 and root.json()["broker_connected"] is True


async def test_health_lists_online_services(settings):
    async with running(standin_backtest.service, settings), running_gateway(settings) as http:
        await wait_online(http, "backtest")
        r = await http.get("/health")
    assert r.json()["services"] == {"backtest": [settings.instance_id]}


async def test_cors_not_wildcard_with_credentials(settings):
    async with running_gateway(settings) as http:
        r = await http.options("/health", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        ok = await http.options("/health", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers
    assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert GatewaySettings(_env_file=None).cors_allow_origins == []


async def test_ws_topic_relay(settings):
    from shared.envelope import encode
    from tests.mqtt_helpers import Collector

    async with running_gateway(settings) as http:
        url = str(http.base_url).replace("http", "ws") + "/ws/topics"
        for bad in ("?token=wrong", ""):
            with pytest.raises(websockets.InvalidStatus) as refused:  # refused at the handshake
                async with websockets.connect(url + bad):
                    pass
            assert refused.value.response.status_code == 403
        async with websockets.connect(f"{url}?token={basic_token()}") as ws:
            assert json.loads(await ws.recv())["type"] == "connected"
            await ws.send(json.dumps({"action": "subscribe", "filter": "$SYS/#"}))
            assert json.loads(await ws.recv())["type"] == "error"
            flt = f"{settings.prefix}/v1/fleet/events/#"
            await ws.send(json.dumps({"action": "subscribe", "filter": flt}))
            assert json.loads(await ws.recv()) == {"type": "subscribed", "filter": flt}
            async with Collector(settings, "unused/#") as pub:
                await pub.link.publish(f"{settings.prefix}/v1/fleet/events/bots/b1", encode({"status": "running"}))
            got = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert got["topic"] == f"{settings.prefix}/v1/fleet/events/bots/b1"
    assert got["payload"] == {"status": "running"}


async def test_slow_ws_client_does_not_stall_others(settings):
    """A client that never reads gets messages skipped; a reading client still gets every message."""
    from gateway.mesh import Subscriber
    from tests.mqtt_helpers import Collector

    async with running_gateway(settings, ws_queue_size=10) as http:
        mesh = http.app.state.mesh
        flt = f"{settings.prefix}/v1/x/events/#"
        stalled, reader = Subscriber(10), Subscriber(1000)
        await mesh.add_subscriber(flt, stalled)
        await mesh.add_subscriber(flt, reader)
        async with Collector(settings, "unused/#") as pub:
            for i in range(200):
                await pub.link.publish(f"{settings.prefix}/v1/x/events/n", str(i).encode(), qos=1)
        got = [await asyncio.wait_for(reader.queue.get(), 5) for _ in range(200)]
    assert [int(p) for _, p, _ in got] == list(range(200))
    assert stalled.queue.qsize() == 10 and stalled.skipped == 190


def test_route_index_picks_the_route_a_linear_scan_would():
    """For every declared route, the first-segment index selects the same route as trying them in order."""
    import re

    from starlette.routing import Match, WebSocketRoute

    from gateway.app import create_app
    from gateway.routing import RouteIndex
    from shared.settings import Settings

    from gateway.routes import GROUPS
    from gateway.ws import router as ws_router

    app = create_app(Settings(_env_file=None), GatewaySettings(_env_file=None))
    index, routes = app.router.routes[0], app.router.routes[1:]
    assert isinstance(index, RouteIndex)
    declared = [route for group in (*GROUPS, ws_router) for route in group.routes]  # FastAPI's /docs etc. are not
    checked = 0
    for route in declared:
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            scope = {"type": "websocket" if isinstance(route, WebSocketRoute) else "http", "path": path,
                     "root_path": "", "method": method}
            linear = next((r for r in routes if r.matches(scope)[0] is Match.FULL), None)
            match, child = index.matches(scope)
            assert match is Match.FULL and child["hbmesh.route"] is linear, (method, path)
            checked += 1
    assert checked > 100


async def test_route_index_answers_405_and_404_like_starlette(settings):
    async with running_gateway(settings) as http:
        wrong_method = await http.patch("/backtesting/tasks/x")
        unknown = await http.get("/no-such-group/x")
        root = await http.get("/")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]  # the first route on that path, as Starlette
    assert unknown.status_code == 404
    assert root.status_code == 200
