"""Checkpoints (the old backend-api's manage_databases): several bot databases merged into one SQLite file,
bots/data/checkpoint_<name>.sqlite, that every database command can read like a bot database.

The merge is a set union, table by table: tables are created from the first source that has them, rows are
copied with the columns both sides have, a row already present (same primary key) is kept once, and tables
keyed by an SQLite rowid alias (Controllers.controller_id, OrderStatus.id) get new ids, a row being kept once
when all its other columns are equal. Each source is merged in its own transaction: a corrupt or locked database
is rolled back and reported with its reason instead of failing the checkpoint. The file is written beside
its final name and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from pathlib import Path

from shared.errors import Conflict, Invalid, NotFound
from shared.schemas.archive import CheckpointData, CheckpointInfo, SourceReport

from .botdb import BotDb, connect, db_error, uri
from .paths import BotsFolder

SOURCES = "_hbmesh_checkpoint_sources"
META = "_hbmesh_checkpoint"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[tuple[str, bool]]:
    """(column, is rowid alias) of a table."""
    cols = conn.execute(f"PRAGMA {schema}.table_info({_q(table)})").fetchall()
    pks = [c for c in cols if c[5]]
    alias = len(pks) == 1 and str(pks[0][2]).upper() == "INTEGER"
    return [(c[1], alias and c[5] == 1) for c in cols]


def _merge_source(conn: sqlite3.Connection, path: Path, timeout: float) -> dict[str, int]:
    with contextlib.closing(connect(path, timeout)) as probe:  # header, lock and integrity, before merging
        row = probe.execute("PRAGMA quick_check").fetchone()
        if row[0] != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {row[0]}")
    conn.execute("ATTACH DATABASE ? AS src", (uri(path, "ro"),))
    try:
        conn.execute("BEGIN")
        try:
            counts: dict[str, int] = {}
            tables = conn.execute("SELECT name, sql FROM src.sqlite_master WHERE type='table' "
                                  "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
            for table, create_sql in tables:
                if table in (SOURCES, META):
                    continue
                exists = conn.execute("SELECT 1 FROM main.sqlite_master WHERE type='table' AND name=?",
                                      (table,)).fetchone()
                if not exists:
                    conn.execute(create_sql)  # unqualified: created in main
                main_cols = _columns(conn, "main", table)
                src_names = {c for c, _ in _columns(conn, "src", table)}
                alias = [c for c, a in main_cols if a]
                cols = [c for c, a in main_cols if c in src_names and not a]
                if not cols:
                    continue
                names = ", ".join(_q(c) for c in cols)
                before = conn.total_changes
                if alias:
                    same = " AND ".join(f"m.{_q(c)} IS s.{_q(c)}" for c in cols)
                    conn.execute(f"INSERT INTO main.{_q(table)} ({names}) SELECT {names} FROM src.{_q(table)} s "
                                 f"WHERE NOT EXISTS (SELECT 1 FROM main.{_q(table)} m WHERE {same})")
                else:
                    conn.execute(f"INSERT OR IGNORE INTO main.{_q(table)} ({names}) "
                                 f"SELECT {names} FROM src.{_q(table)}")
                counts[table] = conn.total_changes - before
            conn.execute("COMMIT")
            return counts
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("DETACH DATABASE src")


def create(folder: BotsFolder, name: str, sources: list[tuple[Path, str]], *, overwrite: bool = False,
           timeout: float = 2.0) -> CheckpointInfo:
    """Merge (path, shown path) sources into checkpoint `name`; unreadable sources are skipped with a reason."""
    dest = folder.checkpoint_file(name)
    if dest.exists() and not overwrite:
        raise Conflict(f"checkpoint '{name}' already exists (overwrite=true replaces it)")
    if not sources:
        raise Invalid("no databases to merge: give db_paths or archive some bots first")
    folder.ensure()
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    reports: list[SourceReport] = []
    conn = sqlite3.connect(uri(tmp, "rwc"), timeout=timeout, isolation_level=None, uri=True)
    try:
        conn.execute(f"CREATE TABLE {SOURCES} (db_path TEXT, merged INTEGER, reason TEXT, rows TEXT)")
        conn.execute(f"CREATE TABLE {META} (key TEXT PRIMARY KEY, value TEXT)")
        for path, shown in sources:
            try:
                counts = _merge_source(conn, path, timeout)
                reports.append(SourceReport(shown, True, counts))
            except sqlite3.Error as exc:
                reports.append(SourceReport(shown, False, reason=db_error(exc, path).msg))
            except Exception as exc:  # noqa: BLE001 - Unreadable/Conflict from the probe
                reports.append(SourceReport(shown, False, reason=getattr(exc, "msg", str(exc))))
        if not any(r.merged for r in reports):
            raise Invalid("no database could be merged: " + "; ".join(f"{r.db_path}: {r.reason}" for r in reports))
        conn.executemany(f"INSERT INTO {SOURCES} VALUES (?, ?, ?, ?)",
                         [(r.db_path, int(r.merged), r.reason, json.dumps(r.rows)) for r in reports])
        conn.executemany(f"INSERT INTO {META} VALUES (?, ?)", [("name", name), ("created_at", str(time.time()))])
        conn.close()
        os.replace(tmp, dest)
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    return info(folder, name)


def info(folder: BotsFolder, name: str) -> CheckpointInfo:
    path = folder.checkpoint_file(name)
    if not path.is_file():
        raise NotFound(f"checkpoint '{name}' not found")
    with contextlib.closing(connect(path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                             "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        counts = {t: conn.execute(f"SELECT count(*) FROM {_q(t)}").fetchone()[0]
                  for t in tables if t not in (SOURCES, META)}
        sources, created = [], path.stat().st_mtime
        if SOURCES in tables:
            sources = [SourceReport(r[0], bool(r[1]), json.loads(r[3] or "{}"), r[2])
                       for r in conn.execute(f"SELECT db_path, merged, reason, rows FROM {SOURCES}")]
        if META in tables:
            row = conn.execute(f"SELECT value FROM {META} WHERE key='created_at'").fetchone()
            created = float(row[0]) if row else created
    return CheckpointInfo(name=name, db_path=folder.display(path), size=path.stat().st_size, created_at=created,
                          sources=sources, tables=counts)


def list_all(folder: BotsFolder) -> list[CheckpointInfo]:
    out = []
    if folder.data.is_dir():
        for path in sorted(folder.data.glob("checkpoint_*.sqlite")):
            try:
                out.append(info(folder, path.name[len("checkpoint_"): -len(".sqlite")]))
            except Exception:  # noqa: BLE001 - a foreign or broken file is not listed
                continue
    return sorted(out, key=lambda c: c.created_at)


def load(folder: BotsFolder, name: str, limit: int) -> CheckpointData:
    meta = info(folder, name)
    path = folder.checkpoint_file(name)
    with BotDb(path, meta.db_path) as db:
        status = db.order_status_rows(limit) if "OrderStatus" in db.tables else []
        return CheckpointData(name=name, db_path=meta.db_path, sources=meta.sources, tables=meta.tables,
                              orders=db.order_rows(limit, 0)[1], trade_fill=db.trade_rows(limit, 0)[1],
                              order_status=status, executors=db.executor_rows(limit, 0)[1],
                              positions=db.position_rows(limit, 0)[1], controllers=db.controller_rows(limit, 0)[1])
