"""PMM Simple: quote fixed spreads around the current price with position executors."""
from decimal import Decimal

from hummingbot.strategy_v2.controllers.market_making_controller_base import MarketMakingControllerBase
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig

from svc_backtest.controllers import _common


class PMMSimpleConfig(_common.MarketMakingLevelsConfig):
    controller_name: str = "pmm_simple"


class PMMSimpleController(MarketMakingControllerBase):
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
