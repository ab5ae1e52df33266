"""DMan Maker V2: market making where every level is a DCA executor (a ladder of maker orders).

A level at ``price`` places ``len(dca_spreads)`` orders at ``price * (1 -/+ dca_spread)``, sized by
``dca_amounts`` (weights), and closes the averaged position with the config's take profit, stop
loss (from the break-even price), trailing stop and time limit.
"""
from decimal import Decimal
from typing import List, Optional

from pydantic import Field, field_validator, model_validator

from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.controllers.market_making_controller_base import MarketMakingControllerBase
from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig, DCAMode
from hummingbot.strategy_v2.models.executor_actions import StopExecutorAction

from svc_backtest.controllers import _common


class DManMakerV2Config(_common.MarketMakingLevelsConfig):
    controller_name: str = "dman_maker_v2"
    dca_spreads: List[Decimal] = Field(
        default=[Decimal("0"), Decimal("0.01"), Decimal("0.02")],
        json_schema_extra={"prompt": "DCA spreads from the level price (e.g. '0,0.01,0.02'): ", "prompt_on_new": True})
    dca_amounts: List[Decimal] = Field(
        default=[Decimal("1"), Decimal("2"), Decimal("4")],
        json_schema_extra={"prompt": "DCA amount weights, one per DCA spread (e.g. '1,2,4'): ", "prompt_on_new": True})
    top_executor_refresh_time: Optional[int] = Field(default=None, gt=0, json_schema_extra={
        "prompt": "Refresh time in seconds for the level-0 executors (blank = executor_refresh_time): "})
    executor_activation_bounds: Optional[List[Decimal]] = Field(default=None, json_schema_extra={
        "prompt": "Activation bounds (blank = none): "})

    @field_validator("dca_spreads", "dca_amounts", "executor_activation_bounds", mode="before")
    @classmethod
    def parse_lists(cls, v, info):
        values = _common.split_list(v)
        if info.field_name == "executor_activation_bounds":
            return values or None
        if not values:
            raise ValueError("at least one value is required")
        return values

    @model_validator(mode="after")
    def check_dca_levels(self):
        if len(self.dca_spreads) != len(self.dca_amounts):
            raise ValueError(f"dca_amounts needs one weight per dca_spread ({len(self.dca_spreads)}), "
                             f"got {len(self.dca_amounts)}")
        if any(s < 0 for s in self.dca_spreads) or any(a <= 0 for a in self.dca_amounts):
            raise ValueError("dca_spreads must be >= 0 and dca_amounts > 0")
        return self


class DManMakerV2Controller(MarketMakingControllerBase):

    def get_executor_config(self, level_id: str, price: Decimal, amount: Decimal):
        cfg = self.config
        side = self.get_trade_type_from_level_id(level_id)
        direction = Decimal(-1) if side == TradeType.BUY else Decimal(1)
        total_weight = sum(cfg.dca_amounts)
        return DCAExecutorConfig(
            timestamp=self.market_data_provider.time(),
            level_id=level_id,
            connector_name=cfg.connector_name,
            trading_pair=cfg.trading_pair,
            side=side,
            mode=DCAMode.MAKER,
            prices=[price * (1 + direction * spread) for spread in cfg.dca_spreads],
            amounts_quote=[amount * price * weight / total_weight for weight in cfg.dca_amounts],
            take_profit=cfg.take_profit,
            stop_loss=cfg.stop_loss,
            trailing_stop=cfg.trailing_stop,
            time_limit=cfg.time_limit,
            leverage=cfg.leverage,
            activation_bounds=cfg.executor_activation_bounds,
        )

    def executors_to_refresh(self):
        """Stop unfilled executors older than their refresh time (level 0 may have its own)."""
        now = self.market_data_provider.time()
        top = self.config.top_executor_refresh_time

        def stale(e):
            limit = top if top and str(e.custom_info.get("level_id", "")).endswith("_0") else self.config.executor_refresh_time
            return e.is_active and not e.is_trading and now - e.timestamp > limit

        return [StopExecutorAction(controller_id=self.config.id, executor_id=e.id)
                for e in self.executors_info if stale(e)]
