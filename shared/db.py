"""SQLAlchemy engines for the services' stores: SQLite by default (WAL, shared by the instances on one
machine), any SQLAlchemy URL (Postgres) through HBMESH_DATABASE_URL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def create_engine(url: str) -> sa.Engine:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @sa.event.listens_for(engine, "connect")
        def _wal(conn, _record):  # several processes write one file: WAL plus waiting instead of failing
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
    return engine
