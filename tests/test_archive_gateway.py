"""svc_archive through the real gateway: hummingbot-api-client's archived_bots router unchanged, and hbmesh's
archive, restore and checkpoint routes."""

from __future__ import annotations

import aiohttp
import pytest
from hummingbot_api_client import HummingbotAPIClient

from svc_archive.paths import BotsFolder
from svc_archive.service import service as archive
from tests.archive_helpers import FILLS_B, make_bot_db, make_instance, tree
from tests.gateway_helpers import PASSWORD, USER, running_gateway, wait_online
from tests.mqtt_helpers import running

DB = "bots/archived/alpha/data/alpha.sqlite"


async def test_hummingbot_api_client_archived_bots(settings):
    bots = BotsFolder(settings.data_dir / "bots")
    make_bot_db(bots.root / "archived" / "alpha" / "data" / "alpha.sqlite", "alpha", cancelled=2)
    make_bot_db(bots.root / "archived" / "beta" / "data" / "beta.sqlite", "beta", pair="ETH-USDT", fills=FILLS_B)
    make_instance(bots.root, "live")
    async with running(archive, settings), running_gateway(settings) as http:
        await wait_online(http, "archive")
        async with HummingbotAPIClient(str(http.base_url), USER, PASSWORD) as api:
            ab = api.archived_bots
            dbs = await ab.list_databases()
            status = await ab.get_database_status(DB)
            summary = await ab.get_database_summary(DB)
            perf = await ab.get_database_performance(DB)
            trades = await ab.get_database_trades(DB, limit=2, offset=0)
            orders = await ab.get_database_orders(DB, limit=10, offset=0, status="OrderCancelled")
            executors = await ab.get_database_executors(DB)
            positions = await ab.get_database_positions(DB, limit=5, offset=0)
            controllers = await ab.get_database_controllers(DB)
            with pytest.raises(aiohttp.ClientResponseError) as missing:
                await ab.get_database_status("bots/archived/ghost/data/ghost.sqlite")
            with pytest.raises(aiohttp.ClientResponseError) as outside:
                await ab.get_database_summary("bots/archived/alpha/data/../../../../outside.sqlite")
            deleted = await ab.delete_archived_bot("bots/archived/beta/data/beta.sqlite")
            after = await ab.list_databases()
        no_slash = await http.get("/archived-bots")
        unauthorized = await http.get("/archived-bots/", auth=("admin", "wrong"))
        bad_limit = await http.get(f"/archived-bots/{DB}/trades", params={"limit": "many"})
        negative = await http.get(f"/archived-bots/{DB}/trades", params={"offset": -5})
        escaped = await http.get("/archived-bots/bots%2Farchived%2F..%2F..%2F..%2Fx.sqlite/summary")
        absolute = await http.get("/archived-bots/%2Fetc%2Fx.sqlite/status")
    assert dbs == [DB, "bots/archived/beta/data/beta.sqlite"]  # archived only, like hummingbot-api
    assert status["healthy"] is True and status["db_path"] == DB
    assert summary["total_orders"] == 5 and summary["exchanges"] == ["binance"]
    assert perf["summary"]["total_trades"] == 3 and len(perf["performance_data"]) == 3
    assert len(trades["trades"]) == 2 and trades["pagination"]["has_more"] is True
    assert [o["last_status"] for o in orders["orders"]] == ["OrderCancelled"] * 2
    assert executors["total"] == 3 and len(executors["executors"]) == 3
    assert positions["positions"][0]["breakeven_price"] == 105.25
    assert controllers["controllers"][0]["type"] == "market_making"
    assert missing.value.status == 404
    # aiohttp removes the '..' segments from the URL: what arrives is bots/outside.sqlite, which is not there
    assert outside.value.status == 404
    assert escaped.status_code == 400 and "'..'" in escaped.json()["detail"]  # '..' that reaches the gateway
    assert absolute.status_code == 400 and "absolute" in absolute.json()["detail"]
    assert deleted["message"] == "Archived bot 'beta' deleted" and after == [DB]
    assert no_slash.status_code == 200 and no_slash.json() == [DB]
    assert unauthorized.status_code == 401 and bad_limit.status_code == 422 and negative.status_code == 422


async def test_archive_routes_local_round_trip_and_checkpoints(settings):
    bots = BotsFolder(settings.data_dir / "bots")
    src = make_instance(bots.root, "mm1")
    make_instance(bots.root, "mm2", pair="ETH-USDT", fills=FILLS_B)
    original = tree(src)
    async with running(archive, settings), running_gateway(settings) as http:
        await wait_online(http, "archive")
        live = (await http.get("/archive/databases")).json()
        archived = await http.post("/archive/archives", json={"bot_name": "mm1"})
        traversal = await http.post("/archive/archives", json={"bot_name": "../etc"})
        listed = (await http.get("/archive/archives")).json()
        aid = archived.json()["archive"]["archive_id"]
        restore_taken = await http.post(f"/archive/archives/{aid}/restore", json={})
        to_instances = await http.post(f"/archive/archives/{aid}/restore", json={"target": "instances"})
        bad_target = await http.post(f"/archive/archives/{aid}/restore", json={"target": "etc"})
        cp = await http.post("/archive/checkpoints", json={"name": "q1", "db_paths": [
            "bots/archived/mm1/data/mm1.sqlite", "bots/instances/mm2/data/mm2.sqlite"]})
        cps = (await http.get("/archive/checkpoints")).json()
        loaded = await http.get("/archive/checkpoints/q1", params={"limit": 2})
        cp_missing = await http.get("/archive/checkpoints/nope")
        deleted = await http.delete(f"/archive/archives/{aid}")
        after = (await http.get("/archive/archives")).json()
    assert live == ["bots/instances/mm1/data/mm1.sqlite", "bots/instances/mm2/data/mm2.sqlite"]
    assert archived.status_code == 200 and archived.json()["browsable_path"] == "bots/archived/mm1"
    assert traversal.status_code == 422
    assert [a["archive_id"] for a in listed] == [aid]
    assert restore_taken.status_code == 409  # bots/archived/mm1 holds the browsable copy
    assert to_instances.status_code == 200 and tree(src) == original
    assert bad_target.status_code == 422
    assert cp.status_code == 200 and cp.json()["tables"]["TradeFill"] == 5
    assert [c["name"] for c in cps] == ["q1"]
    assert loaded.status_code == 200 and len(loaded.json()["trade_fill"]) == 2
    assert cp_missing.status_code == 404
    assert deleted.status_code == 200 and after == []
