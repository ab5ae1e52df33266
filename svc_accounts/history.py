"""Balance snapshots in SQL (SQLite by default, Postgres via HBMESH_DATABASE_URL) and their history pages.

A snapshot is one pass of the balance loop: one row per (account, connector) with its token rows, and
whether that connector's figures are stale (its last read failed; the last good figures are carried).

History pages follow hummingbot-api's ``POST /portfolio/history``: newest first, ``limit`` items, a
``cursor`` to continue, ``start_time``/``end_time`` (epoch seconds, or ms), and ``interval`` buckets
(5m, 15m, 30m, 1h, 4h, 12h, 1d: the newest snapshot of each bucket). Paging is keyset-based
(``ts_ms:id``), so pages never repeat or skip a snapshot while new ones are written.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from shared.db import create_engine

from shared.errors import BadRequest

INTERVALS_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
                "4h": 14_400_000, "12h": 43_200_000, "1d": 86_400_000}
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


@dataclass
class ConnectorState:
    """One connector's figures in a snapshot."""

    account: str
    connector: str
    tokens: list[dict[str, float | str]]
    stale: bool = False
    error: str | None = None
    updated_ms: int | None = None  # when these figures were last read successfully


@dataclass
class Snapshot:
    ts_ms: int
    quote: str
    states: list[ConnectorState] = field(default_factory=list)
    id: int | None = None

    def as_state(self) -> dict[str, dict[str, list[dict]]]:
        out: dict[str, dict[str, list[dict]]] = {}
        for s in self.states:
            out.setdefault(s.account, {})[s.connector] = s.tokens
        return out


def iso(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).isoformat()


def to_ms(value: int | float | None) -> int | None:
    """Epoch seconds or milliseconds (hummingbot-api's router divides by 1000, its client sends seconds)."""
    if value is None or value == 0:
        return None
    value = float(value)
    return int(value if value > 100_000_000_000 else value * 1000)


def parse_cursor(cursor: str | None) -> tuple[int, int | None] | None:
    """``ts_ms:id`` (ours) or an ISO timestamp (hummingbot-api's) -> (ts_ms, id or None)."""
    if not cursor:
        return None
    m = re.fullmatch(r"(\d{1,16}):(\d{1,19})", cursor)
    if m:
        return int(m.group(1)), int(m.group(2))
    try:
        parsed = dt.datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"invalid cursor {cursor[:64]!r}: pass back the next_cursor of the previous page") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000), None


class SnapshotStore:
    def __init__(self, url: str, table_prefix: str = "accounts_"):
        if not _PREFIX_RE.fullmatch(table_prefix.rstrip("_") or "x"):
            raise ValueError(f"invalid table prefix {table_prefix!r}")
        self.engine = create_engine(url)
        self.metadata = sa.MetaData()
        p = table_prefix
        self.snapshots = sa.Table(
            f"{p}snapshots", self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("ts_ms", sa.BigInteger, nullable=False, index=True),
            sa.Column("quote", sa.String(32), nullable=False),
        )
        self.states = sa.Table(
            f"{p}connector_states", self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("snapshot_id", sa.Integer, sa.ForeignKey(f"{p}snapshots.id", ondelete="CASCADE"),
                      nullable=False, index=True),
            sa.Column("account_name", sa.String(128), nullable=False, index=True),
            sa.Column("connector_name", sa.String(64), nullable=False),
            sa.Column("stale", sa.Boolean, nullable=False, default=False),
            sa.Column("error", sa.Text),
            sa.Column("updated_ms", sa.BigInteger),
        )
        self.tokens = sa.Table(
            f"{p}token_states", self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("state_id", sa.Integer, sa.ForeignKey(f"{p}connector_states.id", ondelete="CASCADE"),
                      nullable=False, index=True),
            sa.Column("token", sa.String(64), nullable=False),
            sa.Column("units", sa.Float, nullable=False),
            sa.Column("price", sa.Float, nullable=False),
            sa.Column("value", sa.Float, nullable=False),
            sa.Column("available_units", sa.Float, nullable=False),
        )
        self.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def drop(self) -> None:
        """Drop this store's tables (tests)."""
        self.metadata.drop_all(self.engine)

    # ------------------------------------------------------------------ writing
    def write(self, snap: Snapshot) -> int:
        """Store a snapshot in one transaction; returns its id."""
        with self.engine.begin() as c:
            snap_id = c.execute(self.snapshots.insert().values(ts_ms=snap.ts_ms, quote=snap.quote)
                                .returning(self.snapshots.c.id)).scalar_one()
            for s in snap.states:
                state_id = c.execute(self.states.insert().values(
                    snapshot_id=snap_id, account_name=s.account, connector_name=s.connector, stale=s.stale,
                    error=s.error, updated_ms=s.updated_ms).returning(self.states.c.id)).scalar_one()
                if s.tokens:
                    c.execute(self.tokens.insert(), [
                        {"state_id": state_id, "token": t["token"], "units": t["units"], "price": t["price"],
                         "value": t["value"], "available_units": t["available_units"]} for t in s.tokens])
        snap.id = snap_id
        return snap_id

    # ------------------------------------------------------------------ reading
    def _load(self, c, snapshot_ids: list[int], accounts: list[str] | None,
              connectors: list[str] | None) -> dict[int, list[ConnectorState]]:
        if not snapshot_ids:
            return {}
        q = sa.select(self.states).where(self.states.c.snapshot_id.in_(snapshot_ids))
        if accounts:
            q = q.where(self.states.c.account_name.in_(accounts))
        if connectors:
            q = q.where(self.states.c.connector_name.in_(connectors))
        rows = c.execute(q.order_by(self.states.c.id)).mappings().all()
        tokens: dict[int, list[dict]] = {}
        if rows:
            tq = sa.select(self.tokens).where(self.tokens.c.state_id.in_([r["id"] for r in rows])) \
                .order_by(self.tokens.c.id)
            for t in c.execute(tq).mappings():
                tokens.setdefault(t["state_id"], []).append(
                    {"token": t["token"], "units": t["units"], "price": t["price"], "value": t["value"],
                     "available_units": t["available_units"]})
        out: dict[int, list[ConnectorState]] = {}
        for r in rows:
            out.setdefault(r["snapshot_id"], []).append(ConnectorState(
                r["account_name"], r["connector_name"], tokens.get(r["id"], []), bool(r["stale"]), r["error"],
                r["updated_ms"]))
        return out

    def latest(self) -> Snapshot | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(self.snapshots).order_by(self.snapshots.c.ts_ms.desc(),
                                                               self.snapshots.c.id.desc()).limit(1)).mappings().first()
            if row is None:
                return None
            states = self._load(c, [row["id"]], None, None).get(row["id"], [])
        return Snapshot(row["ts_ms"], row["quote"], states, row["id"])

    def page(self, *, limit: int = 100, cursor: str | None = None, start_time: int | float | None = None,
             end_time: int | float | None = None, interval: str | None = None,
             account_names: list[str] | None = None, connector_names: list[str] | None = None) -> dict[str, Any]:
        """One page of history in hummingbot-api's shape: ``{"data": [...], "pagination": {...}}``."""
        if not 1 <= limit <= 10_000:
            raise BadRequest("limit must be between 1 and 10000")
        if interval is not None and interval not in INTERVALS_MS:
            raise BadRequest(f"invalid interval {interval!r}; use one of {', '.join(INTERVALS_MS)}")
        lo, hi = to_ms(start_time), to_ms(end_time)
        if lo is not None and hi is not None and lo > hi:
            raise BadRequest("start_time is after end_time")
        after = parse_cursor(cursor)
        s = self.snapshots
        where = []
        if lo is not None:
            where.append(s.c.ts_ms >= lo)
        if hi is not None:
            where.append(s.c.ts_ms <= hi)
        if account_names or connector_names:
            exists = sa.select(self.states.c.id).where(self.states.c.snapshot_id == s.c.id)
            if account_names:
                exists = exists.where(self.states.c.account_name.in_(account_names))
            if connector_names:
                exists = exists.where(self.states.c.connector_name.in_(connector_names))
            where.append(exists.exists())
        iv = INTERVALS_MS.get(interval) if interval else None
        with self.engine.connect() as c:
            if iv is None:
                if after is not None:
                    ts, sid = after
                    where.append(s.c.ts_ms < ts if sid is None else
                                 sa.or_(s.c.ts_ms < ts, sa.and_(s.c.ts_ms == ts, s.c.id < sid)))
                rows = c.execute(sa.select(s.c.id, s.c.ts_ms).where(*where)
                                 .order_by(s.c.ts_ms.desc(), s.c.id.desc()).limit(limit + 1)).all()
            else:
                if after is not None:
                    where.append(s.c.ts_ms < after[0] - after[0] % iv)  # before the cursor's bucket
                bucket = (s.c.ts_ms // iv).label("bucket")
                newest = c.execute(sa.select(bucket, sa.func.max(s.c.ts_ms).label("m")).where(*where)
                                   .group_by(bucket).order_by(bucket.desc()).limit(limit + 1)).all()
                wanted = [r.m for r in newest]
                rows = []
                if wanted:
                    picked = c.execute(sa.select(s.c.ts_ms, sa.func.max(s.c.id).label("id"))
                                       .where(s.c.ts_ms.in_(wanted), *where).group_by(s.c.ts_ms)).all()
                    rows = sorted(((r.id, r.ts_ms) for r in picked), key=lambda r: (r[1], r[0]), reverse=True)
            has_more = len(rows) > limit
            rows = rows[:limit]
            states = self._load(c, [r[0] for r in rows], account_names, connector_names)
        data = []
        for snap_id, ts_ms in rows:
            snap = Snapshot(ts_ms, "", states.get(snap_id, []), snap_id)
            item: dict[str, Any] = {"timestamp": iso(ts_ms), "state": snap.as_state()}
            stale = {}
            for st in snap.states:
                if st.stale:
                    stale.setdefault(st.account, []).append(st.connector)
            if stale:
                item["stale"] = stale
            data.append(item)
        next_cursor = f"{rows[-1][1]}:{rows[-1][0]}" if has_more and rows else None
        return {"data": data, "pagination": {
            "limit": limit, "has_more": has_more, "next_cursor": next_cursor, "current_cursor": cursor,
            "filters": {"account_names": account_names, "connector_names": connector_names,
                        "start_time": start_time, "end_time": end_time, "interval": interval}}}


def now_ms() -> int:
    return int(time.time() * 1000)
