"""PMM Simple: quote fixed spreads around the current price with position executors."""

from svc_backtest.controllers import _common


class PMMSimpleConfig(_common.MarketMakingLevelsConfig):
    controller_name: str = "pmm_simple"


class PMMSimpleController(_common.PositionLevelsController):
    """Each level is a limit order at ``price * (1 -/+ spread)`` with the config's triple barrier."""
