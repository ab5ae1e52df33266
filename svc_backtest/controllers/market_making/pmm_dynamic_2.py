"""PMM Dynamic 2: spreads scale with the Bollinger band width and the reference price leans with RSI.

Spreads are in units of band width ((upper - lower) / middle): 0.5 quotes half a band width away.
When RSI is above 50 (overbought) the reference price moves down, below 50 it moves up, by at
most ``max_skew`` band widths.
"""
from decimal import Decimal
from typing import List

from pydantic import Field

from hummingbot.strategy_v2.controllers.market_making_controller_base import MarketMakingControllerBase
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig

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


class PMMDynamic2Controller(MarketMakingControllerBase):

    @property
    def max_records(self) -> int:
        return max(self.config.bb_length, self.config.rsi_length) + 100

    def get_candles_config(self):
        return _common.candles_config(self, self.config.interval, self.max_records)

    async def update_processed_data(self):
        cfg = self.config
        df = _common.candles_df(self, cfg.interval, self.max_records)
        bb = _common.bollinger(df["close"], cfg.bb_length, cfg.bb_std)
        df["bb_width"] = bb["bb_width"]
        df["rsi"] = _common.rsi(df["close"], cfg.rsi_length)
        skew = -(df["rsi"] - 50) / 50 * cfg.max_skew * df["bb_width"]
        df["reference_price"] = df["close"] * (1 + skew)
        df["spread_multiplier"] = df["bb_width"]
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
