"""Benchmark: one year of 1m candles in a CandleStore (temp dir), full-year read best of 5.

    .venv/bin/python -m bench.bench_candle_store
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pandas as pd

from svc_marketdata.store import CandleKey, CandleStore

T0 = 1704067200  # 2024-01-01 00:00:00 UTC
ROWS = 365 * 1440  # 525,600


def synthetic_year(rows: int = ROWS, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, rows)))
    open_ = np.concatenate(([40_000.0], close[:-1]))
    wick = np.abs(rng.normal(0, 0.0005, (2, rows)))
    volume = rng.lognormal(2.0, 0.7, rows)
    taker = volume * rng.uniform(0.3, 0.7, rows)
    return pd.DataFrame({
        "timestamp": T0 + 60.0 * np.arange(rows),
        "open": open_, "high": np.maximum(open_, close) * (1 + wick[0]),
        "low": np.minimum(open_, close) * (1 - wick[1]), "close": close,
        "volume": volume, "quote_asset_volume": volume * close,
        "n_trades": rng.integers(10, 2_000, rows).astype("float64"),
        "taker_buy_base_volume": taker, "taker_buy_quote_volume": taker * close,
    })


def best_of(n: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(n):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def run() -> list:
    """Rows for bench/RESULTS.md: the full-year read against its 1 s target."""
    from bench.common import Row

    key = CandleKey("binance", "BTC-USDT", "1m")
    with tempfile.TemporaryDirectory(prefix="hbmesh-bench-") as root:
        store = CandleStore(root)
        store.write(key, synthetic_year())
        read_s, got = best_of(5, lambda: store.read(key, T0, T0 + 365 * 86400))
    assert len(got) == ROWS
    return [Row("candle store: read 1 year of 1m (525,600 rows)", f"{read_s:.3f} s", "1 s target",
                round(read_s / 1.0, 3), "ratio < 1")]


def main() -> None:
    key = CandleKey("binance", "BTC-USDT", "1m")
    df = synthetic_year()
    with tempfile.TemporaryDirectory(prefix="hbmesh-bench-") as root:
        store = CandleStore(root)
        t = time.perf_counter()
        store.write(key, df)
        write_s = time.perf_counter() - t
        status = store.status(key)
        read_s, got = best_of(5, lambda: store.read(key, T0, T0 + 365 * 86400))
        month_s, month = best_of(5, lambda: store.read(key, T0 + 31 * 86400, T0 + 59 * 86400))
        status_s, _ = best_of(5, lambda: store.status(key))
        assert len(got) == ROWS and got["timestamp"].is_monotonic_increasing
        print(f"rows: {ROWS:,}  files: {status['files']}  on disk: {status['bytes'] / 1e6:.1f} MB")
        print(f"write (one call, 12 monthly files): {write_s:.3f} s  ({ROWS / write_s:,.0f} rows/s)")
        print(f"full-year read, best of 5:          {read_s:.3f} s  ({ROWS / read_s:,.0f} rows/s)")
        print(f"one-month read, best of 5:          {month_s:.3f} s  ({len(month):,} rows)")
        print(f"status (ranges/gaps), best of 5:    {status_s:.4f} s")


if __name__ == "__main__":
    main()
