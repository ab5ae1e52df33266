"""PMM Dynamic: spreads scale with NATR and the reference price leans with MACD.

Spreads are in units of volatility: a spread of 1 means one NATR away from the reference price.
The reference price moves by ``(0.5 * z + 0.5 * sign(MACD histogram)) * NATR / 2``, where ``z`` is
minus the MACD's z-score over the last 100 candles (mean-reverting, clipped to +-3) and the
histogram sign adds momentum; the shift is at most one NATR. The z-score uses a trailing window,
so there is no look-ahead.
"""
from decimal import Decimal
from typing import List

import numpy as np
from pydantic import Field

from hummingbot.strategy_v2.controllers.market_making_controller_base import MarketMakingControllerBase
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig

from svc_backtest.controllers import _common


class PMMDynamicConfig(_common.MarketMakingLevelsConfig):
    controller_name: str = "pmm_dynamic"
    buy_spreads: List[float] = _common.spreads_field([1.0, 2.0, 4.0], "buy (in NATR units)")
    sell_spreads: List[float] = _common.spreads_field([1.0, 2.0, 4.0], "sell (in NATR units)")
    candles_connector: str | None = Field(default=None, json_schema_extra={"prompt": "Candles connector: "})
    candles_trading_pair: str | None = Field(default=None, json_schema_extra={"prompt": "Candles pair: "})
    interval: _common.Interval = Field(default="3m", json_schema_extra={"prompt": "Candle interval: "})
    macd_fast: int = Field(default=21, gt=0, json_schema_extra={"prompt": "MACD fast length: "})
    macd_slow: int = Field(default=42, gt=0, json_schema_extra={"prompt": "MACD slow length: "})
    macd_signal: int = Field(default=9, gt=0, json_schema_extra={"prompt": "MACD signal length: "})
    natr_length: int = Field(default=14, gt=0, json_schema_extra={"prompt": "NATR length: "})


class PMMDynamicController(MarketMakingControllerBase):

    @property
    def max_records(self) -> int:
        return max(self.config.macd_slow + self.config.macd_signal, self.config.natr_length) + 100

    def get_candles_config(self):
        return _common.candles_config(self, self.config.interval, self.max_records)

    async def update_processed_data(self):
        cfg = self.config
        df = _common.candles_df(self, cfg.interval, self.max_records)
        df["natr"] = _common.natr(df, cfg.natr_length)
        for name, series in _common.macd(df["close"], cfg.macd_fast, cfg.macd_slow, cfg.macd_signal).items():
            df[name] = series
        rolling = df["macd"].rolling(100, min_periods=20)
        macd_z = (-(df["macd"] - rolling.mean()) / rolling.std()).replace([np.inf, -np.inf], 0).clip(-3, 3)
        momentum = np.sign(df["macd_hist"])
        df["price_shift"] = (0.5 * macd_z + 0.5 * momentum) * df["natr"] / 2
        df["reference_price"] = df["close"] * (1 + df["price_shift"])
        df["spread_multiplier"] = df["natr"]
        valid = df.dropna(subset=["reference_price", "spread_multiplier"])
        self.processed_data = {"features": df}
        if len(valid):
            self.processed_data["reference_price"] = Decimal(str(valid["reference_price"].iloc[-1]))
            self.processed_data["spread_multiplier"] = Decimal(str(valid["spread_multiplier"].iloc[-1]))

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
