"""PMM Dynamic 2: spreads scale with the Bollinger band width and the reference price leans with RSI.

Spreads are in units of band width ((upper - lower) / middle): 0.5 quotes half a band width away.
When RSI is above 50 (overbought) the reference price moves down, below 50 it moves up, by at
most ``max_skew`` band widths.
"""
from typing import List

from pydantic import Field


from svc_backtest.controllers import _common


class PMMDynamic2Config(_common.MarketMakingLevelsConfig):
    controller_name: str = "pmm_dynamic_2"
    buy_spreads: List[float] = _common.spreads_field([0.5, 1.0], "buy (in band widths)")
    sell_spreads: List[float] = _common.spreads_field([0.5, 1.0], "sell (in band widths)")
    candles_connector: str | None = Field(default=None, json_schema_extra={"prompt": "Candles connector: "})
    candles_trading_pair: str | None = Field(default=None, json_schema_extra={"prompt": "Candles pair: "})
    interval: _common.Interval = Field(default="3m", json_schema_extra={"prompt": "Candle interval: "})
    bb_length: int = Field(default=50, gt=1, json_schema_extra={"prompt": "Bollinger length: "})
    bb_std: float = Field(default=2.0, gt=0, json_schema_extra={"prompt": "Bollinger std multiplier: "})
    rsi_length: int = Field(default=14, gt=0, json_schema_extra={"prompt": "RSI length: "})
    max_skew: float = Field(default=0.25, ge=0, json_schema_extra={"prompt": "Max price skew in band widths: "})


class PMMDynamic2Controller(_common.DynamicLevelsController):

    @property
    def max_records(self) -> int:
        return max(self.config.bb_length, self.config.rsi_length) + 100

    async def update_processed_data(self):
        cfg = self.config
        df = self.candles()
        bb = _common.bollinger(df["close"], cfg.bb_length, cfg.bb_std)
        df["bb_width"] = bb["bb_width"]
        df["rsi"] = _common.rsi(df["close"], cfg.rsi_length)
        skew = -(df["rsi"] - 50) / 50 * cfg.max_skew * df["bb_width"]
        df["reference_price"] = df["close"] * (1 + skew)
        df["spread_multiplier"] = df["bb_width"]
        self.set_reference(df)
