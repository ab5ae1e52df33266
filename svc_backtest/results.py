"""Full backtest results on disk: executors and pnl series as Parquet (one JSON row each), paged on request."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

PARTS = {"executors": "executors", "pnl": "pnl_timeseries"}


def write_result(folder: Path, result: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, field in PARTS.items():
        rows = [msgspec.json.encode(r).decode() for r in result.get(field) or []]
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(pa.table({"json": pa.array(rows, pa.string())}), tmp)
        tmp.replace(folder / f"{name}.parquet")  # atomic: readers never see half a file


def read_page(folder: Path, part: str, offset: int, limit: int) -> dict | None:
    path = folder / f"{part}.parquet"
    if not path.exists():
        return None
    table = pq.read_table(path)
    total = table.num_rows
    rows = table.slice(offset, limit).column("json").to_pylist()
    end = offset + len(rows)
    return {"total": total, "offset": offset, "items": [msgspec.json.decode(r) for r in rows],
            "next_offset": end if end < total else None}
