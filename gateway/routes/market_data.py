"""hummingbot-api /market-data/* (candles, historical-candles, available-candle-connectors) plus hbmesh's
candle store routes (download with progress, status, stored series, import, get)."""

from fastapi import APIRouter

from shared.schemas.marketdata import CandleRange, CandlesGet, CandlesImport, LiveCandles, LiveSubscribe

from ..relay import relay

router = APIRouter(tags=["market-data"])
M = "marketdata"

relay(router, "POST", "/market-data/candles", M, "candles/live", body=LiveCandles, timeout=120)
relay(router, "POST", "/market-data/historical-candles", M, "historical", body=CandleRange, timeout=600)
relay(router, "GET", "/market-data/available-candle-connectors", M, "connectors")
relay(router, "POST", "/market-data/candles/download", M, "candles/download", body=CandleRange)
relay(router, "GET", "/market-data/candles/download/{task_id}", M, "candles/tasks/get")
relay(router, "POST", "/market-data/candles/status", M, "candles/status", body=CandleRange)
relay(router, "GET", "/market-data/candles/stored", M, "candles/list")
relay(router, "POST", "/market-data/candles/get", M, "candles/get", body=CandlesGet, timeout=120)
relay(router, "POST", "/market-data/candles/import", M, "candles/import", body=CandlesImport, timeout=600)
relay(router, "GET", "/connectors/{connector_name}/trading-rules", M, "trading-rules",
      params={"trading_pairs": (list[str] | None, None)}, timeout=120)
relay(router, "POST", "/market-data/candles/subscribe", M, "candles/subscribe", body=LiveSubscribe)
relay(router, "GET", "/market-data/active-feeds", M, "candles/feeds")
