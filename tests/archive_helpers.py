"""Bot folders and bot databases for svc_archive tests, made with hummingbot's own SQLAlchemy models."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from hummingbot.model import HummingbotBase, get_declarative_base
from hummingbot.model.controllers import Controllers
from hummingbot.model.executors import Executors
from hummingbot.model.order import Order
from hummingbot.model.order_status import OrderStatus
from hummingbot.model.position import Position
from hummingbot.model.trade_fill import TradeFill

T0 = 1_735_689_600_000  # ms, hummingbot's order/fill timestamps

# (side, price, amount, fee in quote)
FILLS_A = [("BUY", "100", "1", "0.1"), ("BUY", "110", "1", "0.11"), ("SELL", "120", "1.5", "0.18")]
FILLS_B = [("SELL", "50", "2", "0.05"), ("BUY", "40", "1", "0.04")]


def make_bot_db(path: Path, bot: str, *, pair: str = "BTC-USDT", connector: str = "binance",
                fills=FILLS_A, cancelled: int = 1, t0: int = T0) -> Path:
    """A bot database as hummingbot writes it: filled orders with their fills and statuses, cancelled orders,
    one executor per fill, a position and a controller."""
    get_declarative_base()
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    HummingbotBase.metadata.create_all(engine, tables=[m.__table__ for m in (
        Order, TradeFill, OrderStatus, Executors, Controllers, Position)])
    base, quote = pair.split("-")
    common = dict(config_file_path=f"{bot}.yml", strategy="v2_with_controllers", market=connector, symbol=pair,
                  base_asset=base, quote_asset=quote)
    with Session(engine) as s:
        for i, (side, price, amount, fee) in enumerate(fills):
            oid = f"{bot}-o{i}"
            ts = t0 + i * 60_000
            s.add(Order(id=oid, creation_timestamp=ts, order_type="LIMIT", amount=Decimal(amount), leverage=1,
                        price=Decimal(price), last_status="OrderFilled", last_update_timestamp=ts + 1000,
                        exchange_order_id=f"x{i}", position="NIL", **common))
            s.add(OrderStatus(order_id=oid, timestamp=ts, status="OrderCreated"))
            s.add(OrderStatus(order_id=oid, timestamp=ts + 1000, status="OrderFilled"))
            s.add(TradeFill(timestamp=ts + 1000, order_id=oid, trade_type=side, order_type="LIMIT",
                            price=Decimal(price), amount=Decimal(amount), leverage=1,
                            trade_fee={"percent": "0.001", "percent_token": quote, "flat_fees": []},
                            trade_fee_in_quote=Decimal(fee), exchange_trade_id=f"{bot}-t{i}", position="NIL",
                            **common))
            s.add(Executors(id=f"{bot}-e{i}", timestamp=(ts / 1000), type="position_executor", close_type=3,
                            close_timestamp=ts // 1000 + 60, status=3,
                            config={"trading_pair": pair, "connector_name": connector, "side": 1 if side == "BUY" else 2},
                            net_pnl_pct=0.01 * i, net_pnl_quote=1.5 * i, cum_fees_quote=float(fee),
                            filled_amount_quote=float(Decimal(price) * Decimal(amount)), is_active=False,
                            is_trading=False, custom_info={"order_ids": [oid]}, controller_id=f"{bot}-ctrl"))
        for j in range(cancelled):
            oid = f"{bot}-c{j}"
            ts = t0 + (len(fills) + j) * 60_000
            s.add(Order(id=oid, creation_timestamp=ts, order_type="LIMIT", amount=Decimal("1"), leverage=1,
                        price=Decimal("90"), last_status="OrderCancelled", last_update_timestamp=ts + 500,
                        **common))
        s.add(Position(id=f"{bot}-p0", controller_id=f"{bot}-ctrl", connector_name=connector, side="BUY",
                       trading_pair=pair, timestamp=t0 // 1000, volume_traded_quote=Decimal("330.5"),
                       amount=Decimal("0.5"), breakeven_price=Decimal("105.25"),
                       unrealized_pnl_quote=Decimal("7.375"), realized_pnl_quote=Decimal("12.5"),
                       cum_fees_quote=Decimal("0.39")))
        s.add(Controllers(id=f"{bot}-ctrl", timestamp=t0 / 1000, type="market_making",
                          config={"controller_name": "pmm_simple", "trading_pair": pair}))
        s.commit()
    engine.dispose()
    return path


def make_instance(bots: Path, bot: str, **db_kwargs) -> Path:
    """bots/instances/<bot> with conf, logs and data/<bot>.sqlite, as hummingbot-api deploys a bot."""
    root = bots / "instances" / bot
    (root / "conf" / "controllers").mkdir(parents=True, exist_ok=True)
    (root / "conf" / "controllers" / "pmm.yml").write_text("controller_name: pmm_simple\n")
    (root / "logs").mkdir(exist_ok=True)
    (root / "logs" / "logs_hummingbot.log").write_text("started\nstopped\n")
    make_bot_db(root / "data" / f"{bot}.sqlite", bot, **db_kwargs)
    return root


def table_rows(path: Path, table: str, skip: tuple[str, ...] = ()) -> set[tuple]:
    """A table's rows as a set (columns in `skip`, e.g. a rowid alias, left out)."""
    conn = sqlite3.connect(path)
    try:
        cols = [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")') if c[1] not in skip]
        return set(conn.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}"'))
    finally:
        conn.close()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
