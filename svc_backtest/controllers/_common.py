"""Helpers shared by the controllers: indicator wrappers, list parsing and two intermediate bases.

Controller modules must reference the intermediate bases as ``_common.X`` (never
``from ._common import X``): Hummingbot picks the *first* config/controller class it finds among a
controller module's members (alphabetically), so a base bound by name in the module could be
chosen instead of the real one.
"""
from decimal import Decimal
from typing import Annotated, List, Optional

import numpy as np
import pandas as pd
import pandas_ta as ta
from pydantic import AfterValidator, Field, field_validator
from pydantic_core.core_schema import ValidationInfo

from hummingbot.core.data_type.common import TradeType
from hummingbot.data_feed.candles_feed.candles_base import CandlesBase
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)
from hummingbot.strategy_v2.controllers.market_making_controller_base import (
    MarketMakingControllerBase,
    MarketMakingControllerConfigBase,
)
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig

CANDLE_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume", "quote_asset_volume",
                  "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume"]


# ---------------------------------------------------------------- parsing

def _check_interval(value: str) -> str:
    if value not in CandlesBase.interval_to_seconds:
        raise ValueError(f"unknown candle interval {value!r} (use one of {', '.join(CandlesBase.interval_to_seconds)})")
    return value


#: A candle interval hummingbot knows ("1m", "3m", "1h", ...).
Interval = Annotated[str, AfterValidator(_check_interval)]


def split_list(value):
    """'0.01,0.02' / 0.01 / [0.01, 0.02] / None -> list (items are cast by pydantic afterwards)."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return []
    if isinstance(value, str):
        return [x.strip() for x in value.split(",") if x.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def spreads_field(default: List[float], side: str):
    return Field(default=list(default), json_schema_extra={
        "prompt": f"Comma-separated {side} spreads (e.g. '0.01,0.02'): ", "prompt_on_new": True,
        "is_updatable": True})


def amounts_field(side: str):
    return Field(default=None, validate_default=True, json_schema_extra={
        "prompt": f"Comma-separated {side} amounts as weights (blank = equal): ", "prompt_on_new": True,
        "is_updatable": True})


# ---------------------------------------------------------------- candles + indicators

def candles_df(controller, interval: str, max_records: int) -> pd.DataFrame:
    """The candles the controller asked for, as a fresh frame (empty frame with the right columns if none)."""
    cfg = controller.config
    connector = getattr(cfg, "candles_connector", None) or cfg.connector_name
    pair = getattr(cfg, "candles_trading_pair", None) or cfg.trading_pair
    df = controller.market_data_provider.get_candles_df(connector, pair, interval, max_records)
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=CANDLE_COLUMNS, dtype=float)
    return df.reset_index(drop=True).copy()


def candles_config(controller, interval: str, max_records: int) -> List[CandlesConfig]:
    cfg = controller.config
    return [CandlesConfig(connector=getattr(cfg, "candles_connector", None) or cfg.connector_name,
                          trading_pair=getattr(cfg, "candles_trading_pair", None) or cfg.trading_pair,
                          interval=interval, max_records=max_records)]


def _nan(index) -> pd.Series:
    return pd.Series(np.nan, index=index, dtype=float)


def bollinger(close: pd.Series, length: int, std: float) -> dict:
    """bbl/bbm/bbu, bb_width ((upper-lower)/mid, a fraction) and bbp (%B). All-NaN when too few rows."""
    res = ta.bbands(close, length=length, lower_std=std, upper_std=std) if len(close) >= length else None
    if res is None:
        return {k: _nan(close.index) for k in ("bbl", "bbm", "bbu", "bb_width", "bbp")}
    return {"bbl": res.iloc[:, 0], "bbm": res.iloc[:, 1], "bbu": res.iloc[:, 2],
            "bb_width": res.iloc[:, 3] / 100, "bbp": res.iloc[:, 4]}


def macd(close: pd.Series, fast: int, slow: int, signal: int) -> dict:
    res = ta.macd(close, fast=fast, slow=slow, signal=signal) if len(close) > slow else None
    if res is None:
        return {k: _nan(close.index) for k in ("macd", "macd_hist", "macd_signal_line")}
    return {"macd": res.iloc[:, 0], "macd_hist": res.iloc[:, 1], "macd_signal_line": res.iloc[:, 2]}


def natr(df: pd.DataFrame, length: int) -> pd.Series:
    """Normalised ATR as a fraction of price (pandas-ta returns percent)."""
    res = ta.natr(df["high"], df["low"], df["close"], length=length) if len(df) > length else None
    return _nan(df.index) if res is None else res / 100


def signal_from(long_condition: pd.Series, short_condition: pd.Series, valid: pd.Series) -> pd.Series:
    """1 where long, -1 where short, 0 otherwise, NaN where the inputs are not valid yet."""
    sig = pd.Series(0.0, index=long_condition.index)
    sig[long_condition.fillna(False).astype(bool)] = 1.0
    sig[short_condition.fillna(False).astype(bool)] = -1.0
    sig[~valid.astype(bool)] = np.nan
    return sig


def rsi(close: pd.Series, length: int) -> pd.Series:
    res = ta.rsi(close, length=length) if len(close) > length else None
    return _nan(close.index) if res is None else res


# ---------------------------------------------------------------- intermediate bases

class MarketMakingLevelsConfig(MarketMakingControllerConfigBase):
    """Market-making config whose level lists are valid when left at their defaults.

    Hummingbot's base declares ``buy_spreads="0.01,0.02"`` and ``buy_amounts_pct=None`` as defaults,
    which its ``mode="before"`` validators never see, so a config built without them breaks later.
    Here spreads default to real lists and the amount weights are validated (and equalised) even
    when omitted.
    """
    controller_name: str = "market_making"
    buy_spreads: List[float] = spreads_field([0.01, 0.02], "buy")
    sell_spreads: List[float] = spreads_field([0.01, 0.02], "sell")
    buy_amounts_pct: Optional[List[Decimal]] = amounts_field("buy")
    sell_amounts_pct: Optional[List[Decimal]] = amounts_field("sell")

    @field_validator("buy_spreads", "sell_spreads", mode="before")
    @classmethod
    def parse_spreads(cls, v):
        values = split_list(v)
        if not values:
            raise ValueError("at least one spread is required")
        return values

    @field_validator("buy_amounts_pct", "sell_amounts_pct", mode="before")
    @classmethod
    def parse_and_validate_amounts(cls, v, info: ValidationInfo):
        spreads = info.data.get(info.field_name.replace("amounts_pct", "spreads"))
        if spreads is None:  # the spreads themselves were invalid and already reported
            return None
        values = split_list(v)
        if not values:
            return [Decimal(1)] * len(spreads)
        if len(values) != len(spreads):
            raise ValueError(f"needs one weight per spread ({len(spreads)}), got {len(values)}")
        return values


class CandleFeatures:
    """Features computed on one candle feed (``config.interval``) with ``max_records`` of warm-up."""

    def get_candles_config(self):
        return candles_config(self, self.config.interval, self.max_records)

    def candles(self) -> pd.DataFrame:
        return candles_df(self, self.config.interval, self.max_records)


class DirectionalConfig(DirectionalTradingControllerConfigBase):
    """Directional config with where to read candles from (defaults to the traded market)."""
    controller_name: str = "directional_trading"
    candles_connector: Optional[str] = Field(default=None, json_schema_extra={
        "prompt": "Candles connector (blank = same as connector_name): ", "prompt_on_new": True})
    candles_trading_pair: Optional[str] = Field(default=None, json_schema_extra={
        "prompt": "Candles trading pair (blank = same as trading_pair): ", "prompt_on_new": True})
    interval: Interval = Field(default="3m", json_schema_extra={
        "prompt": "Candle interval (e.g. 1m, 3m, 1h): ", "prompt_on_new": True})


class DirectionalController(CandleFeatures, DirectionalTradingControllerBase):
    """Directional controller base with Hummingbot's per-side executor count fixed.

    The stock ``can_create_executor`` filters with ``x.side == BUY if signal > 0 else SELL``, which
    for a short signal evaluates to the truthy enum ``SELL``: longs were counted against the short
    side's ``max_executors_per_side``.
    """

    def can_create_executor(self, signal: int) -> bool:
        side = TradeType.BUY if signal > 0 else TradeType.SELL
        same_side = [e for e in self.executors_info if e.is_active and e.side == side]
        last_open = max((e.timestamp for e in same_side), default=0)
        return (len(same_side) < self.config.max_executors_per_side
                and self.market_data_provider.time() - last_open > self.config.cooldown_time)

    def set_features(self, df: pd.DataFrame, signal: pd.Series):
        """Store the vectorised features and the latest signal where the engine expects them.

        ``signal`` is 1 (long), -1 (short), 0 (flat) or NaN while the indicators warm up; NaN rows
        are dropped by the engine instead of being read as a signal.
        """
        df["signal"] = signal
        last = signal.dropna()
        self.processed_data = {"signal": int(last.iloc[-1]) if len(last) else 0, "features": df}


class PositionLevelsController(MarketMakingControllerBase):
    """Each level is a limit order at ``price * (1 -/+ spread)`` with the config's triple barrier."""

    def get_executor_config(self, level_id: str, price: Decimal, amount: Decimal):
        return PositionExecutorConfig(
            timestamp=self.market_data_provider.time(),
            level_id=level_id,
            connector_name=self.config.connector_name,
            trading_pair=self.config.trading_pair,
            side=self.get_trade_type_from_level_id(level_id),
            entry_price=price,
            amount=amount,
            triple_barrier_config=self.config.triple_barrier_config,
            leverage=self.config.leverage,
        )


class DynamicLevelsController(CandleFeatures, PositionLevelsController):
    """Levels around a feature-driven reference price, spreads scaled by a feature multiplier."""

    def set_reference(self, df: pd.DataFrame) -> None:
        """Store the features and the last valid reference price / spread multiplier the base class reads."""
        valid = df.dropna(subset=["reference_price", "spread_multiplier"])
        self.processed_data = {"features": df}
        if len(valid):
            self.processed_data["reference_price"] = Decimal(str(valid["reference_price"].iloc[-1]))
            self.processed_data["spread_multiplier"] = Decimal(str(valid["spread_multiplier"].iloc[-1]))


class BollingerConfig(DirectionalConfig):
    """Bollinger %B thresholds: long below ``bb_long_threshold``, short above ``bb_short_threshold``."""
    bb_length: int = Field(default=100, gt=1, json_schema_extra={"prompt": "Bollinger length: "})
    bb_std: float = Field(default=2.0, gt=0, json_schema_extra={"prompt": "Bollinger std multiplier: "})
    bb_long_threshold: float = Field(default=0.0, json_schema_extra={"prompt": "Long when %B below: "})
    bb_short_threshold: float = Field(default=1.0, json_schema_extra={"prompt": "Short when %B above: "})


class BollingerController(DirectionalController):
    """The %B band signal; subclasses add to the features or change the executors."""

    @property
    def max_records(self) -> int:
        return self.config.bb_length + 100

    async def update_processed_data(self):
        cfg = self.config
        df = self.candles()
        df = df.assign(**bollinger(df["close"], cfg.bb_length, cfg.bb_std))
        signal = signal_from(df["bbp"] < cfg.bb_long_threshold, df["bbp"] > cfg.bb_short_threshold,
                             df["bbp"].notna())
        self.set_features(df, signal)
