"""svc_marketdata: candle downloads into a gap-aware Parquet store, trading rules, live candles."""
