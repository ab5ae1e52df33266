"""svc_marketdata domain: the Parquet candle store and downloads through hummingbot's own feeds.

Downloads go over real HTTP on 127.0.0.1 to tests/fakes/exchange.py (a fake Binance), through
hummingbot's BinanceSpotCandles / BinancePerpetualCandles / BinanceExchange code paths.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import svc_marketdata.store as store_mod
from shared.errors import BadRequest, Invalid, NotFound, Unavailable
from svc_marketdata.fetch import (
    ENV_EXCHANGE_URLS, candle_connectors, candle_intervals, exchange_url_overrides, fetch_candles,
    fetch_trading_rules, reset_exchange_urls, sync_candles, use_exchange_url,
)
from svc_marketdata.store import COLUMNS, INTERVALS, CandleKey, CandleStore, Grid, resample
from tests.fakes.exchange import candle_values

T0 = 1704067200  # 2024-01-01 00:00:00 UTC (a Monday)
MIN = 60
DAY = 86400
KEY = CandleKey("binance", "BTC-USDT", "1m")
ROOT = Path(__file__).resolve().parents[1]


def candles(start: int, n: int, step: int = MIN, **overrides: float) -> pd.DataFrame:
    """n contiguous candles from start; values from the fake exchange's deterministic generator."""
    ts = start + step * np.arange(n, dtype="int64")
    rows = np.array([candle_values(int(t) * 1000, step * 1000) for t in ts], dtype="float64").reshape(n, 9)
    df = pd.DataFrame(rows, columns=list(COLUMNS[1:]))
    df.insert(0, "timestamp", ts.astype("float64"))
    for col, value in overrides.items():
        df[col] = value
    return df


def expected_frame(start: int, end: int, step: int = MIN) -> pd.DataFrame:
    return candles(start, (end - start) // step + 1, step)


# ----------------------------------------------------------------------------------- names / keys

def test_interval_and_column_tables_match_hummingbot():
    from hummingbot.data_feed.candles_feed.candles_base import CandlesBase

    assert INTERVALS == dict(CandlesBase.interval_to_seconds)
    assert list(COLUMNS) == list(CandlesBase.columns)
    assert {"binance", "binance_perpetual", "okx", "hyperliquid_perpetual"} <= set(candle_connectors())
    assert "1s" in candle_intervals("binance") and "1s" not in candle_intervals("bybit")


@pytest.mark.parametrize("connector,pair,interval", [
    ("..", "BTC-USDT", "1m"),
    ("binance/../x", "BTC-USDT", "1m"),
    ("Binance", "BTC-USDT", "1m"),
    ("", "BTC-USDT", "1m"),
    ("binance", "BTCUSDT", "1m"),          # no '-'
    ("binance", "../BTC-USDT", "1m"),
    ("binance", "BTC-USDT/..", "1m"),
    ("binance", "BTC-US.DT", "1m"),
    ("binance", "BTC-USDT-PERP", "1m"),
    ("binance", "BTC-USDT", "2m"),
    ("binance", "BTC-USDT", "../1m"),
    ("binance", "BTC-USDT", "1mo"),
])
def test_bad_names_are_refused(connector, pair, interval, tmp_path):
    with pytest.raises(BadRequest) as err:
        CandleKey(connector, pair, interval)
    assert err.value.status == 400
    store = CandleStore(tmp_path)
    with pytest.raises(BadRequest):
        store.write((connector, pair, interval), candles(T0, 2))
    with pytest.raises(BadRequest):
        store.read(f"{connector}/{pair}/{interval}")
    assert not (tmp_path / "candles").exists() or not any((tmp_path / "candles").rglob("*.parquet"))


def test_key_normalises_and_round_trips():
    key = CandleKey("binance", "btc-usdt", "1M")
    assert key.trading_pair == "BTC-USDT" and key.interval == "1M"
    assert CandleKey.parse(str(key)) == key
    assert CandleKey("binance", "BTC-USDT", "1m") != CandleKey("binance", "BTC-USDT", "1M")


async def test_fetch_refuses_bad_requests_before_any_request(fake_binance, fast_retry):
    with pytest.raises(BadRequest):
        await fetch_candles("binance", "BTCUSDT", "1m", T0, T0 + 3600, retry=fast_retry)
    with pytest.raises(BadRequest):
        await fetch_candles("binance", "BTC-USDT", "7m", T0, T0 + 3600, retry=fast_retry)
    with pytest.raises(NotFound, match="nosuchexchange"):  # UnsupportedConnectorException
        await fetch_candles("nosuchexchange", "BTC-USDT", "1m", T0, T0 + 3600, retry=fast_retry)
    with pytest.raises(Invalid, match="1s"):  # bybit's INTERVALS lack 1s
        await fetch_candles("bybit", "BTC-USDT", "1s", T0, T0 + 60, retry=fast_retry)
    with pytest.raises(BadRequest, match="after"):
        await fetch_candles("binance", "BTC-USDT", "1m", T0 + 60, T0, retry=fast_retry)
    assert fake_binance.count() == 0
    # a well-formed pair the exchange does not list: Binance's -1121 "Invalid symbol" -> NotFound, no retries
    with pytest.raises(NotFound):
        await fetch_candles("binance", "DOGE-XYZ", "1m", T0, T0 + 3600, retry=fast_retry)
    assert fake_binance.count("/api/v3/klines") == 1


# ----------------------------------------------------------------------------------- downloads

async def test_multi_page_download_through_hummingbot_feed(fake_binance):
    end = T0 + 2500 * MIN
    seen: list[tuple[int, int]] = []
    df = await fetch_candles("binance", "BTC-USDT", "1m", T0, end, progress=lambda d, n: seen.append((d, n)))

    pd.testing.assert_frame_equal(df, expected_frame(T0, end))
    assert list(df.dtypes.unique()) == [np.dtype("float64")]
    # 2501 candles at 1000 per Binance spot page -> 3 requests, paging backwards from endTime
    log = fake_binance.log("/api/v3/klines")
    assert [int(r.query["endTime"]) // 1000 for r in log] == [end, end - 1000 * MIN, end - 2000 * MIN]
    assert all(r.query["symbol"] == "BTCUSDT" and int(r.query["limit"]) <= 1000 for r in log)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (2501, 2501)


async def test_perpetual_download_uses_fapi_pages(fake_binance):
    end = T0 + 3999 * 5 * MIN
    df = await fetch_candles("binance_perpetual", "ETH-USDT", "5m", T0, end)
    pd.testing.assert_frame_equal(df, expected_frame(T0, end, 5 * MIN))
    log = fake_binance.log("/fapi/v1/klines")
    assert len(log) == 3  # 4000 candles, <= 1500 per request
    assert all(r.status == 200 and int(r.query["startTime"]) <= int(r.query["endTime"]) for r in log)
    assert fake_binance.count("/api/v3/klines") == 0


async def test_429_and_5xx_are_retried(fake_binance, fast_retry):
    fake_binance.fail_next(429, 503)
    df = await fetch_candles("binance", "BTC-USDT", "1m", T0, T0 + 1500 * MIN, retry=fast_retry)
    pd.testing.assert_frame_equal(df, expected_frame(T0, T0 + 1500 * MIN))
    statuses = [r.status for r in fake_binance.log("/api/v3/klines")]
    assert statuses == [429, 503, 200, 200]


async def test_retries_are_bounded(fake_binance, fast_retry):
    fake_binance.fail_every = 1  # every request answers 429
    with pytest.raises(Unavailable, match="4 attempt"):
        await fetch_candles("binance", "BTC-USDT", "1m", T0, T0 + 10 * MIN, retry=fast_retry)
    assert fake_binance.count("/api/v3/klines") == fast_retry.attempts


async def test_hung_request_times_out_and_is_retried(fake_binance):
    from svc_marketdata.fetch import RetryPolicy

    fake_binance.hang_next(1)
    retry = RetryPolicy(attempts=3, base=0.001, jitter=False, timeout=0.3)
    df = await fetch_candles("binance", "BTC-USDT", "1m", T0, T0 + 10 * MIN, retry=retry)
    assert len(df) == 11
    assert [r.status for r in fake_binance.log("/api/v3/klines")] == [0, 200]  # 0 = never answered


async def test_network_errors_are_retried_then_unavailable(fast_retry):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    use_exchange_url("binance", f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(Unavailable, match="4 attempt"):
            await fetch_candles("binance", "BTC-USDT", "1m", T0, T0 + 10 * MIN, retry=fast_retry)
    finally:
        use_exchange_url("binance", None)


async def test_second_sync_fetches_only_the_missing_part(fake_binance, candle_store):
    first = await sync_candles(candle_store, KEY, T0, T0 + 999 * MIN)
    assert first["added"] == 1000 and first["gaps_after"] == []
    assert fake_binance.count("/api/v3/klines") == 1
    fake_binance.reset()

    result = await sync_candles(candle_store, KEY, T0 - 500 * MIN, T0 + 1499 * MIN)
    assert result["gaps_before"] == [[T0 - 500 * MIN, T0 - MIN], [T0 + 1000 * MIN, T0 + 1499 * MIN]]
    assert result["added"] == 1000 and result["gaps_after"] == []
    # one request per gap, each ending inside its gap (never re-asking for the stored part)
    ends = sorted(int(r.query["endTime"]) // 1000 for r in fake_binance.log("/api/v3/klines"))
    assert ends == [T0 - MIN, T0 + 1499 * MIN]
    assert candle_store.ranges(KEY) == [(T0 - 500 * MIN, T0 + 1499 * MIN)]
    pd.testing.assert_frame_equal(candle_store.read(KEY), expected_frame(T0 - 500 * MIN, T0 + 1499 * MIN))

    fake_binance.reset()
    again = await sync_candles(candle_store, KEY, T0, T0 + 1499 * MIN)
    assert again["gaps_before"] == [] and again["fetched"] == 0
    assert fake_binance.count() == 0


async def test_sync_keeps_only_closed_candles(fake_binance, candle_store):
    now = T0 + 30 * MIN + 17  # the 00:30 candle is still open
    result = await sync_candles(candle_store, KEY, T0, T0 + 3600, now=now)
    assert result["end"] == T0 + 29 * MIN
    assert candle_store.ranges(KEY) == [(T0, T0 + 29 * MIN)]


async def test_env_var_points_hummingbot_at_the_fake(fake_exchange, monkeypatch):
    monkeypatch.setenv(ENV_EXCHANGE_URLS, f'{{"binance": "{fake_exchange.url}"}}')
    try:
        df = await fetch_candles("binance", "BTC-USDT", "1h", T0, T0 + 5 * 3600)
        assert len(df) == 6 and fake_exchange.count("/api/v3/klines") == 1
        assert exchange_url_overrides() == {"binance": fake_exchange.url}
        import hummingbot.connector.exchange.binance.binance_constants as exchange_constants
        assert exchange_constants.REST_URL == f"{fake_exchange.url}/api/"
        monkeypatch.delenv(ENV_EXCHANGE_URLS)
        assert exchange_url_overrides() == {}
        assert exchange_constants.REST_URL == "https://api.binance.{}/api/"
    finally:
        reset_exchange_urls()


async def test_trading_rules_from_fake_exchange_info(fake_binance, fast_retry):
    rules = await fetch_trading_rules("binance", ["btc-usdt"], retry=fast_retry)
    assert rules == [{
        "trading_pair": "BTC-USDT", "min_order_size": 1e-05, "max_order_size": pytest.approx(1e56),
        "min_price_increment": 0.01, "min_base_amount_increment": 1e-05,
        "min_quote_amount_increment": pytest.approx(1e-56), "min_notional_size": 5.0, "min_order_value": 0.0,
        "max_price_significant_digits": pytest.approx(1e56), "supports_limit_orders": True,
        "supports_market_orders": True, "buy_order_collateral_token": "USDT", "sell_order_collateral_token": "USDT",
    }]
    assert fake_binance.count("/api/v3/exchangeInfo") >= 1

    fake_binance.fail_next(429)
    perp = await fetch_trading_rules("binance_perpetual", retry=fast_retry)
    assert [r["trading_pair"] for r in perp] == ["BTC-USDT", "ETH-USDT"]
    assert {r["min_notional_size"] for r in perp} == {100.0}
    assert all(isinstance(v, (float, bool, str)) for r in perp for v in r.values())

    # hummingbot swallows a failed symbol-map request made while formatting rules: still complete
    fake_binance.reset()
    fake_binance.fail_paths = ("/api/v3/exchangeInfo",)
    fake_binance.fail_next(None, 429)
    rules = await fetch_trading_rules("binance", retry=fast_retry)
    assert [r["trading_pair"] for r in rules] == ["BTC-USDT", "ETH-USDT"]
    assert 429 in [r.status for r in fake_binance.log("/api/v3/exchangeInfo")]
    fake_binance.fail_paths = None

    with pytest.raises(NotFound, match="DOGE-USDT"):
        await fetch_trading_rules("binance", ["BTC-USDT", "DOGE-USDT"], retry=fast_retry)
    with pytest.raises(BadRequest):
        await fetch_trading_rules("binance", ["BTCUSDT"], retry=fast_retry)
    with pytest.raises(NotFound):
        await fetch_trading_rules("nosuchexchange", retry=fast_retry)


# ----------------------------------------------------------------------------------- store

def test_write_dedupes_sorts_and_newest_wins(candle_store):
    base = candles(T0 - 50 * MIN, 100)  # crosses 2023-12 / 2024-01
    shuffled = pd.concat([base.iloc[::-1], base.iloc[10:20].assign(close=1.0)])  # later duplicates win
    res = candle_store.write(KEY, shuffled)
    assert res == {"rows": 100, "added": 100, "partitions": ["2023-12", "2024-01"]}
    key_dir = Path(candle_store.root) / "candles/binance/BTC-USDT/1m"
    assert sorted(p.name for p in key_dir.glob("*.parquet")) == ["2023-12.parquet", "2024-01.parquet"]

    got = candle_store.read(KEY)
    assert got["timestamp"].is_monotonic_increasing and got["timestamp"].is_unique and len(got) == 100
    assert (got["close"].iloc[10:20] == 1.0).all() and (got["close"].iloc[:10] != 1.0).all()

    # a second, overlapping write merges: stored rows are replaced, new ones added
    res = candle_store.write(KEY, candles(T0 + 40 * MIN, 20, close=2.0))
    assert res["added"] == 10
    got = candle_store.read(KEY)
    assert len(got) == 110 and (got.set_index("timestamp").loc[T0 + 40 * MIN:, "close"] == 2.0).all()
    # bounds are inclusive; ms and ISO bounds accepted
    part = candle_store.read(KEY, (T0 - MIN) * 1000, "2024-01-01T00:01:00Z")
    assert part["timestamp"].tolist() == [T0 - MIN, T0, T0 + MIN]
    assert candle_store.read(KEY, T0 + DAY, T0 + 2 * DAY).empty
    assert list(candle_store.read(KEY, columns=["timestamp", "close"]).columns) == ["timestamp", "close"]


def test_write_rejects_malformed_candles(candle_store):
    with pytest.raises(Invalid, match="close"):
        candle_store.write(KEY, candles(T0, 3).drop(columns=["close"]))
    with pytest.raises(Invalid, match="grid"):
        candle_store.write(KEY, candles(T0, 3).assign(timestamp=[T0, T0 + 60, T0 + 90]))
    with pytest.raises(Invalid):
        candle_store.write(KEY, candles(T0, 3).assign(open=["1", "x", "2"]))
    assert candle_store.keys() == []


def test_failed_commit_leaves_the_old_file_intact(candle_store, monkeypatch):
    candle_store.write(KEY, candles(T0, 100))
    path = Path(candle_store.root) / "candles/binance/BTC-USDT/1m/2024-01.parquet"
    before = path.read_bytes()

    def crash(fs, src, dst):  # the process "dies" between writing the temp file and the rename
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(store_mod, "_replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        candle_store.write(KEY, candles(T0 + 50 * MIN, 100, close=9.0))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name != ".lock"] == ["2024-01.parquet"]  # temp removed
    pd.testing.assert_frame_equal(candle_store.read(KEY), candles(T0, 100))

    # a temp file left by a real crash (kill -9) is ignored by readers and listings
    (path.parent / ".2024-01.parquet.dead.tmp").write_bytes(b"PAR1 half written")
    monkeypatch.undo()
    assert candle_store.ranges(KEY) == [(T0, T0 + 99 * MIN)] and candle_store.keys() == [KEY]
    candle_store.write(KEY, candles(T0 + 50 * MIN, 100, close=9.0))
    assert len(candle_store.read(KEY)) == 150


def test_concurrent_thread_writes_merge(candle_store):
    chunks = [candles(T0 + i * 500 * MIN, 500) for i in range(8)]  # 8 x 500 rows, mostly one partition
    barrier = threading.Barrier(len(chunks))
    errors: list[BaseException] = []

    def writer(df: pd.DataFrame) -> None:
        try:
            barrier.wait()
            candle_store.write(KEY, df)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    pd.testing.assert_frame_equal(candle_store.read(KEY), candles(T0, 4000))
    assert candle_store.ranges(KEY) == [(T0, T0 + 3999 * MIN)]


def test_concurrent_process_writes_merge(tmp_path):
    """Writers in separate processes serialise on fcntl.flock instead of clobbering each other."""
    script = textwrap.dedent("""
        import sys
        import numpy as np, pandas as pd
        from svc_marketdata.store import CandleStore, COLUMNS
        root, start, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        store = CandleStore(root)
        for i in range(5):  # five read-merge-write cycles each, interleaving with the other processes
            ts = (start + 60 * (np.arange(n) + i * n)).astype("float64")
            df = pd.DataFrame({c: ts if c == "timestamp" else np.ones(n) for c in COLUMNS})
            store.write("binance/BTC-USDT/1m", df)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(T0 + p * 1000 * MIN), "200"],
                              env=env, cwd=ROOT) for p in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    store = CandleStore(tmp_path)
    got = store.read(KEY)
    assert len(got) == 3000 and got["timestamp"].is_unique
    assert store.ranges(KEY) == [(T0, T0 + 2999 * MIN)]


def test_ranges_gaps_and_status(candle_store):
    candle_store.write(KEY, candles(T0 - 10 * MIN, 110))        # 2023-12-31 23:50 .. 2024-01-01 01:39
    candle_store.write(KEY, candles(T0 + 200 * MIN, 100))       # 03:20 .. 05:00
    candle_store.write(KEY, candles(T0 + 31 * DAY, 10))          # 2024-02-01 00:00 ..
    assert candle_store.ranges(KEY) == [
        (T0 - 10 * MIN, T0 + 99 * MIN), (T0 + 200 * MIN, T0 + 299 * MIN), (T0 + 31 * DAY, T0 + 31 * DAY + 9 * MIN)]
    # unaligned bounds snap inward to candle open times
    assert candle_store.gaps(KEY, T0 - 20 * MIN - 5, T0 + 400 * MIN + 5) == [
        (T0 - 20 * MIN, T0 - 11 * MIN), (T0 + 100 * MIN, T0 + 199 * MIN), (T0 + 300 * MIN, T0 + 400 * MIN)]
    assert candle_store.gaps(KEY, T0, T0 + 99 * MIN) == []
    assert candle_store.gaps(KEY, T0 + 150 * MIN, T0 + 160 * MIN) == [(T0 + 150 * MIN, T0 + 160 * MIN)]

    status = candle_store.status(KEY)
    assert status["rows"] == 220 and status["first"] == T0 - 10 * MIN and status["last"] == T0 + 31 * DAY + 9 * MIN
    assert status["gaps"] == [[T0 + 100 * MIN, T0 + 199 * MIN], [T0 + 300 * MIN, T0 + 31 * DAY - MIN]]
    assert status["missing"] == 100 + (31 * DAY // MIN - 300)
    assert status["files"] == 3 and status["connector_name"] == "binance"
    assert candle_store.status(CandleKey("binance", "ETH-USDT", "1m"))["rows"] == 0
    assert candle_store.gaps("binance/ETH-USDT/1m", T0, T0 + 2 * MIN) == [(T0, T0 + 2 * MIN)]

    other = CandleKey("binance_perpetual", "ETH-USDT", "1h")
    candle_store.write(other, candles(T0, 48, 3600))
    assert candle_store.keys() == [KEY, other]
    assert sorted(p.name for p in (Path(candle_store.root) / "candles/binance_perpetual/ETH-USDT/1h").glob("*")
                  if p.suffix == ".parquet") == ["2024.parquet"]  # hourly and coarser: one file per year


def utc(day: str) -> int:
    return int(pd.Timestamp(day, tz="UTC").timestamp())


def test_calendar_intervals_gaps(candle_store):
    monthly = CandleKey("binance", "BTC-USDT", "1M")
    opens = [utc(d) for d in ("2024-01-01", "2024-02-01", "2024-03-01", "2024-05-01")]
    candle_store.write(monthly, candles(T0, 4, DAY).assign(timestamp=opens))
    assert candle_store.ranges(monthly) == [(utc("2024-01-01"), utc("2024-03-01")), (utc("2024-05-01"),) * 2]
    assert candle_store.gaps(monthly, T0, "2024-06-15") == [(utc("2024-04-01"),) * 2, (utc("2024-06-01"),) * 2]

    weekly = CandleKey("binance", "BTC-USDT", "1w")  # weeks open on Monday, as Binance's 1w candles
    candle_store.write(weekly, candles(T0, 3, 7 * DAY))
    assert Grid("1w").floor(T0 + 3 * DAY) == T0
    assert candle_store.gaps(weekly, T0 - 7 * DAY, T0 + 28 * DAY) == [
        (T0 - 7 * DAY, T0 - 7 * DAY), (T0 + 21 * DAY, T0 + 28 * DAY)]


def test_read_opens_only_overlapping_partitions(candle_store, monkeypatch):
    for month_start in pd.date_range("2024-01-01", "2024-06-01", freq="MS", tz="UTC"):
        candle_store.write(KEY, candles(int(month_start.timestamp()), 60))
    opened: list[str] = []
    real = CandleStore._read_table
    monkeypatch.setattr(CandleStore, "_read_table", lambda self, p, c=None: opened.append(p) or real(self, p, c))
    feb = int(pd.Timestamp("2024-02-01", tz="UTC").timestamp())
    got = candle_store.read(KEY, feb, feb + 3600)
    assert len(got) == 60 and [Path(p).name for p in opened] == ["2024-02.parquet"]


def test_year_of_1m_reads_well_under_a_second(candle_store):
    n = 366 * 1440  # 2024 is a leap year
    ts = T0 + MIN * np.arange(n, dtype="float64")
    rng = np.random.default_rng(1)
    close = 40_000 + np.cumsum(rng.normal(0, 5, n))
    df = pd.DataFrame({"timestamp": ts, "open": close, "high": close + 3, "low": close - 3, "close": close,
                       "volume": rng.random(n), "quote_asset_volume": rng.random(n), "n_trades": 7.0,
                       "taker_buy_base_volume": 0.0, "taker_buy_quote_volume": 0.0})
    candle_store.write(KEY, df)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        got = candle_store.read(KEY, T0, T0 + 366 * DAY)
        best = min(best, time.perf_counter() - t)
    assert len(got) == n and best < 0.5, f"full-year read took {best:.3f}s"
    assert candle_store.status(KEY)["ranges"] == [[T0, int(ts[-1])]]


def test_resample_ohlcv():
    df = candles(T0 - 30 * MIN, 24 * 60 * 3)  # 3 days of 1m starting 23:30
    hourly = resample(df, "1h")
    idx = pd.to_datetime(df["timestamp"], unit="s")
    ref = df.set_index(idx).resample("1h").agg({
        "open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
        "quote_asset_volume": "sum", "n_trades": "sum", "taker_buy_base_volume": "sum",
        "taker_buy_quote_volume": "sum"})
    assert hourly["timestamp"].tolist() == (ref.index.astype("int64") // 10**9).astype(float).tolist()
    np.testing.assert_allclose(hourly[list(COLUMNS[1:])].to_numpy(), ref[list(COLUMNS[1:])].to_numpy())
    assert hourly["timestamp"].iloc[0] == T0 - 3600  # the partial first hour is kept

    daily = resample(df, "1d")
    assert len(daily) == 4 and daily["open"].iloc[1] == df.loc[df.timestamp == T0, "open"].iloc[0]
    assert daily["volume"].sum() == pytest.approx(df["volume"].sum())
    weekly = resample(candles(T0, 14, DAY), "1w")
    assert weekly["timestamp"].tolist() == [T0, T0 + 7 * DAY]  # Monday-anchored
    assert resample(candles(T0, 61, DAY), "1M")["timestamp"].tolist() == [
        T0, T0 + 31 * DAY, T0 + 60 * DAY]  # Jan, Feb (29 days in 2024), Mar


# ----------------------------------------------------------------------------------- import

def test_import_csv_with_ms_timestamps(candle_store, tmp_path):
    src = candles(T0, 300)
    csv = src.assign(timestamp=(src["timestamp"] * 1000).astype("int64"), extra="x").sample(frac=1, random_state=3)
    csv = csv.rename(columns={"n_trades": "trades"})
    path = tmp_path / "user.csv"
    csv.to_csv(path, index=False)
    res = candle_store.import_file(KEY, path)
    assert res["added"] == 300 and res["first"] == T0 and res["last"] == T0 + 299 * MIN
    pd.testing.assert_frame_equal(candle_store.read(KEY), src)


def test_import_headerless_binance_dump_and_parquet(candle_store, tmp_path):
    from tests.fakes.exchange import kline

    dump = tmp_path / "BTCUSDT-1m-2024-01.csv"  # data.binance.vision layout, microsecond open times
    lines = [",".join(str(v) for v in [k[0] * 1000, *k[1:]]) for k in (kline((T0 + i * MIN) * 1000, 60_000)
                                                                         for i in range(120))]
    dump.write_text("\n".join(lines) + "\n")
    assert candle_store.import_file(KEY, dump)["added"] == 120
    pd.testing.assert_frame_equal(candle_store.read(KEY), candles(T0, 120))

    pq_path = tmp_path / "more.parquet"
    candles(T0 + 120 * MIN, 60).to_parquet(pq_path)
    candle_store.import_file(KEY, pq_path)
    assert candle_store.ranges(KEY) == [(T0, T0 + 179 * MIN)]


def test_import_rejects_bad_files(candle_store, tmp_path):
    missing = tmp_path / "missing.csv"
    candles(T0, 10).drop(columns=["close"]).to_csv(missing, index=False)
    with pytest.raises(Invalid, match="close"):
        candle_store.import_file(KEY, missing)
    text = tmp_path / "text.csv"
    candles(T0, 10).assign(high="n/a").to_csv(text, index=False)
    with pytest.raises(Invalid, match="high"):
        candle_store.import_file(KEY, text)
    five = tmp_path / "five.csv"
    candles(T0, 50, 300).to_csv(five, index=False)
    with pytest.raises(Invalid, match="5m"):  # 5m data offered as 1m
        candle_store.import_file(KEY, five)
    with pytest.raises(NotFound):
        candle_store.import_file(KEY, tmp_path / "nope.csv")
    assert candle_store.keys() == []


# ----------------------------------------------------------------------------------- S3

def test_s3_store_write_read(s3_store, s3_filesystem):
    import pyarrow.fs as pafs

    fs, bucket = s3_filesystem
    df = candles(T0 - 100 * MIN, 300)  # spans two monthly objects
    assert s3_store.write(KEY, df)["partitions"] == ["2023-12", "2024-01"]
    pd.testing.assert_frame_equal(s3_store.read(KEY), df)
    s3_store.write(KEY, candles(T0 + 150 * MIN, 100, close=5.0))  # merge through a second PUT
    got = s3_store.read(KEY, T0 + 100 * MIN, T0 + 300 * MIN)
    assert len(got) == 150 and (got.set_index("timestamp").loc[T0 + 150 * MIN:, "close"] == 5.0).all()
    assert s3_store.ranges(KEY) == [(T0 - 100 * MIN, T0 + 249 * MIN)]
    assert s3_store.keys() == [KEY]
    objects = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(bucket, recursive=True))
                     if i.type == pafs.FileType.File)
    assert objects == [f"{bucket}/marketdata/candles/binance/BTC-USDT/1m/2023-12.parquet",
                       f"{bucket}/marketdata/candles/binance/BTC-USDT/1m/2024-01.parquet"]
    # another store instance (another service replica) sees the same data
    other = CandleStore(f"{bucket}/marketdata", filesystem=fs)
    assert other.status(KEY)["rows"] == 350
