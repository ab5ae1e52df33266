"""PMM Dynamic: spreads scale with NATR and the reference price leans with MACD.

Spreads are in units of volatility: a spread of 1 means one NATR away from the reference price.
The reference price moves by ``(0.5 * z + 0.5 * sign(MACD histogram)) * NATR / 2``, where ``z`` is
minus the MACD's z-score over the last 100 candles (mean-reverting, clipped to +-3) and the
histogram sign adds momentum; the shift is at most one NATR. The z-score uses a trailing window,
so there is no look-ahead.
"""
from typing import List

import numpy as np
from pydantic import Field


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


class PMMDynamicController(_common.DynamicLevelsController):

    @property
    def max_records(self) -> int:
        return max(self.config.macd_slow + self.config.macd_signal, self.config.natr_length) + 100

    async def update_processed_data(self):
        cfg = self.config
        df = self.candles()
        df["natr"] = _common.natr(df, cfg.natr_length)
        df = df.assign(**_common.macd(df["close"], cfg.macd_fast, cfg.macd_slow, cfg.macd_signal))
        rolling = df["macd"].rolling(100, min_periods=20)
        macd_z = (-(df["macd"] - rolling.mean()) / rolling.std()).replace([np.inf, -np.inf], 0).clip(-3, 3)
        momentum = np.sign(df["macd_hist"])
        df["price_shift"] = (0.5 * macd_z + 0.5 * momentum) * df["natr"] / 2
        df["reference_price"] = df["close"] * (1 + df["price_shift"])
        df["spread_multiplier"] = df["natr"]
        self.set_reference(df)
