"""Fixes for known bugs of hummingbot 20260922's ``BacktestingEngineBase`` (see the backtesting-engine reference).

Every fix is a subclass, nothing in hummingbot is modified:

* ``WarmupDataProvider``   - warm-up buffer: ``get_candles_df`` honours ``max_records``.
* ``FixedDCAExecutorSimulator`` - B5: DCA fills booked at each level's own entry time.
* ``PatchedEngine``        - B6 (``prepare_market_data``), B2/B3/B7 (``summarize_results``), the
  one-tick position-hold lag (``update_executors_info``) and uses the two above.
* ``json_safe``            - B3: NaN/inf/Decimal/Enum/numpy -> strict JSON values.

``apply()`` (run at import, idempotent) only does the process-wide part: it checks the installed
hummingbot is the release these fixes were written against and silences the pandas/numpy warnings
the simulators emit on every run.
"""
import logging
import math
import warnings
from decimal import Decimal
from enum import Enum
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from hummingbot.core.data_type.common import TradeType
from hummingbot.data_feed.candles_feed.candles_base import CandlesBase
from hummingbot.strategy_v2.backtesting.backtesting_data_provider import BacktestingDataProvider
from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase
from hummingbot.strategy_v2.backtesting.executor_simulator_base import ExecutorSimulation
from hummingbot.strategy_v2.backtesting.executors_simulator.dca_executor_simulator import DCAExecutorSimulator
from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig, DCAMode
from hummingbot.strategy_v2.models.base import RunnableStatus
from hummingbot.strategy_v2.models.executors import CloseType

from svc_backtest.errors import BadRequest, NotFound

logger = logging.getLogger(__name__)

TARGET_HUMMINGBOT_VERSION = "20260922"
OHLCV = ["open", "high", "low", "close", "volume"]
#: Feature columns a controller acts on: a row missing one of these must not be simulated.
DECISION_COLUMNS = ["reference_price", "spread_multiplier", "signal"]

_applied = False


def apply() -> bool:
    """Process-wide setup for the patches; safe to call any number of times. Returns True the first time."""
    global _applied
    if _applied:
        return False
    try:
        from importlib.metadata import version
        installed = version("hummingbot")
    except Exception:  # pragma: no cover - hummingbot imported above, metadata may be missing in odd installs
        installed = "unknown"
    if installed != TARGET_HUMMINGBOT_VERSION:
        logger.warning("svc_backtest.patches target hummingbot %s, found %s: re-check the B2-B7 fixes",
                       TARGET_HUMMINGBOT_VERSION, installed)
    # The simulators assign into slices (SettingWithCopy) and divide by zero-std series on every run.
    warnings.filterwarnings("ignore", category=pd.errors.SettingWithCopyWarning, module=r"hummingbot\..*")
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"hummingbot\.strategy_v2\..*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"hummingbot\.strategy_v2\..*")
    # ExecutorSimulation hands numpy bools to pydantic: one DeprecationWarning per executor snapshot.
    warnings.filterwarnings("ignore", message="In future, it will be an error for 'np.bool'",
                            category=DeprecationWarning)
    _applied = True
    return True


# ------------------------------------------------------------------ B3: strict JSON

def json_safe(value):
    """B3: convert a result to strict-JSON values (``json.dumps(allow_nan=False)`` must accept it).

    The engine returns Decimals, Enums (``TradeType``, ``CloseType``...), numpy scalars and pandas
    objects, and NaN/inf can appear (Sharpe, ratios, indicator columns). Hummingbot's servers only
    ``fillna(0)`` the features, so a stray inf broke the response. Non-finite numbers become None,
    Decimal -> float, Enum -> name, numpy -> Python, models -> dicts.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating, Decimal)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, dict):
        return {str(json_safe(k)) if not isinstance(k, str) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Series)):
        return [json_safe(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.timestamp()
    if hasattr(value, "model_dump"):
        return json_safe(value.model_dump())
    return str(value)


# ------------------------------------------------------------------ warm-up buffer

class WarmupDataProvider(BacktestingDataProvider):
    """Warm-up fix: ``get_candles_df`` keeps the ``max_records`` candles before the window.

    The stock provider downloads ``max_records`` candles of warm-up before ``start`` and then
    ``get_candles_df`` filters to [start, end], so indicators start cold inside the window: rows are
    lost to ``dropna`` (bollinger_v1 lost 297 of 1,440) and a window shorter than the indicator
    length raises ``KeyError: 'BBP_100_2.0_2.0'``. Here the buffer before ``start`` is returned too
    (``max_records=0`` gives exactly the window).
    """

    def get_candles_df(self, connector_name: str, trading_pair: str, interval: str, max_records: int = 500):
        df = self.candles_feeds.get(f"{connector_name}_{trading_pair}_{interval}")
        if df is None or len(df) == 0:
            return pd.DataFrame(columns=["timestamp"] + OHLCV)
        buffer = max(int(max_records or 0), 0) * CandlesBase.interval_to_seconds.get(interval, 60)
        ts = df["timestamp"]
        return df[(ts >= self.start_time - buffer) & (ts <= self.end_time)]


# ------------------------------------------------------------------ B5: DCA simulator

class FixedDCAExecutorSimulator(DCAExecutorSimulator):
    """B5: DCA simulation that books each level's fill from that level's own entry time.

    The stock simulator writes every level's fill with the ``entry_timestamp`` left over from its
    first loop: NaN when a level was never reached (-> 0 fills on pandas 2, ``ValueError`` on
    pandas 3), otherwise the *last* level's time. It also indexes ``prices[i + 1]`` on the last
    level when there is no stop loss (IndexError). This implementation walks the levels in order:

    * level k fills (at its limit price) on the first candle whose close crosses it, at or after
      level k-1's fill;
    * while levels 0..k are filled, exits are checked against the average entry price: take profit
      and trailing stop on the close, stop loss (only once every level is filled, like the live
      executor) on the candle low/high; the next level filling first moves on to level k+1;
    * whatever is open at the time limit (or the end of data) closes there with TIME_LIMIT.

    PnL is marked to the close, fees are ``2 * trade_cost`` of the filled amount (round trip) and the
    closing row's ``filled_amount_quote`` is doubled, as in the other simulators.
    """

    def simulate(self, df: pd.DataFrame, config: DCAExecutorConfig, trade_cost: float) -> ExecutorSimulation:
        if config.mode == DCAMode.TAKER:
            raise NotImplementedError("Taker mode is not supported in DCAExecutorSimulator")
        side = 1.0 if config.side == TradeType.BUY else -1.0
        end_ts = config.timestamp + config.time_limit if config.time_limit else df["timestamp"].max()
        frame = df.loc[:end_ts].copy()
        close = frame["close"].to_numpy(dtype=float)
        adverse = (frame["low"] if side > 0 else frame["high"]).to_numpy(dtype=float)
        n = len(close)
        prices = [float(p) for p in config.prices]
        amounts = [float(a) for a in config.amounts_quote]
        tp = float(config.take_profit) if config.take_profit else None
        sl = float(config.stop_loss) if config.stop_loss else None
        ts_cfg = config.trailing_stop

        def first_cross(level: int, start: int) -> Optional[int]:
            hits = np.flatnonzero(close[start:] <= prices[level] if side > 0 else close[start:] >= prices[level])
            return start + int(hits[0]) if len(hits) else None

        def first(mask: np.ndarray, offset: int) -> Optional[int]:
            hits = np.flatnonzero(mask)
            return offset + int(hits[0]) if len(hits) else None

        filled_quote = np.zeros(n)
        filled_base = np.zeros(n)
        quote = base = 0.0
        close_idx, close_type = n - 1, CloseType.TIME_LIMIT
        level, entry = 0, first_cross(0, 0)
        while entry is not None:
            quote += amounts[level]
            base += amounts[level] / prices[level]
            filled_quote[entry:], filled_base[entry:] = quote, base
            avg = quote / base
            pnl = side * (close[entry:] / avg - 1)
            exits = []  # (index, priority, close type): earliest wins, ties by priority
            if tp:
                exits.append((first(pnl >= tp, entry), 0, CloseType.TAKE_PROFIT))
            is_last = level == len(prices) - 1
            if sl and is_last:
                exits.append((first(side * (adverse[entry:] / avg - 1) <= -sl, entry), 1, CloseType.STOP_LOSS))
            if ts_cfg is not None:
                peak = np.maximum.accumulate(pnl)
                armed = peak > float(ts_cfg.activation_price)
                exits.append((first(armed & (pnl < peak - float(ts_cfg.trailing_delta)), entry), 2,
                              CloseType.TRAILING_STOP))
            exits = sorted(e for e in exits if e[0] is not None)
            nxt = None if is_last else first_cross(level + 1, entry)
            if nxt is not None and (not exits or nxt < exits[0][0]):
                level, entry = level + 1, nxt
                continue
            if exits:
                close_idx, close_type = exits[0][0], exits[0][2]
            break

        frame = frame.iloc[:close_idx + 1]
        fq, fb, c = filled_quote[:close_idx + 1], filled_base[:close_idx + 1], close[:close_idx + 1]
        net_pnl_quote = side * (c * fb - fq) - 2 * trade_cost * fq
        frame["net_pnl_quote"] = net_pnl_quote
        frame["net_pnl_pct"] = np.divide(net_pnl_quote, fq, out=np.zeros_like(fq), where=fq > 0)
        frame["cum_fees_quote"] = 2 * trade_cost * fq
        frame["current_position_average_price"] = np.divide(fq, fb, out=np.full_like(fq, prices[0]), where=fb > 0)
        fq = fq.copy()
        fq[-1] *= 2
        frame["filled_amount_quote"] = fq
        return ExecutorSimulation(config=config, executor_simulation=frame, close_type=close_type)


# ------------------------------------------------------------------ B7 helper

class _NoCloseType(Enum):
    """Stands in for ``close_type=None`` inside ``summarize_results`` (B7)."""
    ACTIVE = "ACTIVE"      # executor still running
    UNKNOWN = "UNKNOWN"    # terminated but no close type recorded


class _SummaryRow:
    """Wraps an ExecutorInfo whose ``close_type`` is None so summarize_results can read ``.name``."""

    def __init__(self, info):
        self._info = info

    def to_dict(self):
        d = self._info.to_dict()
        d["close_type"] = (_NoCloseType.UNKNOWN if self._info.status == RunnableStatus.TERMINATED
                           else _NoCloseType.ACTIVE)
        return d


# ------------------------------------------------------------------ engine

class PatchedEngine(BacktestingEngineBase):
    """``BacktestingEngineBase`` with the warm-up, B5, B6, B2, B3, B7 and position-hold-lag fixes."""

    def __init__(self, terminated_executors_window: Optional[float] = BacktestingEngineBase.DEFAULT_TERMINATED_EXECUTORS_WINDOW):
        super().__init__(terminated_executors_window=terminated_executors_window)
        self.backtesting_data_provider = WarmupDataProvider(connectors={})
        self.dca_executor_simulator = FixedDCAExecutorSimulator()
        self.warmup_rows_skipped = 0

    # B6 + warm-up ---------------------------------------------------------
    def prepare_market_data(self) -> pd.DataFrame:
        """B6: build the simulation frame without letting sparse feature columns wipe it out.

        The stock version ``dropna()``s across *all* columns, so supertrend_v1 (whose long/short
        band columns are NaN on alternate segments) loses every row and ``index[-1]`` raises
        IndexError; an empty window raises the same IndexError. Here a row is dropped only when a
        candle value, a decision column (reference_price / spread_multiplier / signal) or a
        warm-up column (NaN only at the start) is missing. Empty windows raise a clear error. The
        resolution candles are taken for [start, end] only, since the provider now keeps the
        warm-up buffer.
        """
        cfg = self.controller.config
        candles = self.backtesting_data_provider.get_candles_df(
            cfg.connector_name, cfg.trading_pair, self.backtesting_resolution, max_records=0)
        if candles is None or len(candles) == 0:
            raise NotFound(f"no {self.backtesting_resolution} candles for {cfg.connector_name} {cfg.trading_pair} "
                           f"between {self.backtesting_data_provider.start_time} and {self.backtesting_data_provider.end_time}")
        df = candles.add_suffix("_bt").reset_index(drop=True)
        df["timestamp_bt"] = df["timestamp_bt"].astype(float)
        features = self.controller.processed_data.get("features")
        if isinstance(features, pd.DataFrame) and "timestamp" in features.columns and len(features):
            features = features.sort_values("timestamp").drop_duplicates("timestamp", keep="last").copy()
            features["timestamp"] = features["timestamp"].astype(float)
            df = pd.merge_asof(df, features.reset_index(drop=True), left_on="timestamp_bt", right_on="timestamp",
                               direction="backward")
        elif features is None:
            df["reference_price"], df["spread_multiplier"], df["signal"] = df["close_bt"], 1, 0
        else:  # a controller with an empty / timestamp-less features frame: no signal at all
            df["signal"] = 0
        df["timestamp"] = df["timestamp_bt"]
        df = BacktestingDataProvider.ensure_epoch_index(df)
        for col in OHLCV:
            df[col] = df[f"{col}_bt"]
        before = len(df)
        df = df.dropna(subset=self._required_columns(df))
        self.warmup_rows_skipped = before - len(df)
        if df.empty:
            raise BadRequest(f"none of the {before} candles in the window has complete indicator values: the window "
                             f"is shorter than the indicators' warm-up; provide candles before the start")
        self.controller.processed_data["features"] = df
        return df

    @staticmethod
    def _required_columns(df: pd.DataFrame) -> List[str]:
        required = ["timestamp"] + OHLCV + [c for c in DECISION_COLUMNS if c in df.columns]
        for col in df.columns:
            if col in required:
                continue
            missing = df[col].isna().to_numpy()
            if not missing.any() or missing.all():
                continue
            first_valid = int(np.argmin(missing))
            if not missing[first_valid:].any():  # NaN only before the first value: a warm-up column
                required.append(col)
        return required

    # position-hold lag -----------------------------------------------------
    def update_executors_info(self, timestamp: float):
        """Book executors that just terminated as POSITION_HOLD into the position ledger at once.

        The stock tick turns last tick's POSITION_HOLD executors into position holds (step 1) and
        only then finds this tick's (step 2), so for one tick a filled order is neither active nor
        in ``positions_held``. A spot market maker's rebalance check then sees the base asset as
        still missing and sends another market order, and the next tick sells the excess: 241
        rebalance orders instead of 1 in 6 hours of pmm_simple on a spot pair.
        """
        super().update_executors_info(timestamp)
        self._update_positions_from_stopped_executors()

    # B2 / B3 / B7 ---------------------------------------------------------
    @staticmethod
    def summarize_results(executors_info: List, total_amount_quote: float = 1000,
                          position_holds: Optional[List] = None, final_price: Optional[Decimal] = None,
                          pnl_timeseries: Optional[List[Dict]] = None) -> dict:
        """B2, B3, B7: ``summarize_results`` that always returns finite, JSON-safe numbers.

        * B7: executors with ``close_type=None`` (still active) raised AttributeError on
          ``x.name``; they are counted under close type ``ACTIVE`` (``UNKNOWN`` if terminated).
        * B2: the fallback Sharpe (no pnl_timeseries, the /get-performance-results path) divides by a
          zero std and returns inf; it is 0, as the pnl_timeseries branch already does.
        * B3: ``total_amount_quote <= 0`` raised ZeroDivisionError; the percentage fields are None
          then. Any other non-finite value becomes None, and the empty-list ``close_types: 0`` is {}.
        """
        rows = [_SummaryRow(ei) if ei.close_type is None else ei for ei in executors_info]
        total = float(total_amount_quote or 0)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            results = BacktestingEngineBase.summarize_results(
                rows, total if total > 0 else 1.0, position_holds=position_holds, final_price=final_price,
                pnl_timeseries=pnl_timeseries)
        sharpe = results.get("sharpe_ratio")
        if sharpe is None or not math.isfinite(float(sharpe)):
            results["sharpe_ratio"] = 0.0
        if total <= 0:
            results["net_pnl"] = None
            results["max_drawdown_pct"] = None
        if not isinstance(results.get("close_types"), dict):
            results["close_types"] = {}
        return json_safe(results)


apply()
