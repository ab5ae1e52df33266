"""Parquet candle store.

Layout (any ``pyarrow.fs.FileSystem``: local disk, S3, ...)::

    <root>/candles/<connector>/<PAIR>/<interval>/<period>.parquet

``<period>`` depends on the interval so that files stay between a few hundred and ~100k rows:

* ``1s``            -> one file per UTC day    (``2024-01-31.parquet``, 86,400 rows)
* ``1m`` .. ``30m`` -> one file per UTC month  (``2024-01.parquet``, 44,640 rows of 1m)
* ``1h`` .. ``1M``  -> one file per UTC year   (``2024.parquet``, 8,784 rows of 1h)

Every file holds hummingbot's ten candle columns, all float64, ``timestamp`` = candle open time in
epoch seconds, sorted, unique. Writes merge with what is stored (the incoming row wins on equal
timestamps) and replace a file atomically: on a local disk through a temporary file and a rename, on
an object store through a single PUT of the finished object. Writers of one key are serialised by a
threading lock and, on a local disk, by ``fcntl.flock`` on ``<key dir>/.lock`` (across processes).

Domain code only: no MQTT, no web framework, no hummingbot import (reading must stay cheap).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import math
import os
import posixpath
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from shared.errors import BadRequest, Invalid, NotFound

__all__ = [
    "COLUMNS", "INTERVALS", "SCHEMA", "CandleKey", "CandleStore", "Grid", "as_key", "normalize_candles",
    "read_candle_file", "resample", "to_epoch_seconds", "empty_candles",
]

# Same table as hummingbot's CandlesBase.interval_to_seconds (kept here so reading the store does not
# import hummingbot; a test asserts the two agree).
INTERVALS: dict[str, int] = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800,
    "1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200,
    "1d": 86400, "3d": 259200, "1w": 604800, "1M": 2592000,
}
COLUMNS: tuple[str, ...] = (
    "timestamp", "open", "high", "low", "close", "volume", "quote_asset_volume",
    "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume",
)
REQUIRED_COLUMNS = ("timestamp", "open", "high", "low", "close")
OPTIONAL_COLUMNS = tuple(c for c in COLUMNS if c not in REQUIRED_COLUMNS)
SCHEMA = pa.schema([(c, pa.float64()) for c in COLUMNS])

_CONNECTOR_RE = re.compile(r"^[a-z0-9_]+$")
_PAIR_RE = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+$")
_PARTITION_RE = {
    "D": re.compile(r"^(\d{4})-(\d{2})-(\d{2})\.parquet$"),
    "M": re.compile(r"^(\d{4})-(\d{2})\.parquet$"),
    "Y": re.compile(r"^(\d{4})\.parquet$"),
}
# Weekly candles open on Monday 00:00 UTC (Binance, Bybit, OKX...); 1970-01-05 was a Monday.
_WEEK_PHASE = 4 * 86400
_COMPRESSION = "zstd"


# --------------------------------------------------------------------------------------------- keys

@dataclass(frozen=True, slots=True)
class CandleKey:
    """Identifies one candle series. Validated on construction (raises ``BadRequest``)."""

    connector: str
    trading_pair: str
    interval: str

    def __post_init__(self) -> None:
        connector, pair, interval = self.connector, self.trading_pair, self.interval
        if not isinstance(connector, str) or not _CONNECTOR_RE.fullmatch(connector):
            raise BadRequest(f"invalid connector name {connector!r}: expected [a-z0-9_]+")
        if not isinstance(pair, str) or "-" not in pair:
            raise BadRequest(f"invalid trading pair {pair!r}: expected BASE-QUOTE, e.g. BTC-USDT")
        pair = pair.strip().upper()
        if not _PAIR_RE.fullmatch(pair):
            raise BadRequest(f"invalid trading pair {self.trading_pair!r}: expected BASE-QUOTE of [A-Z0-9]")
        if not isinstance(interval, str) or interval not in INTERVALS:
            raise BadRequest(f"invalid interval {interval!r}: expected one of {', '.join(INTERVALS)}")
        object.__setattr__(self, "trading_pair", pair)

    @property
    def seconds(self) -> int:
        """Nominal interval length in seconds (1M counts as 30 days, as in hummingbot)."""
        return INTERVALS[self.interval]

    def __str__(self) -> str:
        return f"{self.connector}/{self.trading_pair}/{self.interval}"

    @classmethod
    def parse(cls, text: str) -> "CandleKey":
        """Inverse of ``str(key)``: ``"binance/BTC-USDT/1m"``."""
        parts = text.split("/") if isinstance(text, str) else []
        if len(parts) != 3:
            raise BadRequest(f"invalid candle key {text!r}: expected connector/PAIR/interval")
        return cls(*parts)

    def as_dict(self) -> dict[str, str]:
        return {"connector": self.connector, "trading_pair": self.trading_pair, "interval": self.interval}


def as_key(key: CandleKey | tuple | dict | str) -> CandleKey:
    """A CandleKey from a key, "connector/PAIR/interval", (connector, pair, interval) or a dict
    with connector (or connector_name), trading_pair, interval."""
    if isinstance(key, CandleKey):
        return key
    if isinstance(key, str):
        return CandleKey.parse(key)
    if isinstance(key, dict):
        return CandleKey(key.get("connector", key.get("connector_name")), key.get("trading_pair"), key.get("interval"))
    if isinstance(key, (tuple, list)) and len(key) == 3:
        return CandleKey(*key)
    raise BadRequest(f"invalid candle key {key!r}")


# --------------------------------------------------------------------------------------------- time

def to_epoch_seconds(value: Any) -> float:
    """Epoch seconds from seconds/ms/us/ns numbers, numeric or ISO strings, datetimes (naive = UTC)."""
    if value is None:
        raise BadRequest("missing time")
    if isinstance(value, bool):
        raise BadRequest(f"invalid time {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                ts = pd.Timestamp(text)
            except (ValueError, TypeError) as e:
                raise BadRequest(f"invalid time {value!r}") from e
            if ts is pd.NaT:
                raise BadRequest(f"invalid time {value!r}")
            value = ts
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, dt.datetime):  # includes pd.Timestamp
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, np.datetime64):
        return float(value.astype("datetime64[ns]").astype(np.int64)) / 1e9
    try:
        x = float(value)
    except (TypeError, ValueError) as e:
        raise BadRequest(f"invalid time {value!r}") from e
    if not math.isfinite(x):
        raise BadRequest(f"invalid time {value!r}")
    return _unit_to_seconds(x)


def _unit_to_seconds(x: float) -> float:
    """hummingbot's ensure_timestamp_in_seconds rule: ns >= 1e18, us >= 1e15, ms >= 1e12."""
    ax = abs(x)
    if ax >= 1e18:
        return x / 1e9
    if ax >= 1e15:
        return x / 1e6
    if ax >= 1e12:
        return x / 1e3
    return x


def _months(ts: np.ndarray) -> np.ndarray:
    """Months since 1970-01 for epoch seconds."""
    return ts.astype("int64").astype("datetime64[s]").astype("datetime64[M]").astype("int64")


def _month_start(month_index: np.ndarray | int) -> np.ndarray | int:
    out = np.asarray(month_index, dtype="int64").astype("datetime64[M]").astype("datetime64[s]").astype("int64")
    return int(out) if np.ndim(out) == 0 else out


class Grid:
    """The candle open times of an interval: fixed spacing with a phase, or calendar months for 1M."""

    def __init__(self, interval: str, phase: int | None = None):
        if interval not in INTERVALS:
            raise BadRequest(f"invalid interval {interval!r}")
        self.interval = interval
        self.step = INTERVALS[interval]
        self.monthly = interval == "1M"
        if phase is None:
            phase = _WEEK_PHASE if interval == "1w" else 0
        self.phase = int(phase) % self.step

    @classmethod
    def for_data(cls, interval: str, timestamps: np.ndarray | None) -> "Grid":
        """Grid whose phase matches existing data (e.g. 3d candles anchored differently)."""
        if timestamps is not None and len(timestamps) and interval != "1M":
            return cls(interval, int(timestamps[0]) % INTERVALS[interval])
        return cls(interval)

    def floor(self, t: float) -> int:
        t = math.floor(t)
        if self.monthly:
            return _month_start(_months(np.array([t]))[0])
        return t - (t - self.phase) % self.step

    def ceil(self, t: float) -> int:
        f = self.floor(t)
        return f if f >= t else self.add(f, 1)

    def add(self, t: int, n: int) -> int:
        if self.monthly:
            return _month_start(_months(np.array([t]))[0] + n)
        return int(t) + n * self.step

    def count(self, a: int, b: int) -> int:
        """Grid points in [a, b] (a, b on the grid)."""
        if b < a:
            return 0
        if self.monthly:
            m = _months(np.array([a, b]))
            return int(m[1] - m[0]) + 1
        return (int(b) - int(a)) // self.step + 1

    def floor_array(self, ts: np.ndarray) -> np.ndarray:
        ts = np.floor(np.asarray(ts, dtype="float64")).astype("int64")
        if self.monthly:
            return _month_start(_months(ts))
        return ts - (ts - self.phase) % self.step

    def breaks(self, ts: np.ndarray) -> np.ndarray:
        """Indices i where ts[i+1] is not the grid point right after ts[i]."""
        if len(ts) < 2:
            return np.empty(0, dtype="int64")
        if self.monthly:
            return np.flatnonzero(np.diff(_months(ts)) != 1)
        return np.flatnonzero(np.diff(ts) != self.step)


# ------------------------------------------------------------------------------------- dataframes

def empty_candles() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})


_ALIASES = {
    "time": "timestamp", "open_time": "timestamp", "opentime": "timestamp", "ts": "timestamp",
    "date": "timestamp", "datetime": "timestamp", "unix": "timestamp",
    "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume",
    "quote_volume": "quote_asset_volume", "quote_av": "quote_asset_volume",
    "trades": "n_trades", "number_of_trades": "n_trades", "count": "n_trades",
    "taker_buy_base_asset_volume": "taker_buy_base_volume", "tb_base_av": "taker_buy_base_volume",
    "taker_buy_quote_asset_volume": "taker_buy_quote_volume", "tb_quote_av": "taker_buy_quote_volume",
}


def _timestamps_to_seconds(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is None:
            col = col.dt.tz_localize("UTC")
        return col.dt.tz_convert("UTC").astype("int64").to_numpy() / 1e9
    numeric = pd.to_numeric(col, errors="coerce")
    if int(numeric.notna().sum()) == int(col.notna().sum()):  # every present value is a number
        x = numeric.to_numpy(dtype="float64")
        finite = np.abs(x[np.isfinite(x)])
        if len(finite):  # one unit for the whole column, chosen on its median (hummingbot's thresholds)
            med = float(np.median(finite))
            x = x * (1e-9 if med >= 1e18 else 1e-6 if med >= 1e15 else 1e-3 if med >= 1e12 else 1.0)
        return x
    try:
        parsed = pd.to_datetime(col, utc=True, errors="raise")
    except (ValueError, TypeError) as e:
        raise Invalid(f"timestamp column is neither numbers nor dates: {e}") from e
    return parsed.astype("int64").to_numpy() / 1e9


def normalize_candles(df: pd.DataFrame, interval: str | None = None, *, strict: bool = False) -> pd.DataFrame:
    """Validate and coerce candles to the store's shape.

    Columns are matched case-insensitively (a few common aliases accepted); ``timestamp``/OHLC are
    required, the five volume columns default to 0 (as hummingbot does for exchanges lacking them).
    Timestamps may be seconds, ms, us, ns or dates. Result: ten float64 columns, sorted, unique on
    timestamp (the last occurrence wins). With ``interval``, timestamps must lie on one grid of that
    interval; with ``strict`` the typical spacing must also be the interval (catches 5m data imported
    as 1m). Raises ``Invalid``.
    """
    if not isinstance(df, pd.DataFrame):
        raise Invalid(f"candles must be a DataFrame, not {type(df).__name__}")
    rename = {}
    for c in df.columns:
        name = str(c).strip().lower().replace(" ", "_")
        name = _ALIASES.get(name, name)
        if name in COLUMNS and name not in rename.values():
            rename[c] = name
    df = df[list(rename)].rename(columns=rename)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise Invalid(f"candles lack column(s) {', '.join(missing)}; need {', '.join(REQUIRED_COLUMNS)}")
    n = len(df)
    out: dict[str, np.ndarray] = {"timestamp": _timestamps_to_seconds(df["timestamp"])}
    for c in COLUMNS[1:]:
        if c not in df.columns:
            out[c] = np.zeros(n, dtype="float64")
            continue
        col = df[c]
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64")
        bad = np.isnan(values) & col.notna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise Invalid(f"column {c} has a non-numeric value {col.iloc[i]!r} (row {i})")
        if c in REQUIRED_COLUMNS:
            if np.isnan(values).any():
                raise Invalid(f"column {c} has empty values (row {int(np.flatnonzero(np.isnan(values))[0])})")
        else:
            values = np.nan_to_num(values, nan=0.0)
        out[c] = values
    ts = out["timestamp"]
    if not np.isfinite(ts).all():
        raise Invalid(f"timestamp has empty or invalid values (row {int(np.flatnonzero(~np.isfinite(ts))[0])})")
    rounded = np.round(ts)
    if n and np.abs(rounded - ts).max() > 1e-3:
        raise Invalid("timestamps must be whole seconds (candle open times)")
    out["timestamp"] = rounded
    result = pd.DataFrame(out, columns=list(COLUMNS))
    if n == 0:
        return empty_candles()
    # sort, then keep the last occurrence of each timestamp (stable sort keeps input order for ties)
    order = np.argsort(result["timestamp"].to_numpy(), kind="stable")
    result = result.iloc[order]
    ts = result["timestamp"].to_numpy()
    keep = np.ones(len(ts), dtype=bool)
    keep[:-1] = ts[1:] != ts[:-1]
    result = result[keep].reset_index(drop=True)
    if interval is not None:
        _check_grid(result["timestamp"].to_numpy(), interval, strict=strict)
    return result


def _check_grid(ts: np.ndarray, interval: str, *, strict: bool) -> None:
    if len(ts) < 2:
        return
    if interval == "1M":
        months = _months(ts)
        if (np.diff(months) < 1).any():
            raise Invalid("two 1M candles fall in the same calendar month")
        return
    step = INTERVALS[interval]
    off = (ts - ts[0]) % step
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise Invalid(f"timestamps are not on one {interval} grid: {ts[0]:.0f} and {ts[i]:.0f} "
                      f"differ by {ts[i] - ts[0]:.0f}s, not a multiple of {step}s")
    if strict:
        typical = float(np.median(np.diff(ts)))
        if typical != step:
            guess = {v: k for k, v in INTERVALS.items()}.get(int(typical), f"{typical:.0f}s")
            raise Invalid(f"candles are spaced {guess} apart, not {interval}")


def resample(df: pd.DataFrame, interval: str) -> pd.DataFrame:
    """Aggregate candles to a coarser ``interval``: open first, high max, low min, close last,
    volumes and n_trades summed. Buckets are the interval's candle open times (UTC; weeks start on
    Monday, 1M on the 1st). A trailing partial bucket is kept (aggregated from what exists)."""
    grid = Grid(interval)
    if len(df) == 0:
        return empty_candles()
    data = df[list(COLUMNS)]
    ts = data["timestamp"].to_numpy(dtype="float64")
    if (np.diff(ts) <= 0).any():
        data = normalize_candles(data)
        ts = data["timestamp"].to_numpy(dtype="float64")
    buckets = grid.floor_array(ts)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(buckets)) + 1))
    ends = np.concatenate((starts[1:], [len(ts)])) - 1
    out = {"timestamp": buckets[starts].astype("float64"),
           "open": data["open"].to_numpy(dtype="float64")[starts],
           "high": np.maximum.reduceat(data["high"].to_numpy(dtype="float64"), starts),
           "low": np.minimum.reduceat(data["low"].to_numpy(dtype="float64"), starts),
           "close": data["close"].to_numpy(dtype="float64")[ends]}
    for c in OPTIONAL_COLUMNS:
        out[c] = np.add.reduceat(data[c].to_numpy(dtype="float64"), starts)
    return pd.DataFrame(out, columns=list(COLUMNS))


# ------------------------------------------------------------------------------------ partitioning

def _granularity(interval: str) -> str:
    seconds = INTERVALS[interval]
    if seconds < 60:
        return "D"
    if seconds < 3600:
        return "M"
    return "Y"


def _labels(ts: np.ndarray, gran: str) -> np.ndarray:
    return ts.astype("int64").astype("datetime64[s]").astype(f"datetime64[{gran}]")


def _label_name(label: np.datetime64) -> str:
    return f"{np.datetime_as_string(label)}.parquet"


def _label_bounds(label: np.datetime64) -> tuple[int, int]:
    """[start, end) epoch seconds of a partition."""
    start = int(label.astype("datetime64[s]").astype("int64"))
    end = int((label + 1).astype("datetime64[s]").astype("int64"))
    return start, end


def _parse_partition(name: str, gran: str) -> np.datetime64 | None:
    if not _PARTITION_RE[gran].fullmatch(name):
        return None
    try:
        return np.datetime64(name[: -len(".parquet")], gran)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Partition:
    label: np.datetime64
    path: str
    start: int  # inclusive, epoch s
    end: int  # exclusive
    size: int


# --------------------------------------------------------------------------------------- file ops

def _replace(fs: pafs.FileSystem, src: str, dst: str) -> None:
    """Atomically move ``src`` over ``dst`` (rename(2) on a local disk). Tests patch this."""
    fs.move(src, dst)


def _serialize(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=_COMPRESSION, row_group_size=1 << 20)
    return sink.getvalue()


_LOCKS_GUARD = threading.Lock()
_THREAD_LOCKS: dict[tuple[str, str], threading.Lock] = {}


def _thread_lock(scope: str, key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        lock = _THREAD_LOCKS.get((scope, key))
        if lock is None:
            lock = _THREAD_LOCKS[(scope, key)] = threading.Lock()
        return lock


# ------------------------------------------------------------------------------------------ store

class CandleStore:
    """Parquet candle store on a local directory or any ``pyarrow.fs.FileSystem``.

    ``root`` is a directory (local path), a URI (``s3://bucket/prefix``, ``file:///data``) or, when
    ``filesystem`` is given, a path inside that filesystem (for S3: ``bucket/prefix``).
    All methods are blocking; call them through ``asyncio.to_thread`` from async code.
    """

    def __init__(self, root: str | Path, filesystem: pafs.FileSystem | None = None):
        if filesystem is None:
            if isinstance(root, str) and "://" in root:
                filesystem, root = pafs.FileSystem.from_uri(root)
            else:
                filesystem = pafs.LocalFileSystem()
                root = os.path.abspath(os.fspath(root))
        root = os.fspath(root)
        if isinstance(filesystem, pafs.LocalFileSystem):
            root = os.path.abspath(root)
        self._fs = filesystem
        self._root = root.rstrip("/") or "/"
        self._local_root = self._find_local_root(filesystem, self._root)
        if self._local_root is not None:
            os.makedirs(self._local_root, exist_ok=True)
        # Object stores have no rename: there a single PUT of the finished object is the atomic step.
        self._rename_commit = self._local_root is not None or filesystem.type_name in ("local", "mock")
        self._scope = f"{filesystem.type_name}:{self._local_root or self._root}"

    @staticmethod
    def _find_local_root(fs: pafs.FileSystem, root: str) -> str | None:
        if isinstance(fs, pafs.LocalFileSystem):
            return os.path.abspath(root)
        if isinstance(fs, pafs.SubTreeFileSystem) and isinstance(fs.base_fs, pafs.LocalFileSystem):
            return os.path.abspath(os.path.join(fs.base_path, root.lstrip("/")))
        return None

    # ---------------------------------------------------------------- properties
    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._fs

    @property
    def root(self) -> str:
        return self._root

    def __repr__(self) -> str:
        return f"CandleStore({self._root!r}, {self._fs.type_name})"

    # ---------------------------------------------------------------- paths
    def _key_dir(self, key: CandleKey) -> str:
        return posixpath.join(self._root, "candles", key.connector, key.trading_pair, key.interval)

    def _partitions(self, key: CandleKey) -> list[_Partition]:
        gran = _granularity(key.interval)
        infos = self._fs.get_file_info(pafs.FileSelector(self._key_dir(key), allow_not_found=True))
        parts = []
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            label = _parse_partition(info.base_name, gran)
            if label is None:  # temp files, locks, foreign files
                continue
            start, end = _label_bounds(label)
            parts.append(_Partition(label, info.path, start, end, info.size or 0))
        parts.sort(key=lambda p: p.start)
        return parts

    # ---------------------------------------------------------------- locking
    @contextlib.contextmanager
    def _locked(self, key: CandleKey) -> Iterator[None]:
        with _thread_lock(self._scope, str(key)):
            if self._local_root is None:
                yield
                return
            key_dir = os.path.join(self._local_root, "candles", key.connector, key.trading_pair, key.interval)
            os.makedirs(key_dir, exist_ok=True)
            fd = os.open(os.path.join(key_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    # ---------------------------------------------------------------- file io
    def _read_table(self, path: str, columns: list[str] | None = None) -> pa.Table:
        with self._fs.open_input_file(path) as f:
            return pq.read_table(f, columns=columns, schema=SCHEMA if columns is None else None)

    def _write_atomic(self, path: str, table: pa.Table) -> None:
        data = _serialize(table)  # fully built before anything is touched
        if not self._rename_commit:
            out = self._fs.open_output_stream(path)
            out.write(data)
            out.close()  # S3: the object becomes visible only when the upload completes
            return
        directory, name = posixpath.split(path)
        tmp = posixpath.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
        self._fs.create_dir(directory, recursive=True)
        try:
            with self._fs.open_output_stream(tmp) as out:
                out.write(data)
            if self._local_root is not None:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            _replace(self._fs, tmp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self._fs.delete_file(tmp)
            raise
        if self._local_root is not None:  # make the rename itself durable
            with contextlib.suppress(OSError):
                dfd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)

    # ---------------------------------------------------------------- write
    def write(self, key: CandleKey | str, df: pd.DataFrame) -> dict[str, Any]:
        """Merge ``df`` into the stored series (incoming rows win on equal timestamps).

        Returns ``{"rows": rows given after dedupe, "added": rows new to the store, "partitions": [...]}``.
        """
        key = as_key(key)
        new = normalize_candles(df, key.interval)
        if new.empty:
            return {"rows": 0, "added": 0, "partitions": []}
        gran = _granularity(key.interval)
        ts = new["timestamp"].to_numpy()
        labels = _labels(ts, gran)
        cuts = np.concatenate(([0], np.flatnonzero(labels[1:] != labels[:-1]) + 1, [len(ts)]))
        key_dir = self._key_dir(key)
        written, added = [], 0
        with self._locked(key):
            existing = {posixpath.basename(p.path) for p in self._partitions(key)}
            for a, b in zip(cuts[:-1], cuts[1:]):
                label = labels[a]
                name = _label_name(label)
                path = posixpath.join(key_dir, name)
                chunk = pa.Table.from_pandas(new.iloc[a:b], schema=SCHEMA, preserve_index=False)
                before = 0
                if name in existing:
                    old = self._read_table(path)
                    before = old.num_rows
                    merged = _merge_tables(old, chunk)
                else:
                    merged = chunk
                _check_grid(merged.column("timestamp").to_numpy(), key.interval, strict=False)
                self._write_atomic(path, merged)
                added += merged.num_rows - before
                written.append(_label_name(label)[: -len(".parquet")])
        return {"rows": len(new), "added": added, "partitions": written}

    # ---------------------------------------------------------------- read
    def read(self, key: CandleKey | str, start: Any = None, end: Any = None,
             columns: Iterable[str] | None = None) -> pd.DataFrame:
        """Candles with ``start <= timestamp <= end`` (either bound optional), sorted, float64."""
        key = as_key(key)
        lo = -math.inf if start is None else to_epoch_seconds(start)
        hi = math.inf if end is None else to_epoch_seconds(end)
        cols = list(COLUMNS) if columns is None else list(columns)
        unknown = [c for c in cols if c not in COLUMNS]
        if unknown:
            raise BadRequest(f"unknown column(s) {', '.join(unknown)}")
        read_cols = cols if "timestamp" in cols else ["timestamp", *cols]
        if lo > hi:
            return empty_candles()[cols]
        parts = [p for p in self._partitions(key) if p.end > lo and p.start <= hi]
        if not parts:
            return empty_candles()[cols]
        if len(parts) == 1:
            tables = [self._read_table(parts[0].path, read_cols)]
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(parts))) as pool:
                tables = list(pool.map(lambda p: self._read_table(p.path, read_cols), parts))
        table = pa.concat_tables(tables)
        ts = table.column("timestamp").to_numpy()
        i = int(np.searchsorted(ts, lo, side="left")) if lo != -math.inf else 0
        j = int(np.searchsorted(ts, hi, side="right")) if hi != math.inf else len(ts)
        table = table.slice(i, max(0, j - i)).select(cols)
        return table.to_pandas()

    # ---------------------------------------------------------------- coverage
    def _segments(self, key: CandleKey) -> tuple[list[tuple[int, int, int]], Grid]:
        """Contiguous stored runs as (first, last, rows), plus the grid of the stored data."""
        grid: Grid | None = None
        runs: list[tuple[int, int, int]] = []
        for part in self._partitions(key):
            with self._fs.open_input_file(part.path) as f:
                meta = pq.ParquetFile(f).metadata
                stats = _ts_stats(meta)
            if meta.num_rows == 0:
                continue
            if stats is not None and grid is not None:
                lo, hi = stats
                file_runs = [(lo, hi, meta.num_rows)] if grid.count(lo, hi) == meta.num_rows else None
            else:
                file_runs = None
            if file_runs is None:
                ts = self._read_table(part.path, ["timestamp"]).column("timestamp").to_numpy().astype("int64")
                if grid is None:
                    grid = Grid.for_data(key.interval, ts)
                cuts = grid.breaks(ts)
                bounds = np.concatenate(([0], cuts + 1, [len(ts)]))
                file_runs = [(int(ts[a]), int(ts[b - 1]), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]
            for run in file_runs:
                if runs and grid.add(runs[-1][1], 1) == run[0]:
                    runs[-1] = (runs[-1][0], run[1], runs[-1][2] + run[2])
                else:
                    runs.append(run)
        return runs, grid or Grid(key.interval)

    def ranges(self, key: CandleKey | str) -> list[tuple[int, int]]:
        """Contiguous stored ranges as (first open time, last open time), inclusive, ascending."""
        runs, _ = self._segments(as_key(key))
        return [(a, b) for a, b, _ in runs]

    def gaps(self, key: CandleKey | str, start: Any, end: Any) -> list[tuple[int, int]]:
        """Missing candles in [start, end] as (first missing open time, last missing open time)."""
        key = as_key(key)
        runs, grid = self._segments(key)
        return _gaps([(a, b) for a, b, _ in runs], grid, to_epoch_seconds(start), to_epoch_seconds(end))

    def status(self, key: CandleKey | str, start: Any = None, end: Any = None) -> dict[str, Any]:
        """Coverage summary: key, connector_name, trading_pair, interval, rows, first, last, ranges, gaps
        (within [start, end], by default [first, last]), missing (candles in the gaps), files, bytes."""
        key = as_key(key)
        runs, grid = self._segments(key)
        ranges = [(a, b) for a, b, _ in runs]
        first = ranges[0][0] if ranges else None
        last = ranges[-1][1] if ranges else None
        lo = to_epoch_seconds(start) if start is not None else first
        hi = to_epoch_seconds(end) if end is not None else last
        gaps = _gaps(ranges, grid, lo, hi) if lo is not None and hi is not None else []
        parts = self._partitions(key)
        return {  # field names also fit shared.schemas.marketdata.StoreStatus (msgspec.convert)
            "key": str(key), "connector_name": key.connector, "trading_pair": key.trading_pair,
            "interval": key.interval,
            "rows": sum(r for _, _, r in runs), "first": first, "last": last,
            "ranges": [list(r) for r in ranges], "gaps": [list(g) for g in gaps],
            "missing": sum(grid.count(a, b) for a, b in gaps),
            "files": len(parts), "bytes": sum(p.size for p in parts),
        }

    def keys(self) -> list[CandleKey]:
        """Every key with at least one stored partition."""
        base = posixpath.join(self._root, "candles")
        infos = self._fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        found = set()
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            rel = info.path[len(base) + 1:] if info.path.startswith(base + "/") else ""
            parts = rel.split("/")
            if len(parts) != 4:
                continue
            try:
                key = CandleKey(parts[0], parts[1], parts[2])
            except BadRequest:
                continue
            if key.trading_pair == parts[1] and _parse_partition(parts[3], _granularity(key.interval)) is not None:
                found.add(key)
        return sorted(found, key=lambda k: (k.connector, k.trading_pair, INTERVALS[k.interval]))

    def delete(self, key: CandleKey | str) -> int:
        """Remove a key's partitions; returns how many files were removed."""
        key = as_key(key)
        with self._locked(key):
            parts = self._partitions(key)
            for p in parts:
                self._fs.delete_file(p.path)
        return len(parts)

    # ---------------------------------------------------------------- import
    def import_file(self, key: CandleKey | str, path: str | Path) -> dict[str, Any]:
        """Import a CSV (with a header, or a headerless Binance kline dump) or Parquet file a user has.

        Validates columns (timestamp + OHLC required), coerces types, converts ms/us/ns timestamps or
        dates to epoch seconds, checks the spacing matches the key's interval, then merges it in.
        """
        key = as_key(key)
        df = read_candle_file(path)
        candles = normalize_candles(df, key.interval, strict=True)
        if candles.empty:
            raise Invalid(f"{os.fspath(path)} holds no candles")
        result = self.write(key, candles)
        return {**result, "first": int(candles["timestamp"].iloc[0]), "last": int(candles["timestamp"].iloc[-1])}


def _ts_stats(meta: pq.FileMetaData) -> tuple[int, int] | None:
    lo = hi = None
    try:
        idx = meta.schema.names.index("timestamp")
    except ValueError:
        return None
    for i in range(meta.num_row_groups):
        st = meta.row_group(i).column(idx).statistics
        if st is None or not st.has_min_max:
            return None
        lo = st.min if lo is None else min(lo, st.min)
        hi = st.max if hi is None else max(hi, st.max)
    if lo is None:
        return None
    return int(lo), int(hi)


def _merge_tables(old: pa.Table, new: pa.Table) -> pa.Table:
    """Union of two sorted unique tables; ``new`` wins on equal timestamps."""
    old_ts = old.column("timestamp").to_numpy()
    new_ts = new.column("timestamp").to_numpy()
    keep_old = ~np.isin(old_ts, new_ts, assume_unique=True)
    combined = pa.concat_tables([old.filter(pa.array(keep_old)), new])
    order = np.argsort(combined.column("timestamp").to_numpy(), kind="stable")
    return combined.take(pa.array(order))


def _gaps(ranges: list[tuple[int, int]], grid: Grid, start: float, end: float) -> list[tuple[int, int]]:
    lo, hi = grid.ceil(start), grid.floor(end)
    out: list[tuple[int, int]] = []
    cursor = lo
    for a, b in ranges:
        if cursor > hi:
            break
        if b < cursor:
            continue
        if a > cursor:
            out.append((cursor, min(grid.add(a, -1), hi)))
        cursor = max(cursor, grid.add(b, 1))
    if cursor <= hi:
        out.append((cursor, hi))
    return out


# ------------------------------------------------------------------------------------ file import

_BINANCE_DUMP_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume", "close_time",
                         "quote_asset_volume", "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume",
                         "ignore"]


def read_candle_file(path: str | Path) -> pd.DataFrame:
    """Read a user's CSV/Parquet candle file into a raw DataFrame (not yet normalized)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"no such file: {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    name = path.name.lower()
    if magic == b"PAR1" or name.endswith((".parquet", ".pq")):
        try:
            return pq.read_table(path).to_pandas()
        except (pa.ArrowException, OSError) as e:
            raise Invalid(f"{path.name} is not a readable Parquet file: {e}") from e
    try:
        head = pd.read_csv(path, nrows=1, header=None, dtype=str)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise Invalid(f"{path.name} is not a readable CSV file: {e}") from e
    if head.empty:
        raise Invalid(f"{path.name} is empty")
    first_row = head.iloc[0].tolist()
    headerless = all(_is_number(v) for v in first_row)
    names = None
    if headerless:  # e.g. a data.binance.vision kline dump
        width = len(first_row)
        if not 5 <= width <= len(_BINANCE_DUMP_COLUMNS):
            raise Invalid(f"{path.name}: a headerless CSV must use Binance's kline layout "
                          f"(open time, open, high, low, close, volume, ...), found {width} columns")
        names = _BINANCE_DUMP_COLUMNS[:width]
    try:
        return pd.read_csv(path, header=None if headerless else "infer", names=names)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise Invalid(f"{path.name} is not a readable CSV file: {e}") from e


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False
