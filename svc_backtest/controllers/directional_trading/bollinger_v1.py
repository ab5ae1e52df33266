"""Bollinger V1: long below the lower band, short above the upper band (position executors)."""
from pydantic import Field

from svc_backtest.controllers import _common


class BollingerV1Config(_common.DirectionalConfig):
    controller_name: str = "bollinger_v1"
    bb_length: int = Field(default=100, gt=1, json_schema_extra={"prompt": "Bollinger length: "})
    bb_std: float = Field(default=2.0, gt=0, json_schema_extra={"prompt": "Bollinger std multiplier: "})
    bb_long_threshold: float = Field(default=0.0, json_schema_extra={"prompt": "Long when %B below: "})
    bb_short_threshold: float = Field(default=1.0, json_schema_extra={"prompt": "Short when %B above: "})


class BollingerV1Controller(_common.DirectionalController):

    @property
    def max_records(self) -> int:
        return self.config.bb_length + 100

    async def update_processed_data(self):
        cfg = self.config
        df = self.candles()
        df = df.assign(**_common.bollinger(df["close"], cfg.bb_length, cfg.bb_std))
        signal = _common.signal_from(df["bbp"] < cfg.bb_long_threshold, df["bbp"] > cfg.bb_short_threshold,
                                     df["bbp"].notna())
        self.set_features(df, signal)
