"""Persistent backtest tasks (SQLite by default, Postgres via HBMESH_DATABASE_URL).

Any instance may run any pending task: it claims it with a lease it keeps renewing. A task whose
owner died (lease expired) is claimed again by whoever sees it first, up to MAX_ATTEMPTS times.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import sqlalchemy as sa

from shared.db import create_engine

MAX_ATTEMPTS = 2
FINISHED = ("completed", "failed", "cancelled")

metadata = sa.MetaData()
tasks = sa.Table(
    "backtest_tasks", metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("completed_at", sa.Float),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("error", sa.Text),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("sweep_id", sa.String(64), index=True),
    sa.Column("params", sa.Text),
    sa.Column("metric", sa.Float),
    sa.Column("summary", sa.Text),
    sa.Column("owner", sa.String(128)),
    sa.Column("lease_until", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
)


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat() if ts else None


def new_id() -> str:
    return uuid.uuid4().hex[:12]


class TaskStore:
    def __init__(self, url: str, lease_s: float = 15.0):
        self.engine = create_engine(url)
        metadata.create_all(self.engine)
        self.lease_s = lease_s

    def add(self, request: dict, sweep_id: str | None = None, params: dict | None = None,
            owner: str | None = None, task_id: str | None = None) -> str:
        task_id = task_id or new_id()
        now = time.time()
        row = {"task_id": task_id, "status": "running" if owner else "pending", "created_at": now,
               "request": json.dumps(request), "sweep_id": sweep_id, "params": json.dumps(params or {}),
               "progress": 0.0, "attempts": 1 if owner else 0}
        if owner:
            row.update(owner=owner, lease_until=now + self.lease_s, started_at=now)
        with self.engine.begin() as c:
            c.execute(tasks.insert().values(**row))
        return task_id

    def claim(self, owner: str) -> dict | None:
        """Take one runnable task: pending, or running with an expired lease (its owner died)."""
        now = time.time()
        with self.engine.begin() as c:
            for _ in range(5):
                row = c.execute(sa.select(tasks).where(sa.or_(
                    tasks.c.status == "pending",
                    sa.and_(tasks.c.status == "running", tasks.c.lease_until < now)))
                    .order_by(tasks.c.created_at).limit(1)).mappings().first()
                if row is None:
                    return None
                if row["attempts"] >= MAX_ATTEMPTS:
                    c.execute(tasks.update().where(tasks.c.task_id == row["task_id"]).values(
                        status="failed", completed_at=now,
                        error=f"worker lost {row['attempts']} times (killed or crashed); not retried"))
                    continue
                won = c.execute(tasks.update().where(
                    tasks.c.task_id == row["task_id"], tasks.c.status == row["status"],
                    tasks.c.attempts == row["attempts"]).values(
                    status="running", owner=owner, lease_until=now + self.lease_s, started_at=now,
                    attempts=row["attempts"] + 1, progress=0.0))
                if won.rowcount == 1:
                    return {**row, "status": "running", "attempts": row["attempts"] + 1}
        return None

    def renew(self, task_ids: list[str], owner: str) -> None:
        if task_ids:
            with self.engine.begin() as c:
                c.execute(tasks.update().where(tasks.c.task_id.in_(task_ids), tasks.c.owner == owner,
                                               tasks.c.status == "running")
                          .values(lease_until=time.time() + self.lease_s))

    def progress(self, task_id: str, progress: float) -> None:
        with self.engine.begin() as c:
            c.execute(tasks.update().where(tasks.c.task_id == task_id, tasks.c.status == "running")
                      .values(progress=progress))

    def finish(self, task_id: str, status: str, summary: dict | None = None, error: str | None = None,
               metric: float | None = None, owner: str | None = None) -> bool:
        """Record the end of a task; refused (False) when it was cancelled or taken over meanwhile."""
        cond = [tasks.c.task_id == task_id, tasks.c.status.in_(("running", "pending"))]
        if owner:
            cond.append(tasks.c.owner == owner)
        with self.engine.begin() as c:
            res = c.execute(tasks.update().where(*cond).values(
                status=status, completed_at=time.time(), error=error, metric=metric,
                summary=json.dumps(summary) if summary is not None else None,
                progress=100.0 if status == "completed" else sa.literal_column("progress")))
        return res.rowcount == 1

    def cancel(self, task_id: str) -> str | None:
        """Mark cancelled unless finished; returns the status before, or None when unknown."""
        with self.engine.begin() as c:
            row = c.execute(sa.select(tasks.c.status).where(tasks.c.task_id == task_id)).first()
            if row is None:
                return None
            if row.status not in FINISHED:
                c.execute(tasks.update().where(tasks.c.task_id == task_id)
                          .values(status="cancelled", completed_at=time.time()))
            return row.status

    def get(self, task_id: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(tasks).where(tasks.c.task_id == task_id)).mappings().first()
        return dict(row) if row else None

    def list(self, status: str | None = None, sweep_id: str | None = None, limit: int = 100) -> list[dict]:
        q = sa.select(tasks).order_by(tasks.c.created_at.desc()).limit(limit)
        if status:
            q = q.where(tasks.c.status == status)
        if sweep_id:
            q = q.where(tasks.c.sweep_id == sweep_id)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    @staticmethod
    def info(row: dict, with_result: bool = False) -> dict:
        out = {"task_id": row["task_id"], "status": row["status"], "created_at": _iso(row["created_at"]),
               "started_at": _iso(row["started_at"]), "completed_at": _iso(row["completed_at"]),
               "progress": row["progress"] or 0.0, "error": row["error"], "sweep_id": row["sweep_id"],
               "attempts": row["attempts"]}
        if with_result and row["summary"]:
            out["result"] = json.loads(row["summary"])
        return out
