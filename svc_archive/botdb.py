"""Reading Hummingbot bot databases (SQLite, hummingbot.model's tables), read-only, paged in SQL.

Shapes follow hummingbot-api's HummingbotDatabase + /archived-bots router: `market`/`symbol` are shown as
`connector_name`/`trading_pair`, SqliteDecimal(6) columns are divided by 1e6, and performance is the
trade-based rolling PnL per (trading_pair, connector_name). Differences, deliberate: JSON columns
(executor config/custom_info, controller config, trade_fee) are returned as JSON objects, a database
without a table (older bots) reads as empty, and a multi-pair performance summary adds every pair's final
figures instead of taking the last row's.

A corrupt file is a 422, a locked one (a bot writing) a 409; the checkpoint merger skips them with that reason.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

from shared.errors import Conflict, HbError
from shared.schemas.archive import (DbControllers, DbExecutors, DbOrdersPage, DbPerformance, DbPositions,
                                    DbStatus, DbSummary, DbTrades, Pagination, PerformanceSummary)

SCALE = 1e6
TABLES = ("TradeFill", "Order", "OrderStatus", "Executors", "Controllers", "Position")


class Unreadable(HbError):
    status = 422


def uri(path: Path, mode: str = "ro") -> str:
    return f"file:{quote(str(path))}?mode={mode}"


def connect(path: Path, timeout: float = 2.0) -> sqlite3.Connection:
    """A read-only connection; raises Unreadable / Conflict with the reason when it can't be read."""
    conn = None
    try:
        conn = sqlite3.connect(uri(path), uri=True, timeout=timeout, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise db_error(exc, path) from exc


def db_error(exc: sqlite3.Error, path: Path) -> HbError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return Conflict(f"database '{path.name}' is locked (a bot may still be writing it): {text}")
    return Unreadable(f"database '{path.name}' is not a readable SQLite database: {text}")


def _page(total: int, limit: int, offset: int) -> Pagination:
    return Pagination(total=total, limit=limit, offset=offset, has_more=offset + limit < total)


def _json(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class BotDb:
    def __init__(self, path: Path, display: str, timeout: float = 2.0):
        self.path, self.display, self.timeout = path, display, timeout

    def __enter__(self) -> "BotDb":
        self.conn = connect(self.path, self.timeout)
        self.tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    def _rows(self, sql: str, args: tuple = ()) -> list[dict]:
        try:
            return [dict(r) for r in self.conn.execute(sql, args)]
        except sqlite3.Error as exc:
            raise db_error(exc, self.path) from exc

    def _count(self, table: str, where: str = "", args: tuple = ()) -> int:
        if table not in self.tables:
            return 0
        return self._rows(f'SELECT count(*) AS n FROM "{table}" {where}', args)[0]["n"]

    # -- rows ---------------------------------------------------------------------------------------
    def order_rows(self, limit: int, offset: int, status: str | None = None) -> tuple[int, list[dict]]:
        if "Order" not in self.tables:
            return 0, []
        where, args = ("WHERE last_status = ?", (status,)) if status else ("", ())
        rows = self._rows(f'SELECT * FROM "Order" {where} ORDER BY creation_timestamp, id LIMIT ? OFFSET ?',
                          (*args, limit, offset))
        for r in rows:
            r["connector_name"], r["trading_pair"] = r.pop("market"), r.pop("symbol")
            r["amount"] = (r["amount"] or 0) / SCALE
            r["price"] = (r["price"] or 0) / SCALE
        return self._count("Order", where, args), rows

    def trade_rows(self, limit: int = -1, offset: int = 0) -> tuple[int, list[dict]]:
        if "TradeFill" not in self.tables:
            return 0, []
        rows = self._rows(
            'SELECT *, SUM(trade_fee_in_quote) OVER (PARTITION BY config_file_path, market, symbol '
            'ORDER BY timestamp, rowid) AS cum_fees_raw FROM TradeFill ORDER BY timestamp, rowid LIMIT ? OFFSET ?',
            (limit, offset))
        for r in rows:
            r["connector_name"], r["trading_pair"] = r.pop("market"), r.pop("symbol")
            for col in ("amount", "price", "trade_fee_in_quote"):
                r[col] = (r[col] or 0) / SCALE
            r["cum_fees_in_quote"] = (r.pop("cum_fees_raw") or 0) / SCALE
            r["trade_fee"] = _json(r["trade_fee"])
        return self._count("TradeFill"), rows

    def order_status_rows(self, limit: int, offset: int = 0) -> list[dict]:
        if "OrderStatus" not in self.tables:
            return []
        return self._rows("SELECT * FROM OrderStatus ORDER BY timestamp, id LIMIT ? OFFSET ?", (limit, offset))

    def position_rows(self, limit: int, offset: int) -> tuple[int, list[dict]]:
        if "Position" not in self.tables:
            return 0, []
        rows = self._rows('SELECT * FROM "Position" ORDER BY timestamp, id LIMIT ? OFFSET ?', (limit, offset))
        for r in rows:
            for col in ("volume_traded_quote", "amount", "breakeven_price", "unrealized_pnl_quote",
                        "realized_pnl_quote", "cum_fees_quote"):
                if col in r:
                    r[col] = (r[col] or 0) / SCALE
        return self._count("Position"), rows

    def executor_rows(self, limit: int, offset: int) -> tuple[int, list[dict]]:
        if "Executors" not in self.tables:
            return 0, []
        rows = self._rows("SELECT * FROM Executors ORDER BY timestamp, id LIMIT ? OFFSET ?", (limit, offset))
        for r in rows:
            r["config"], r["custom_info"] = _json(r["config"]), _json(r["custom_info"])
            r["is_active"], r["is_trading"] = bool(r["is_active"]), bool(r["is_trading"])
        return self._count("Executors"), rows

    def controller_rows(self, limit: int, offset: int) -> tuple[int, list[dict]]:
        if "Controllers" not in self.tables:
            return 0, []
        rows = self._rows("SELECT * FROM Controllers ORDER BY timestamp, controller_id LIMIT ? OFFSET ?",
                          (limit, offset))
        for r in rows:
            r["config"] = _json(r["config"])
        return self._count("Controllers"), rows

    # -- hummingbot-api replies ---------------------------------------------------------------------
    def status(self) -> DbStatus:
        def table(name: str) -> str:
            if name not in self.tables:
                return f"Error - no such table: {name}"
            return "Correct" if self._count(name) > 0 else "Error - No records matched"

        st = {"db_name": self.path.name, "db_path": self.display, "trade_fill": table("TradeFill"),
              "orders": table("Order"), "order_status": table("OrderStatus"), "executors": table("Executors"),
              "controllers": table("Controllers"), "positions": table("Position")}
        st["general_status"] = all(v == "Correct" for k, v in st.items() if k not in ("db_name", "db_path"))
        return DbStatus(db_path=self.display, status=st, healthy=st["general_status"])

    def summary(self) -> DbSummary:
        pairs, exchanges = [], []
        if "Order" in self.tables:
            pairs = [r["symbol"] for r in self._rows('SELECT symbol FROM "Order" GROUP BY symbol ORDER BY min(rowid)')]
            exchanges = [r["market"] for r in self._rows('SELECT market FROM "Order" GROUP BY market ORDER BY min(rowid)')]
        return DbSummary(db_path=self.display, total_orders=self._count("Order"),
                         total_trades=self._count("TradeFill"), total_executors=self._count("Executors"),
                         total_positions=self._count("Position"), total_controllers=self._count("Controllers"),
                         trading_pairs=pairs, exchanges=exchanges)

    def trades(self, limit: int, offset: int) -> DbTrades:
        total, rows = self.trade_rows(limit, offset)
        return DbTrades(db_path=self.display, trades=rows, pagination=_page(total, limit, offset))

    def orders(self, limit: int, offset: int, status: str | None = None) -> DbOrdersPage:
        total, rows = self.order_rows(limit, offset, status)
        return DbOrdersPage(db_path=self.display, orders=rows, pagination=_page(total, limit, offset))

    def positions(self, limit: int, offset: int) -> DbPositions:
        total, rows = self.position_rows(limit, offset)
        return DbPositions(db_path=self.display, positions=rows, pagination=_page(total, limit, offset))

    def executors(self, limit: int, offset: int) -> DbExecutors:
        total, rows = self.executor_rows(limit, offset)
        return DbExecutors(db_path=self.display, executors=rows, total=total, pagination=_page(total, limit, offset))

    def controllers(self, limit: int, offset: int) -> DbControllers:
        total, rows = self.controller_rows(limit, offset)
        return DbControllers(db_path=self.display, controllers=rows, total=total,
                             pagination=_page(total, limit, offset))

    def performance(self) -> DbPerformance:
        _, trades = self.trade_rows()
        if not trades:
            return DbPerformance(db_path=self.display, performance_data=[], error="No trades found in database")
        data = trade_based_performance(trades)
        last: dict[tuple[str, str], dict] = {}
        for row in data:
            last[(row["trading_pair"], row["connector_name"])] = row
        finals = list(last.values())
        summary = PerformanceSummary(
            total_trades=len(data),
            final_net_pnl_quote=sum(r["net_pnl_quote"] for r in finals),
            final_realized_pnl_quote=sum(r["realized_trade_pnl_quote"] for r in finals),
            final_unrealized_pnl_quote=sum(r["unrealized_trade_pnl_quote"] for r in finals),
            total_fees_quote=sum(r["fees_quote"] for r in data),
            total_volume_quote=sum(r["cum_volume_quote"] for r in finals),
            final_net_position=sum(r["net_position"] for r in finals),
            trading_pairs=list(dict.fromkeys(r["trading_pair"] for r in data)),
            connector_names=list(dict.fromkeys(r["connector_name"] for r in data)))
        return DbPerformance(db_path=self.display, summary=summary, performance_data=data)


def trade_based_performance(trades: list[dict]) -> list[dict]:
    """Rolling average-price PnL per (trading_pair, connector_name), in trade time order.

    realized = (sell_avg - buy_avg) / buy_avg * min(bought, sold) * buy_avg; unrealized values the open
    net position at the trade's price against the average entry of its side; net = realized + unrealized -
    this trade's fee (hummingbot-api's definitions)."""
    state: dict[tuple[str, str], dict] = defaultdict(lambda: dict(bv=0.0, sv=0.0, bq=0.0, sq=0.0, vol=0.0))
    out = []
    for t in sorted(trades, key=lambda t: t["timestamp"]):
        s = state[(t["trading_pair"], t["connector_name"])]
        side = str(t["trade_type"]).upper()
        price, amount = float(t["price"]), float(t["amount"])
        if side == "BUY":
            s["bv"] += amount
            s["bq"] += price * amount
        elif side == "SELL":
            s["sv"] += amount
            s["sq"] += price * amount
        buy_avg = s["bq"] / s["bv"] if s["bv"] else 0.0
        sell_avg = s["sq"] / s["sv"] if s["sv"] else 0.0
        net = s["bv"] - s["sv"]
        realized_pct = (sell_avg - buy_avg) / buy_avg if buy_avg and sell_avg else 0.0
        realized = realized_pct * min(s["bv"], s["sv"]) * buy_avg
        if net > 0 and buy_avg:
            unrealized_pct = (price - buy_avg) / buy_avg
            unrealized = unrealized_pct * abs(net) * buy_avg
        elif net < 0 and sell_avg:
            unrealized_pct = (sell_avg - price) / sell_avg
            unrealized = unrealized_pct * abs(net) * sell_avg
        else:
            unrealized_pct = unrealized = 0.0
        fee = float(t.get("trade_fee_in_quote") or 0.0)
        s["vol"] += price * amount
        out.append({"timestamp": t["timestamp"], "price": price, "amount": amount, "trade_type": t["trade_type"],
                    "trading_pair": t["trading_pair"], "connector_name": t["connector_name"],
                    "buy_avg_price": buy_avg, "buy_volume": s["bv"], "sell_avg_price": sell_avg,
                    "sell_volume": s["sv"], "net_position": net, "realized_trade_pnl_pct": realized_pct,
                    "realized_trade_pnl_quote": realized, "unrealized_trade_pnl_pct": unrealized_pct,
                    "unrealized_trade_pnl_quote": unrealized, "fees_quote": fee,
                    "net_pnl_quote": realized + unrealized - fee, "volume_quote": price * amount,
                    "cum_volume_quote": s["vol"]})
    return out
