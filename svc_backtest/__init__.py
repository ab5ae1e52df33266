"""svc_backtest: backtesting of Hummingbot strategy-v2 controllers (domain code in engine.py, patches.py, controllers/)."""
