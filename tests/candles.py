"""Deterministic synthetic candles for the backtest tests.

``SyntheticMarket`` draws one seeded 1-minute random walk over a fixed span, made of regimes that
each last a few hours with their own drift (down / flat / up) and volatility (calm / normal /
wild). Any window and any coarser interval is cut or resampled from that one path, so a warm-up
buffer fetched separately lines up exactly with the window it precedes. Columns are Hummingbot's
ten candle columns with ``timestamp`` = candle open time in epoch seconds.
"""
from typing import Optional

import numpy as np
import pandas as pd

COLUMNS = ["timestamp", "open", "high", "low", "close", "volume", "quote_asset_volume",
           "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume"]
INTERVAL_SECONDS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
                    "4h": 14400, "1d": 86400}

DAY = 86400
#: A fixed, minute-aligned start for tests (2024-01-01 00:00:00 UTC).
T0 = 1704067200


class SyntheticMarket:
    """A seeded 1m price path over [start, end) that serves windows at any interval."""

    def __init__(self, start: int, end: int, seed: int = 7, start_price: float = 100.0,
                 base_vol: float = 0.0012, regime_minutes: tuple = (180, 720)):
        if start % 60 or end <= start:
            raise ValueError("start must be minute-aligned and before end")
        self.start, self.end, self.seed = start, end, seed
        rng = np.random.default_rng(seed)
        n = (end - start) // 60
        drift = np.empty(n)
        vol = np.empty(n)
        i = 0
        while i < n:
            length = int(rng.integers(*regime_minutes))
            drift[i:i + length] = rng.choice([-1.0, 0.0, 0.0, 1.0]) * base_vol * rng.uniform(0.02, 0.08)
            vol[i:i + length] = base_vol * rng.choice([0.5, 1.0, 1.0, 2.0])
            i += length
        returns = drift + vol * rng.standard_normal(n)
        close = start_price * np.exp(np.cumsum(returns))
        open_ = np.concatenate([[start_price], close[:-1]])
        wick = vol * np.abs(rng.standard_normal((2, n)))
        high = np.maximum(open_, close) * np.exp(wick[0])
        low = np.minimum(open_, close) * np.exp(-wick[1])
        volume = rng.lognormal(mean=3.0, sigma=0.5, size=n) * (vol / base_vol)
        taker_share = rng.uniform(0.3, 0.7, n)
        self.df_1m = pd.DataFrame({
            "timestamp": (start + 60 * np.arange(n)).astype(float),
            "open": open_, "high": high, "low": low, "close": close, "volume": volume,
            "quote_asset_volume": volume * close,
            "n_trades": rng.poisson(50 * vol / base_vol, n).astype(float),
            "taker_buy_base_volume": volume * taker_share,
            "taker_buy_quote_volume": volume * taker_share * close,
        })

    def candles(self, interval: str = "1m", start: Optional[int] = None, end: Optional[int] = None) -> pd.DataFrame:
        """Candles whose open time is in [start, end] (inclusive, like Hummingbot's feeds)."""
        start = self.start if start is None else start
        end = self.end if end is None else end
        seconds = INTERVAL_SECONDS[interval]
        df = self.df_1m
        if seconds != 60:
            bucket = (df["timestamp"] // seconds) * seconds
            df = df.groupby(bucket).agg({
                "open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
                "quote_asset_volume": "sum", "n_trades": "sum", "taker_buy_base_volume": "sum",
                "taker_buy_quote_volume": "sum"}).reset_index(names="timestamp")
        out = df[(df["timestamp"] >= start) & (df["timestamp"] <= end)]
        return out[COLUMNS].reset_index(drop=True)

    def loader(self, connector: str, trading_pair: str, interval: str, start: int, end: int) -> pd.DataFrame:
        """Signature of the engine's candle loader callable."""
        return self.candles(interval, start, end)

    def feeds(self, connector: str, trading_pair: str, intervals=("1m", "3m"), start=None, end=None) -> dict:
        """Candles as the engine's ``{f"{connector}_{pair}_{interval}": DataFrame}`` mapping."""
        return {f"{connector}_{trading_pair}_{iv}": self.candles(iv, start, end) for iv in intervals}


def generate_candles(start: int, end: int, interval: str = "1m", seed: int = 7, **kwargs) -> pd.DataFrame:
    """One-shot helper: candles of ``interval`` for [start, end] from a market seeded with ``seed``."""
    return SyntheticMarket(start, end + 60, seed=seed, **kwargs).candles(interval, start, end)


def flat_candles(start: int, end: int, price: float = 100.0) -> pd.DataFrame:
    """A market that never moves: a zero-trade backdrop for edge cases."""
    ts = np.arange(start, end + 1, 60, dtype=float)
    n = len(ts)
    return pd.DataFrame({"timestamp": ts, "open": price, "high": price, "low": price, "close": price,
                         "volume": np.ones(n), "quote_asset_volume": np.full(n, price), "n_trades": np.ones(n),
                         "taker_buy_base_volume": np.full(n, 0.5), "taker_buy_quote_volume": np.full(n, price / 2)})
