"""svc_archive bot databases and checkpoints: databases written by hummingbot's own models, read through the
real service on the test broker; paths refused outside the bots folder; checkpoints as unions."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from shared.errors import BadRequest, Conflict, HbError, NotFound
from svc_archive import checkpoints
from svc_archive.botdb import BotDb, trade_based_performance
from svc_archive.paths import BotsFolder
from svc_archive.service import service as archive
from tests.archive_helpers import FILLS_B, make_bot_db, make_instance, table_rows
from tests.mqtt_helpers import client, running

DB_A = "bots/archived/alpha/data/alpha.sqlite"


@pytest.fixture
def bots(tmp_path) -> BotsFolder:
    folder = BotsFolder(tmp_path / "bots")
    folder.ensure()
    return folder


def archived_db(bots: BotsFolder, bot: str, **kw) -> Path:
    return make_bot_db(bots.archived / bot / "data" / f"{bot}.sqlite", bot, **kw)


@pytest.fixture
def locked(tmp_path):
    """Hold a bot database's write lock like a running bot in the middle of a write."""
    conns = []

    def lock(path: Path) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        conns.append(conn)

    yield lock
    for c in conns:
        c.rollback()
        c.close()


# -- paths -------------------------------------------------------------------------------------------

def test_paths_refused_outside_the_bots_folder(bots, tmp_path):
    archived_db(bots, "alpha")
    outside = make_bot_db(tmp_path / "elsewhere" / "x.sqlite", "x")
    (bots.archived / "escape" / "data").mkdir(parents=True)
    (bots.archived / "escape" / "data" / "link.sqlite").symlink_to(outside)
    assert bots.resolve_db(DB_A) == bots.resolve_db("archived/alpha/data/alpha.sqlite")
    for bad in ("../elsewhere/x.sqlite", "bots/../../elsewhere/x.sqlite", str(outside), "/etc/passwd.sqlite",
                "archived/alpha/data/./alpha.sqlite", "archived\\alpha.sqlite", "archived/alpha/conf.yml",
                "bots/archived/escape/data/link.sqlite", "bots"):
        with pytest.raises(BadRequest):
            bots.resolve_db(bad)
    with pytest.raises(NotFound):
        bots.resolve_db("bots/archived/nope/data/nope.sqlite")
    with pytest.raises(BadRequest):  # inside the bots folder, but not inside bots/archived
        make_instance(bots.root, "live")
        bots.resolve_db("bots/instances/live/data/live.sqlite", under="archived")
    assert bots.list_databases("archived") == [DB_A]  # the escaping symlink is not listed
    assert bots.list_databases() == [DB_A, "bots/instances/live/data/live.sqlite"]


# -- reading -----------------------------------------------------------------------------------------

def test_reads_every_table_in_hummingbot_api_shapes(bots):
    path = archived_db(bots, "alpha", cancelled=2)
    with BotDb(path, DB_A) as db:
        status, summary = db.status(), db.summary()
        trades, orders = db.trades(2, 1), db.orders(100, 0, "OrderCancelled")
        perf, execs = db.performance(), db.executors(100, 0)
        positions, controllers = db.positions(100, 0), db.controllers(100, 0)
    assert status.healthy and status.status["trade_fill"] == "Correct" and status.status["db_name"] == "alpha.sqlite"
    assert (summary.total_orders, summary.total_trades, summary.total_executors, summary.total_positions,
            summary.total_controllers) == (5, 3, 3, 1, 1)
    assert summary.trading_pairs == ["BTC-USDT"] and summary.exchanges == ["binance"]
    # paging: rows 2..3 of 3, fees accumulated over the whole history, not the page
    assert trades.pagination.total == 3 and not trades.pagination.has_more
    assert [t["order_id"] for t in trades.trades] == ["alpha-o1", "alpha-o2"]
    assert trades.trades[0]["price"] == 110 and trades.trades[0]["connector_name"] == "binance"
    assert trades.trades[1]["cum_fees_in_quote"] == pytest.approx(0.39)
    assert trades.trades[0]["trade_fee"]["percent_token"] == "USDT"
    assert [o["id"] for o in orders.orders] == ["alpha-c0", "alpha-c1"] and orders.pagination.total == 2
    assert orders.orders[0]["price"] == 90 and orders.orders[0]["trading_pair"] == "BTC-USDT"
    # buys 1@100 + 1@110, sell 1.5@120: realized (120-105)*1.5, unrealized (120-105)*0.5, fees 0.39
    s = perf.summary
    assert s.total_trades == 3 and s.final_realized_pnl_quote == pytest.approx(22.5)
    assert s.final_unrealized_pnl_quote == pytest.approx(7.5) and s.final_net_position == pytest.approx(0.5)
    assert s.final_net_pnl_quote == pytest.approx(22.5 + 7.5 - 0.18) and s.total_fees_quote == pytest.approx(0.39)
    assert s.total_volume_quote == pytest.approx(390) and s.connector_names == ["binance"]
    assert perf.performance_data[1]["buy_avg_price"] == pytest.approx(105)
    assert execs.total == 3 and execs.executors[2]["config"]["side"] == 2 and execs.executors[0]["is_active"] is False
    assert positions.positions[0]["breakeven_price"] == pytest.approx(105.25)
    assert positions.positions[0]["realized_pnl_quote"] == pytest.approx(12.5)
    assert controllers.total == 1 and controllers.controllers[0]["config"]["controller_name"] == "pmm_simple"


def test_performance_per_pair_and_short_positions():
    rows = [{"timestamp": i, "price": p, "amount": a, "trade_type": side, "trading_pair": "ETH-USDT",
             "connector_name": "okx", "trade_fee_in_quote": 0.0} for i, (side, p, a, _f) in
            enumerate([(s, float(p), float(a), f) for s, p, a, f in FILLS_B])]
    out = trade_based_performance(rows)
    assert out[0]["net_position"] == -2 and out[0]["unrealized_trade_pnl_quote"] == 0  # sold at 50, price 50
    assert out[1]["realized_trade_pnl_quote"] == pytest.approx((50 - 40) / 40 * 1 * 40)
    assert out[1]["unrealized_trade_pnl_quote"] == pytest.approx((50 - 40) / 50 * 1 * 50)


def test_empty_old_corrupt_and_locked_databases(bots, locked):
    empty = bots.archived / "empty" / "data" / "empty.sqlite"
    empty.parent.mkdir(parents=True)
    sqlite3.connect(empty).close()
    with BotDb(empty, "e") as db:
        assert db.trades(10, 0).pagination.total == 0 and not db.status().healthy
        assert db.performance().error == "No trades found in database"
        assert db.status().status["executors"] == "Error - no such table: Executors"
    corrupt = bots.archived / "corrupt" / "data" / "corrupt.sqlite"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HbError) as bad:
        BotDb(corrupt, "c").__enter__()
    assert bad.value.status == 422 and "not a readable SQLite database" in bad.value.msg
    busy = archived_db(bots, "busy")
    locked(busy)
    with pytest.raises(Conflict, match="locked"):
        with BotDb(busy, "b", timeout=0.05) as db:
            db.summary()


# -- checkpoints -------------------------------------------------------------------------------------

def test_checkpoint_of_two_databases_is_their_union(bots):
    a = archived_db(bots, "alpha")
    b = bots.archived / "beta" / "data" / "beta.sqlite"
    b.parent.mkdir(parents=True)
    shutil.copy(a, b)  # beta starts as a copy of alpha (overlap), then trades on another pair
    extra = make_bot_db(bots.root / "tmp" / "extra.sqlite", "beta", pair="ETH-USDT", fills=FILLS_B, cancelled=0)
    conn = sqlite3.connect(b)
    conn.execute("ATTACH ? AS x", (str(extra),))
    for t in ("Order", "TradeFill", "Executors", "Position"):
        conn.execute(f'INSERT INTO "{t}" SELECT * FROM x."{t}"')
    conn.execute('INSERT INTO OrderStatus (order_id, timestamp, status) SELECT order_id, timestamp, status FROM x.OrderStatus')
    conn.execute('INSERT INTO Controllers (id, timestamp, type, config) SELECT id, timestamp, type, config FROM x.Controllers')
    conn.commit()
    conn.close()
    shown = [(a, "bots/archived/alpha/data/alpha.sqlite"), (b, "bots/archived/beta/data/beta.sqlite")]
    info = checkpoints.create(bots, "week1", shown)
    cp = bots.checkpoint_file("week1")
    assert info.db_path == "bots/data/checkpoint_week1.sqlite" and [s.merged for s in info.sources] == [True, True]
    for table, skip in (("Order", ()), ("TradeFill", ()), ("Executors", ()), ("Position", ()),
                        ("OrderStatus", ("id",)), ("Controllers", ("controller_id",))):
        union = table_rows(a, table, skip) | table_rows(b, table, skip)
        assert table_rows(cp, table, skip) == union, table
        assert info.tables[table] == len(union)
    assert info.tables["TradeFill"] == 5 < len(table_rows(a, "TradeFill")) + len(table_rows(b, "TradeFill"))
    assert info.sources[1].rows["TradeFill"] == 2  # only beta's own fills were new
    with BotDb(cp, info.db_path) as db:  # a checkpoint reads like a bot database
        assert db.summary().trading_pairs == ["BTC-USDT", "ETH-USDT"]
    with pytest.raises(Conflict):
        checkpoints.create(bots, "week1", shown)
    assert checkpoints.create(bots, "week1", shown[:1], overwrite=True).tables["TradeFill"] == 3
    loaded = checkpoints.load(bots, "week1", limit=2)
    assert len(loaded.trade_fill) == 2 and len(loaded.orders) == 2 and loaded.controllers[0]["config"]
    assert [c.name for c in checkpoints.list_all(bots)] == ["week1"]


def test_checkpoint_skips_corrupt_and_locked_databases(bots, locked):
    good = archived_db(bots, "alpha")
    corrupt = bots.archived / "corrupt" / "data" / "c.sqlite"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"\x00garbage" * 512)
    busy = archived_db(bots, "busy")
    locked(busy)
    info = checkpoints.create(bots, "mixed", [(corrupt, "c"), (good, "g"), (busy, "b")], timeout=0.05)
    by = {s.db_path: s for s in info.sources}
    assert by["g"].merged and by["g"].rows["TradeFill"] == 3
    assert not by["c"].merged and "not a readable SQLite database" in by["c"].reason
    assert not by["b"].merged and "locked" in by["b"].reason
    assert info.tables["TradeFill"] == 3
    with pytest.raises(HbError) as none:
        checkpoints.create(bots, "nothing", [(corrupt, "c")])
    assert none.value.status == 422 and "no database could be merged" in none.value.msg
    assert not bots.checkpoint_file("nothing").exists() and not list(bots.data.glob(".*part"))


# -- the service on the broker -----------------------------------------------------------------------

async def test_every_read_command_through_the_service(settings):
    bots = BotsFolder(settings.data_dir / "bots")
    archived_db(bots, "alpha")
    make_instance(bots.root, "live", pair="ETH-USDT", fills=FILLS_B)
    t = lambda cmd: f"{settings.prefix}/v1/archive/{cmd}"  # noqa: E731
    async with running(archive, settings), client(settings) as rpc:
        async def call(cmd, **data):
            return await rpc.request(t(cmd), data, 10)

        listed = await call("databases/list")
        archived = await call("databases/list", scope="archived")
        replies = {cmd: await call(f"databases/{cmd}", db_path=DB_A) for cmd in
                   ("status", "summary", "performance", "trades", "executors", "positions", "controllers")}
        orders = await call("databases/orders", db_path=DB_A, status="OrderFilled", limit=2, offset=1)
        live = await call("databases/summary", db_path="instances/live/data/live.sqlite")
        bad = {p: (await call("databases/trades", db_path=p)).status
               for p in ("../../etc/passwd", "/abs/x.sqlite", "bots/archived/alpha/data/../../x.sqlite")}
        missing = await call("databases/status", db_path="bots/archived/ghost/data/ghost.sqlite")
        negative = await call("databases/trades", db_path=DB_A, offset=-1)
        no_path = await call("databases/summary")
        not_archived = await call("databases/delete", db_path="bots/instances/live/data/live.sqlite")
        cp = await call("checkpoints/create", name="all")
        cp_again = await call("checkpoints/create", name="all")
        cp_bad_name = await call("checkpoints/create", name="../x")
        cps = await call("checkpoints/list")
        loaded = await call("checkpoints/load", name="all", limit=1)
        cp_read = await call("databases/trades", db_path=cp.result["db_path"])
        deleted = await call("databases/delete", db_path=DB_A)
        after = await call("databases/list", scope="archived")
    assert listed.result == [DB_A, "bots/instances/live/data/live.sqlite"] and archived.result == [DB_A]
    assert all(r.status == 200 for r in replies.values()), {k: r.msg for k, r in replies.items()}
    assert replies["status"].result["healthy"] is True
    assert replies["summary"].result["total_trades"] == 3
    assert replies["performance"].result["summary"]["final_realized_pnl_quote"] == pytest.approx(22.5)
    assert replies["trades"].result["pagination"] == {"total": 3, "limit": 100, "offset": 0, "has_more": False}
    assert replies["executors"].result["total"] == 3 and replies["positions"].result["positions"][0]["amount"] == 0.5
    assert replies["controllers"].result["controllers"][0]["type"] == "market_making"
    assert [o["id"] for o in orders.result["orders"]] == ["alpha-o1", "alpha-o2"]
    assert orders.result["pagination"] == {"total": 3, "limit": 2, "offset": 1, "has_more": False}
    assert live.result["trading_pairs"] == ["ETH-USDT"]
    assert set(bad.values()) == {400}, bad
    assert missing.status == 404 and negative.status == 422 and no_path.status == 422
    assert not_archived.status == 400 and "bots/archived" in not_archived.msg
    assert cp.status == 200 and cp.result["tables"]["TradeFill"] == 3  # default: every archived database
    assert cp_again.status == 409 and cp_bad_name.status == 422
    assert [c["name"] for c in cps.result] == ["all"] and len(loaded.result["orders"]) == 1
    assert cp_read.result["pagination"]["total"] == 3
    assert deleted.status == 200 and deleted.result["message"] == "Archived bot 'alpha' deleted"
    assert after.result == [] and not (bots.archived / "alpha").exists()
