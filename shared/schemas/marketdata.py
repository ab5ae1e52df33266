"""svc_marketdata messages. Field names follow hummingbot-api (connector_name, trading_pair, interval)."""

from __future__ import annotations

from typing import Annotated

import msgspec

Connector = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,64}$")]
Pair = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{1,20}-[A-Za-z0-9]{1,20}$")]
Interval = Annotated[str, msgspec.Meta(pattern=r"^(1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)$")]
Epoch = Annotated[int, msgspec.Meta(ge=0, le=4_102_444_800)]


class CandleKeyReq(msgspec.Struct):
    connector_name: Connector
    trading_pair: Pair
    interval: Interval = "1m"


class CandleRange(CandleKeyReq):
    start_time: Epoch = 0
    end_time: Epoch = 0


class CandlesGet(CandleRange):
    """A stored range, optionally resampled to a higher interval."""

    resample: Interval | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=2_000_000)] = 1_000_000


class CandlesImport(CandleKeyReq, kw_only=True):
    """Load a CSV or Parquet file (hummingbot's candle columns) the user already has."""

    path: str


class LiveCandles(CandleKeyReq):
    """hummingbot-api's POST /market-data/candles: the latest max_records candles."""

    max_records: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 500


class LiveSubscribe(CandleKeyReq):
    idle_timeout_s: Annotated[float, msgspec.Meta(ge=5, le=86_400)] = 300.0


class TradingRulesReq(msgspec.Struct):
    connector_name: Connector
    trading_pairs: list[Pair] = []


class StoreStatus(msgspec.Struct):
    connector_name: str
    trading_pair: str
    interval: str
    rows: int
    first: int | None
    last: int | None
    ranges: list[tuple[int, int]]
    gaps: list[tuple[int, int]] = []


class CandleEvent(msgspec.Struct):
    """Published on <prefix>/v1/marketdata/events/candles/<connector>/<pair>/<interval>."""

    connector_name: str
    trading_pair: str
    interval: str
    candle: dict
