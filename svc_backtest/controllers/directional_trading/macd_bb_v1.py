"""MACD BB V1: a Bollinger %B extreme confirmed by MACD turning (position executors).

Long when %B < long threshold, the MACD histogram is positive and MACD is below zero; short when
%B > short threshold, the histogram is negative and MACD is above zero.
"""
from pydantic import Field

from svc_backtest.controllers import _common


class MACDBBV1Config(_common.BollingerConfig):
    controller_name: str = "macd_bb_v1"
    macd_fast: int = Field(default=21, gt=0, json_schema_extra={"prompt": "MACD fast length: "})
    macd_slow: int = Field(default=42, gt=0, json_schema_extra={"prompt": "MACD slow length: "})
    macd_signal: int = Field(default=9, gt=0, json_schema_extra={"prompt": "MACD signal length: "})


class MACDBBV1Controller(_common.DirectionalController):

    @property
    def max_records(self) -> int:
        return max(self.config.bb_length, self.config.macd_slow + self.config.macd_signal) + 100

    async def update_processed_data(self):
        cfg = self.config
        df = self.candles()
        df = df.assign(**_common.bollinger(df["close"], cfg.bb_length, cfg.bb_std))
        df = df.assign(**_common.macd(df["close"], cfg.macd_fast, cfg.macd_slow, cfg.macd_signal))
        long = (df["bbp"] < cfg.bb_long_threshold) & (df["macd_hist"] > 0) & (df["macd"] < 0)
        short = (df["bbp"] > cfg.bb_short_threshold) & (df["macd_hist"] < 0) & (df["macd"] > 0)
        self.set_features(df, _common.signal_from(long, short, df["bbp"].notna() & df["macd_hist"].notna()))
