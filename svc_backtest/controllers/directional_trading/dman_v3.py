"""DMan V3: Bollinger %B signal, entries laddered with a DCA executor.

Long when %B < ``bb_long_threshold``, short when %B > ``bb_short_threshold``. The entry ladder sits
at ``price * (1 -/+ dca_spread)``; with ``dynamic_order_spread`` the spreads are multiplied by the
band width, and with ``dynamic_target`` so are take profit, stop loss and trailing stop.
"""
from decimal import Decimal
from typing import List, Optional

from pydantic import Field, field_validator
from pydantic_core.core_schema import ValidationInfo

from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig, DCAMode
from hummingbot.strategy_v2.executors.position_executor.data_types import TrailingStop

from svc_backtest.controllers import _common


class DManV3Config(_common.BollingerConfig):
    controller_name: str = "dman_v3"
    dca_spreads: List[Decimal] = Field(
        default=[Decimal("0.001"), Decimal("0.01"), Decimal("0.02"), Decimal("0.03")],
        json_schema_extra={"prompt": "DCA spreads from the entry price (e.g. '0.001,0.01,0.02'): ", "prompt_on_new": True})
    dca_amounts_pct: Optional[List[Decimal]] = Field(
        default=None, validate_default=True,
        json_schema_extra={"prompt": "DCA amount weights (blank = equal): ", "prompt_on_new": True})
    dynamic_order_spread: bool = Field(default=False, json_schema_extra={"prompt": "Scale DCA spreads by band width? "})
    dynamic_target: bool = Field(default=False, json_schema_extra={"prompt": "Scale exits by band width? "})
    activation_bounds: Optional[List[Decimal]] = Field(default=None, json_schema_extra={"prompt": "Activation bounds: "})
    trailing_stop: Optional[TrailingStop] = Field(
        default=TrailingStop(activation_price=Decimal("0.015"), trailing_delta=Decimal("0.003")),
        json_schema_extra={"prompt": "Trailing stop as activation_price,trailing_delta: ", "prompt_on_new": True})

    @field_validator("dca_spreads", "activation_bounds", mode="before")
    @classmethod
    def parse_lists(cls, v, info: ValidationInfo):
        values = _common.split_list(v)
        if info.field_name == "activation_bounds":
            return values or None
        if not values:
            raise ValueError("at least one DCA spread is required")
        return values

    @field_validator("dca_amounts_pct", mode="before")
    @classmethod
    def parse_amounts(cls, v, info: ValidationInfo):
        spreads = info.data.get("dca_spreads")
        if spreads is None:
            return None
        values = _common.split_list(v)
        if not values:
            return [Decimal(1)] * len(spreads)
        if len(values) != len(spreads):
            raise ValueError(f"needs one weight per dca_spread ({len(spreads)}), got {len(values)}")
        return values


class DManV3Controller(_common.BollingerController):

    async def update_processed_data(self):
        await super().update_processed_data()
        widths = self.processed_data["features"]["bb_width"].dropna()
        self.processed_data["bb_width"] = float(widths.iloc[-1]) if len(widths) else 0.0

    def get_executor_config(self, trade_type: TradeType, price: Decimal, amount: Decimal):
        cfg = self.config
        width = Decimal(str(self.processed_data.get("bb_width") or 0))
        spread_scale = width if cfg.dynamic_order_spread and width > 0 else Decimal(1)
        target_scale = width if cfg.dynamic_target and width > 0 else Decimal(1)
        direction = Decimal(-1) if trade_type == TradeType.BUY else Decimal(1)
        weights = cfg.dca_amounts_pct
        trailing = None
        if cfg.trailing_stop is not None:
            trailing = TrailingStop(activation_price=cfg.trailing_stop.activation_price * target_scale,
                                    trailing_delta=cfg.trailing_stop.trailing_delta * target_scale)
        return DCAExecutorConfig(
            timestamp=self.market_data_provider.time(),
            connector_name=cfg.connector_name,
            trading_pair=cfg.trading_pair,
            side=trade_type,
            mode=DCAMode.MAKER,
            prices=[price * (1 + direction * spread * spread_scale) for spread in cfg.dca_spreads],
            amounts_quote=[amount * price * w / sum(weights) for w in weights],
            take_profit=cfg.take_profit * target_scale if cfg.take_profit else None,
            stop_loss=cfg.stop_loss * target_scale if cfg.stop_loss else None,
            trailing_stop=trailing,
            time_limit=cfg.time_limit,
            leverage=cfg.leverage,
            activation_bounds=cfg.activation_bounds,
        )
