"""Controllers for backtesting, laid out as Hummingbot's ``controllers_module``.

The engine imports ``f"svc_backtest.controllers.{controller_type}.{controller_name}"``; every
module holds one config class (``<Name>Config``) and one controller class. Modules whose name
starts with an underscore are helpers, not controllers.
"""
