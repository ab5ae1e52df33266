"""Bot runs and controller performance snapshots in SQL (SQLite by default, Postgres via HBMESH_DATABASE_URL).

A run: deployed (DEPLOYED/FAILED/ARCHIVED deployment_status) and its life (CREATED/RUNNING/STOPPED/ERROR
run_status), with the config it ran and the final status captured before archiving. Blocking: call
through asyncio.to_thread.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import sqlalchemy as sa

from shared.db import create_engine

metadata = sa.MetaData()
bot_runs = sa.Table(
    "fleet_bot_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("bot_name", sa.String(160), nullable=False, index=True),
    sa.Column("instance_name", sa.String(160), nullable=False),
    sa.Column("account_name", sa.String(128)),
    sa.Column("strategy_type", sa.String(32)),
    sa.Column("strategy_name", sa.String(256)),
    sa.Column("image", sa.String(256)),
    sa.Column("config", sa.Text),
    sa.Column("deployment_status", sa.String(16), nullable=False, index=True),
    sa.Column("run_status", sa.String(16), nullable=False, index=True),
    sa.Column("deployed_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("stopped_at", sa.Float),
    sa.Column("archived_at", sa.Float),
    sa.Column("error_message", sa.Text),
    sa.Column("final_status", sa.Text),
)
snapshots = sa.Table(
    "fleet_controller_performance", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("bot_name", sa.String(160), nullable=False),
    sa.Column("controller_id", sa.String(256), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("realized_pnl_quote", sa.Float),
    sa.Column("unrealized_pnl_quote", sa.Float),
    sa.Column("global_pnl_quote", sa.Float),
    sa.Column("global_pnl_pct", sa.Float),
    sa.Column("volume_traded", sa.Float),
    sa.Column("performance", sa.Text),
    sa.Index("ix_fleet_perf_bot_ctrl_ts", "bot_name", "controller_id", "ts"),
)

METRICS = ("realized_pnl_quote", "unrealized_pnl_quote", "global_pnl_quote", "global_pnl_pct", "volume_traded")
INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "1d": 86400}


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat() if ts else None


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"time {value!r} is neither epoch seconds nor ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


class RunStore:
    def __init__(self, url: str):
        self.engine = create_engine(url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ runs
    def add(self, bot_name: str, instance_name: str, account_name: str | None, strategy_type: str,
            strategy_name: str | None, image: str, config: dict | None, deployment_status: str = "DEPLOYED",
            error: str | None = None) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(bot_runs.insert().values(
                bot_name=bot_name, instance_name=instance_name, account_name=account_name,
                strategy_type=strategy_type, strategy_name=strategy_name, image=image,
                config=json.dumps(config or {}, default=str), deployment_status=deployment_status,
                run_status="CREATED" if deployment_status == "DEPLOYED" else "ERROR", deployed_at=time.time(),
                error_message=error))
            return int(res.inserted_primary_key[0])

    def latest_for(self, bot_name: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(bot_runs).where(bot_runs.c.bot_name == bot_name)
                               .order_by(bot_runs.c.id.desc()).limit(1)).mappings().first()
        return dict(row) if row else None

    def mark(self, bot_name: str, *, run_status: str | None = None, deployment_status: str | None = None,
             final_status: dict | None = None, error: str | None = None) -> bool:
        """Update the bot's latest run. Returns False when the bot has no run."""
        row = self.latest_for(bot_name)
        if row is None:
            return False
        values: dict[str, Any] = {}
        now = time.time()
        if run_status and run_status != row["run_status"]:
            values["run_status"] = run_status
            if run_status == "RUNNING" and not row["started_at"]:
                values["started_at"] = now
            if run_status == "STOPPED":
                values["stopped_at"] = now
        if deployment_status:
            values["deployment_status"] = deployment_status
            if deployment_status == "ARCHIVED":
                values["archived_at"] = now
        if final_status is not None:
            values["final_status"] = json.dumps(final_status, default=str)
        if error is not None:
            values["error_message"] = error
        if values:
            with self.engine.begin() as conn:
                conn.execute(bot_runs.update().where(bot_runs.c.id == row["id"]).values(**values))
        return True

    @staticmethod
    def _public(row: dict, include_final_status: bool) -> dict:
        out = {k: row[k] for k in ("id", "bot_name", "instance_name", "account_name", "strategy_type",
                                   "strategy_name", "image", "deployment_status", "run_status", "error_message")}
        out["config"] = json.loads(row["config"] or "{}")
        for k in ("deployed_at", "started_at", "stopped_at", "archived_at"):
            out[k] = _iso(row[k])
        if include_final_status:
            out["final_status"] = json.loads(row["final_status"]) if row["final_status"] else None
        return out

    def list(self, *, bot_name=None, account_name=None, strategy_type=None, strategy_name=None, run_status=None,
             deployment_status=None, limit=100, offset=0, include_final_status=False) -> dict:
        q = sa.select(bot_runs)
        for col, val in (("bot_name", bot_name), ("account_name", account_name), ("strategy_type", strategy_type),
                         ("strategy_name", strategy_name), ("run_status", run_status),
                         ("deployment_status", deployment_status)):
            if val is not None:
                q = q.where(bot_runs.c[col] == val)
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
            rows = conn.execute(q.order_by(bot_runs.c.id.desc()).limit(limit).offset(offset)).mappings().all()
        return {"data": [self._public(dict(r), include_final_status) for r in rows], "total": total,
                "limit": limit, "offset": offset}

    def get(self, run_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(bot_runs).where(bot_runs.c.id == run_id)).mappings().first()
        return self._public(dict(row), True) if row else None

    def delete(self, run_id: int) -> dict | None:
        run = self.get(run_id)
        if run is None:
            return None
        with self.engine.begin() as conn:
            conn.execute(bot_runs.delete().where(bot_runs.c.id == run_id))
        return run

    def stats(self) -> dict:
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(bot_runs)).scalar_one()
            by_run = dict(conn.execute(sa.select(bot_runs.c.run_status, sa.func.count())
                                       .group_by(bot_runs.c.run_status)).all())
            by_dep = dict(conn.execute(sa.select(bot_runs.c.deployment_status, sa.func.count())
                                       .group_by(bot_runs.c.deployment_status)).all())
            by_type = dict(conn.execute(sa.select(bot_runs.c.strategy_type, sa.func.count())
                                        .group_by(bot_runs.c.strategy_type)).all())
        return {"total_runs": total, "run_status_counts": by_run, "deployment_status_counts": by_dep,
                "strategy_type_counts": {str(k): v for k, v in by_type.items()}}

    # ------------------------------------------------------------ performance snapshots
    def snapshot(self, rows: list[tuple[str, str, dict]], ts: float | None = None) -> int:
        if not rows:
            return 0
        ts = ts or time.time()
        values = []
        for bot, cid, entry in rows:
            perf = entry.get("performance") or {}
            values.append({"bot_name": bot, "controller_id": cid, "ts": ts,
                           **{m: _num(perf.get(m)) for m in METRICS},
                           "performance": json.dumps(entry, default=str)})
        with self.engine.begin() as conn:
            conn.execute(snapshots.insert(), values)
        return len(values)

    @staticmethod
    def _snap(row) -> dict:
        entry = json.loads(row["performance"] or "{}")
        return {"id": row["id"], "bot_name": row["bot_name"], "controller_id": row["controller_id"],
                "timestamp": _iso(row["ts"]), **{m: row[m] for m in METRICS},
                "performance": entry.get("performance", {}), "custom_info": entry.get("custom_info", {})}

    def latest_performance(self, bot_name: str | None = None) -> list[dict]:
        sub = sa.select(snapshots.c.bot_name, snapshots.c.controller_id, sa.func.max(snapshots.c.id).label("mid"))
        if bot_name:
            sub = sub.where(snapshots.c.bot_name == bot_name)
        sub = sub.group_by(snapshots.c.bot_name, snapshots.c.controller_id).subquery()
        q = sa.select(snapshots).join(sub, snapshots.c.id == sub.c.mid).order_by(snapshots.c.bot_name,
                                                                                 snapshots.c.controller_id)
        with self.engine.connect() as conn:
            return [self._snap(r) for r in conn.execute(q).mappings().all()]

    def performance_history(self, *, bot_name=None, controller_id=None, limit=100, cursor=None, start_time=None,
                            end_time=None, interval="5m") -> dict:
        """Snapshots oldest first, at most one per `interval` bucket per controller; cursor = last id seen."""
        if interval not in INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
        step = INTERVALS[interval]
        q = sa.select(snapshots)
        if bot_name:
            q = q.where(snapshots.c.bot_name == bot_name)
        if controller_id:
            q = q.where(snapshots.c.controller_id == controller_id)
        if (start := _epoch(start_time)) is not None:
            q = q.where(snapshots.c.ts >= start)
        if (end := _epoch(end_time)) is not None:
            q = q.where(snapshots.c.ts <= end)
        if cursor:
            try:
                q = q.where(snapshots.c.id > int(cursor))
            except ValueError:
                raise ValueError("cursor must be the next_cursor of a previous page") from None
        out, buckets, last_id = [], set(), None
        with self.engine.connect() as conn:
            for row in conn.execute(q.order_by(snapshots.c.id)).mappings():
                last_id = row["id"]
                key = (row["bot_name"], row["controller_id"], int(row["ts"] // step))
                if key in buckets:
                    continue
                buckets.add(key)
                out.append(self._snap(row))
                if len(out) >= limit:
                    break
        more = len(out) >= limit
        return {"data": out, "pagination": {"limit": limit, "has_more": more,
                                            "next_cursor": str(last_id) if more else None}, "interval": interval}
