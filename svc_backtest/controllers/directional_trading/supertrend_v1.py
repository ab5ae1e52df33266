"""SuperTrend V1: trade in the SuperTrend direction while price is close to the trend line.

Long when the trend is up and ``|close - supertrend| / close < percentage_threshold``; short when
the trend is down under the same proximity condition (position executors). The features keep
pandas-ta's long/short band columns, which are NaN on alternate trend segments.
"""
import pandas_ta as ta
from pydantic import Field

from svc_backtest.controllers import _common


class SuperTrendV1Config(_common.DirectionalConfig):
    controller_name: str = "supertrend_v1"
    length: int = Field(default=20, gt=1, json_schema_extra={"prompt": "SuperTrend ATR length: "})
    multiplier: float = Field(default=4.0, gt=0, json_schema_extra={"prompt": "SuperTrend ATR multiplier: "})
    percentage_threshold: float = Field(default=0.01, gt=0, json_schema_extra={
        "prompt": "Max distance from the trend line, as a fraction of price: "})


class SuperTrendV1Controller(_common.DirectionalController):

    @property
    def max_records(self) -> int:
        return self.config.length + 100

    async def update_processed_data(self):
        cfg = self.config
        df = self.candles()
        st = ta.supertrend(df["high"], df["low"], df["close"], length=cfg.length,
                           multiplier=cfg.multiplier) if len(df) > cfg.length else None
        if st is None:
            for name in ("supertrend", "supertrend_dir", "supertrend_long", "supertrend_short"):
                df[name] = float("nan")
        else:
            df["supertrend"], df["supertrend_dir"] = st.iloc[:, 0], st.iloc[:, 1]
            df["supertrend_long"], df["supertrend_short"] = st.iloc[:, 2], st.iloc[:, 3]
        near = (df["close"] - df["supertrend"]).abs() / df["close"] < cfg.percentage_threshold
        signal = _common.signal_from((df["supertrend_dir"] == 1) & near, (df["supertrend_dir"] == -1) & near,
                                     df["supertrend"].notna() & df["supertrend_dir"].notna())
        self.set_features(df, signal)
