"""Route groups; each maps hummingbot-api's paths onto one service's commands."""

from . import backtesting, market_data, system

GROUPS = [system.router, backtesting.router, market_data.router]
