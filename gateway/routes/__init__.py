"""Route groups; each maps hummingbot-api's paths onto one service's commands."""

from . import backtesting, system

GROUPS = [system.router, backtesting.router]
