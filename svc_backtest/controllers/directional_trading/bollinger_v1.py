"""Bollinger V1: long below the lower band, short above the upper band (position executors)."""
from svc_backtest.controllers import _common


class BollingerV1Config(_common.BollingerConfig):
    controller_name: str = "bollinger_v1"


class BollingerV1Controller(_common.BollingerController):
    """The plain %B signal with the base class's position executors."""
