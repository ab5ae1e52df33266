"""Worker-side backtest entry point: pure functions over plain, picklable arguments.

Everything heavy (hummingbot, pandas-ta, the controllers' base classes) is imported at module top
so a warm worker process pays for it once. No network is used: candles and trading rules come
from the caller (see ``run_backtest``).

Public API
----------
``run_backtest(job, candles, trading_rules=None, progress=None, cancel=None) -> dict``
``run_backtest_async(...)``                 the same, for callers already inside an event loop
``required_candles(job) -> list[dict]``      which candle feeds (and ranges) a job needs
``summarize_executors(executors, total_amount_quote=1000) -> dict``   legacy /get-performance-results
``list_controllers() -> dict[str, list[str]]``
``controller_config_schema(controller_type, controller_name) -> dict``
``build_controller_config(config) -> ControllerConfigBase``
``default_trading_rule(trading_pair) -> TradingRule``
``preload() -> dict``                         import every controller (worker initializer)
"""
import asyncio
import functools
import importlib
from pathlib import Path
import inspect
import json
import math
import pkgutil
import re
import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import numpy as np
import pandas as pd
from pydantic import ValidationError
from pydantic.json_schema import model_json_schema

from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.data_feed.candles_feed.candles_base import CandlesBase
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.controller_base import ControllerConfigBase
from hummingbot.strategy_v2.models.base import RunnableStatus
from hummingbot.strategy_v2.models.executors import CloseType
from hummingbot.strategy_v2.models.executors_info import ExecutorInfo

import svc_backtest.controllers._common  # noqa: F401  (controllers' shared deps, pandas-ta included)
from svc_backtest import patches
from svc_backtest.errors import BadRequest, Cancelled, HbError, Invalid, NotFound
from svc_backtest.patches import json_safe

__all__ = ["Cancelled", "Engine", "build_controller_config", "controller_config_schema", "default_trading_rule",
           "executor_info_from_dict", "list_controllers", "normalize_candles", "preload", "required_candles",
           "run_backtest", "run_backtest_async", "summarize_executors", "trading_rule_from_dict"]

CONTROLLERS_MODULE = "svc_backtest.controllers"
CANDLE_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume", "quote_asset_volume",
                  "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume"]
DEFAULT_TRADE_COST = 0.0002
VOLUME_DETAIL_COLUMNS = CANDLE_COLUMNS[6:]
#: The columns hummingbot's executor simulators read.
SIMULATOR_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
#: Keys some hummingbot config files still carry that the current config classes reject.
LEGACY_CONFIG_KEYS = ("candles_config",)

CandleLoader = Callable[[str, str, str, int, int], Any]
CandleSource = Union[Mapping[str, Any], CandleLoader, None]
ProgressFn = Callable[[float, int], None]
CancelFn = Callable[[], bool]

_TRADING_RULE_DECIMALS = ("min_order_size", "max_order_size", "min_price_increment", "min_base_amount_increment",
                          "min_quote_amount_increment", "min_notional_size", "min_order_value",
                          "max_price_significant_digits")
_TRADING_RULE_OTHERS = ("supports_limit_orders", "supports_market_orders", "buy_order_collateral_token",
                        "sell_order_collateral_token")


# ====================================================================== controllers

@functools.lru_cache(maxsize=1)
def add_controller_dir(root) -> None:
    """Make user controllers (svc_fleet's library: ``<root>/<type>/<name>.py``) importable as
    ``svc_backtest.controllers.<type>.<name>``, after the built-ins of the same type."""
    root = Path(root)
    for type_name in ("market_making", "directional_trading", "generic"):
        sub = importlib.import_module(f"{CONTROLLERS_MODULE}.{type_name}")
        folder = str(root / type_name)
        if folder not in sub.__path__:
            sub.__path__.append(folder)


def _controller_index() -> Dict[str, List[str]]:
    importlib.invalidate_caches()  # user controllers may have been saved since the last look
    package = importlib.import_module(CONTROLLERS_MODULE)
    index = {}
    for type_info in pkgutil.iter_modules(package.__path__):
        if not type_info.ispkg or type_info.name.startswith("_"):
            continue
        sub = importlib.import_module(f"{CONTROLLERS_MODULE}.{type_info.name}")
        names = sorted(m.name for m in pkgutil.iter_modules(sub.__path__) if not m.ispkg and not m.name.startswith("_"))
        if names:
            index[type_info.name] = names
    return index


def list_controllers() -> Dict[str, List[str]]:
    """Available controllers: ``{controller_type: [controller_name, ...]}``."""
    return {k: list(v) for k, v in _controller_index().items()}


def _resolve_controller(controller_type: Optional[str], controller_name: Optional[str]) -> tuple:
    if not controller_name or not isinstance(controller_name, str):
        raise Invalid("controller_name: field required")
    index = _controller_index()
    if controller_type is None:
        types = [t for t, names in index.items() if controller_name in names]
        if len(types) != 1:
            raise NotFound(f"unknown controller {controller_name!r}; available: {_describe(index)}")
        controller_type = types[0]
    if controller_name not in index.get(controller_type, []):
        raise NotFound(f"unknown controller {controller_type}/{controller_name}; available: {_describe(index)}")
    return controller_type, controller_name


def _describe(index) -> str:
    return ", ".join(f"{t}/{n}" for t, names in index.items() for n in names)


def _config_class(controller_type: str, controller_name: str):
    module = importlib.import_module(f"{CONTROLLERS_MODULE}.{controller_type}.{controller_name}")
    classes = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
               if issubclass(obj, ControllerConfigBase) and obj.__module__ == module.__name__]
    if len(classes) != 1:
        raise NotFound(f"controller module {module.__name__} defines {len(classes)} config classes, expected 1")
    return classes[0]


def controller_config_schema(controller_type: Optional[str], controller_name: str) -> dict:
    """JSON schema (pydantic ``model_json_schema``) of a controller's config; ``id`` is optional here.

    Hummingbot's ``BaseClientModel.model_json_schema`` override fails on fields without a
    ``prompt`` (``id``, ``controller_name``), so pydantic's generator is called directly.
    """
    controller_type, controller_name = _resolve_controller(controller_type, controller_name)
    schema = model_json_schema(_config_class(controller_type, controller_name))
    schema["required"] = [f for f in schema.get("required", []) if f != "id"]
    schema["title"] = f"{controller_type}/{controller_name}"
    return json_safe(schema)


def _format_validation_error(err: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e.get("loc", ())) or "config"
        parts.append(f"{prefix}{loc}: {e.get('msg')}")
    return "; ".join(parts)


def build_controller_config(config: Mapping) -> ControllerConfigBase:
    """Validate a controller config dict into its config class.

    Raises NotFound for an unknown controller and Invalid (naming the field) for a bad value.
    ``controller_type`` may be omitted when the name is unambiguous; ``id`` is generated if empty.
    """
    if not isinstance(config, Mapping):
        raise BadRequest("config must be an object with controller_type and controller_name")
    data = {k: v for k, v in config.items() if k not in LEGACY_CONFIG_KEYS}
    controller_type, controller_name = _resolve_controller(data.get("controller_type"), data.get("controller_name"))
    data["controller_type"], data["controller_name"] = controller_type, controller_name
    if not data.get("id"):
        data["id"] = uuid.uuid4().hex
    config_cls = _config_class(controller_type, controller_name)
    try:
        cfg = config_cls(**data)
    except ValidationError as e:
        err = Invalid(f"invalid {controller_name} config: {_format_validation_error(e)}")
        err.fields = [".".join(str(p) for p in x.get("loc", ())) for x in e.errors()]
        raise err from None
    except (ValueError, TypeError, KeyError, InvalidOperation) as e:
        raise Invalid(f"invalid {controller_name} config: {e}") from None
    if not cfg.total_amount_quote or cfg.total_amount_quote <= 0:
        err = Invalid(f"invalid {controller_name} config: total_amount_quote: must be greater than 0")
        err.fields = ["total_amount_quote"]
        raise err
    return cfg


def preload() -> Dict[str, List[str]]:
    """Import every controller module now (call once in a worker initializer); returns the index."""
    index = _controller_index()
    for controller_type, names in index.items():
        for name in names:
            _config_class(controller_type, name)
    return list_controllers()


# ====================================================================== trading rules

def default_trading_rule(trading_pair: str) -> TradingRule:
    """A permissive rule (tiny increments, no minimum notional) for offline runs and tests."""
    tiny = Decimal("1e-8")
    return TradingRule(trading_pair=trading_pair, min_order_size=tiny, min_price_increment=tiny,
                       min_base_amount_increment=tiny, min_quote_amount_increment=tiny,
                       min_notional_size=Decimal(0))


def trading_rule_from_dict(data: Union[Mapping, TradingRule], trading_pair: Optional[str] = None) -> TradingRule:
    """Build a TradingRule from a TradingRule or a dict of its fields (numbers/strings; unknown keys ignored)."""
    if isinstance(data, TradingRule):
        return data
    if not isinstance(data, Mapping):
        raise Invalid(f"trading_rules.{trading_pair}: expected an object, got {type(data).__name__}")
    pair = data.get("trading_pair") or trading_pair
    if not pair:
        raise Invalid("trading_rules: trading_pair missing")
    kwargs = {}
    for key in _TRADING_RULE_DECIMALS:
        if data.get(key) is not None:
            try:
                kwargs[key] = Decimal(str(data[key]))
            except InvalidOperation:
                raise Invalid(f"trading_rules.{pair}.{key}: not a number: {data[key]!r}") from None
    for key in _TRADING_RULE_OTHERS:
        if data.get(key) is not None:
            kwargs[key] = data[key]
    try:
        return TradingRule(trading_pair=pair, **kwargs)
    except Exception as e:
        raise Invalid(f"trading_rules.{pair}: {e}") from None


def _rules_for_connector(trading_rules, connector: str, pair: str, warnings: list) -> Dict[str, TradingRule]:
    """Accepts ``{connector: {pair: rule}}``, ``{connector: [rule, ...]}`` or a flat ``{pair: rule}``."""
    per_connector = None
    if trading_rules:
        if not isinstance(trading_rules, Mapping):
            raise BadRequest("trading_rules must be an object keyed by connector name")
        per_connector = trading_rules.get(connector)
        if per_connector is None and pair in trading_rules:
            per_connector = trading_rules
    rules: Dict[str, TradingRule] = {}
    if isinstance(per_connector, (list, tuple)):
        for item in per_connector:
            rule = trading_rule_from_dict(item)
            rules[rule.trading_pair] = rule
    elif isinstance(per_connector, Mapping):
        for p, item in per_connector.items():
            rules[p] = trading_rule_from_dict(item, p)
    if pair not in rules:
        rules[pair] = default_trading_rule(pair)
        warnings.append(f"no trading rule for {connector} {pair}: used a permissive default")
    return rules


# ====================================================================== candles

def _to_seconds(value, field: str) -> float:
    """Epoch seconds from seconds / ms / us / ns numbers, numeric strings or ISO dates."""
    if value is None or isinstance(value, bool):
        raise Invalid(f"{field}: field required")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            try:
                value = pd.Timestamp(value).timestamp()
            except ValueError:
                raise Invalid(f"{field}: not a timestamp: {value!r}") from None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{field}: not a timestamp: {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise Invalid(f"{field}: not a timestamp: {value!r}")
    for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if v >= limit:
            return v / scale
    return v


def normalize_candles(data, key: str = "candles") -> pd.DataFrame:
    """Hummingbot-shaped candles (10 float columns, ``timestamp`` in seconds, sorted, unique).

    Accepts a DataFrame, a dict of columns, a list of dicts or a list of rows in Hummingbot's
    column order. Timestamps in ms/us/ns are converted; missing volume-type columns become 0.
    """
    if data is None:
        return pd.DataFrame(columns=CANDLE_COLUMNS, dtype=float)
    if isinstance(data, pd.DataFrame):
        df = data.copy()
    elif isinstance(data, Mapping):
        df = pd.DataFrame(dict(data))
    elif isinstance(data, (list, tuple)):
        if data and not isinstance(data[0], Mapping):
            df = pd.DataFrame([list(r)[:len(CANDLE_COLUMNS)] for r in data],
                              columns=CANDLE_COLUMNS[:len(data[0])])
        else:
            df = pd.DataFrame(list(data))
    else:
        raise BadRequest(f"{key}: unsupported candles type {type(data).__name__}")
    if df.empty:
        return pd.DataFrame(columns=CANDLE_COLUMNS, dtype=float)
    if "timestamp" not in df.columns and isinstance(df.index, pd.DatetimeIndex):
        df = df.reset_index(names="timestamp")
    missing = [c for c in ("timestamp", "open", "high", "low", "close") if c not in df.columns]
    if missing:
        raise BadRequest(f"{key}: candles lack columns {missing}")
    if pd.api.types.is_datetime64_any_dtype(df["timestamp"]):
        df["timestamp"] = df["timestamp"].map(pd.Timestamp.timestamp)
    for col in CANDLE_COLUMNS:
        if col not in df.columns:
            df[col] = 0.0
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df = df[CANDLE_COLUMNS].dropna(subset=["timestamp", "open", "high", "low", "close"])
    if len(df) and df["timestamp"].median() >= 1e11:
        df["timestamp"] = df["timestamp"].map(lambda v: _to_seconds(v, key))
    df = df.sort_values("timestamp").drop_duplicates("timestamp", keep="last").reset_index(drop=True)
    return df


class OfflineDataProvider(patches.WarmupDataProvider):
    """Data provider that never touches the network: candles come from ``source``, rules are preset.

    ``source`` is either a mapping ``{f"{connector}_{pair}_{interval}": candles}`` or a loader
    ``loader(connector, trading_pair, interval, start, end) -> candles`` called with the range the
    feed needs (warm-up buffer included). The rate-oracle task controllers start is not run.
    """

    def __init__(self, source: CandleSource = None):
        super().__init__(connectors={})
        self.source = source
        self._loaded_from: Dict[str, float] = {}

    def initialize_rate_sources(self, connector_pairs):
        return None

    async def initialize_trading_rules(self, connector_name: str):
        if not self.trading_rules.get(connector_name):
            raise NotFound(f"no trading rules for connector {connector_name}")

    async def get_candles_feed(self, config: CandlesConfig):
        key = self._generate_candle_feed_key(config)
        start = self.start_time - max(config.max_records, 0) * CandlesBase.interval_to_seconds[config.interval]
        if key in self.candles_feeds and (not callable(self.source) or self._loaded_from[key] <= start):
            return self.candles_feeds[key]
        if callable(self.source):
            start = min(start, self._loaded_from.get(key, start))
            raw = self.source(config.connector, config.trading_pair, config.interval, int(start), int(self.end_time))
        elif isinstance(self.source, Mapping):
            if key not in self.source:
                raise NotFound(f"no candles provided for {key} (have: {', '.join(map(str, self.source)) or 'none'})")
            raw = self.source[key]
        else:
            raise NotFound(f"no candles source for {key}")
        df = normalize_candles(raw, key)
        self.candles_feeds[key] = df
        self._loaded_from[key] = start
        return df


# ====================================================================== engine

class Engine(patches.PatchedEngine):
    """The patched engine, offline, reporting progress and honouring cancellation.

    ``progress(pct, executors)`` is called with the percentage of window candles simulated and the
    number of executors created so far, at most about every 1 %; ``cancel()`` is polled at the
    same points and a truthy answer raises ``Cancelled``.
    """

    def __init__(self, source: CandleSource = None, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelFn] = None,
                 terminated_executors_window: Optional[float] = patches.PatchedEngine.DEFAULT_TERMINATED_EXECUTORS_WINDOW):
        super().__init__(terminated_executors_window=terminated_executors_window)
        self.backtesting_data_provider = OfflineDataProvider(source)
        self._progress, self._cancel = progress, cancel
        self._rows_total = self._rows_done = 0
        self._step = self._next_report = 1
        self._last_pct = -1.0

    async def initialize_backtesting_data_provider(self):
        provider, cfg = self.backtesting_data_provider, self.controller.config
        start, end = provider.start_time, provider.end_time
        resolution = CandlesConfig(connector=cfg.connector_name, trading_pair=cfg.trading_pair,
                                   interval=self.backtesting_resolution, max_records=0)
        configs = [resolution] + list(self.controller.get_candles_config())
        for candles_config in configs:
            df = await provider.get_candles_feed(candles_config)
            ts = df["timestamp"]
            # the resolution feed needs a candle inside the window; a coarser indicator feed may
            # have its last candle open up to one interval before the start
            slack = 0 if candles_config is resolution else CandlesBase.interval_to_seconds[candles_config.interval]
            if not ((ts >= start - slack) & (ts <= end)).any():
                raise NotFound(f"no {candles_config.interval} candles for {candles_config.connector} "
                               f"{candles_config.trading_pair} between {int(start)} and {int(end)}")
        self._check_cancel()

    def prepare_market_data(self) -> pd.DataFrame:
        df = super().prepare_market_data()
        self._sim_frame = df[SIMULATOR_COLUMNS]
        self._rows_total, self._rows_done = len(df), 0
        self._step = self._next_report = max(1, math.ceil(len(df) / 100))
        self._report()
        return df

    def simulate_executor(self, config, df: pd.DataFrame, trade_cost: float):
        """Speed: the simulators copy the frame they get and only read candle columns, so hand them
        those columns only instead of every feature column (10-20 % faster for market makers)."""
        if len(df) == 0:
            return super().simulate_executor(config, df, trade_cost)
        return super().simulate_executor(config, self._sim_frame.loc[df.index[0]:df.index[-1]], trade_cost)

    async def update_state(self, row):
        await super().update_state(row)
        self._rows_done += 1
        if self._rows_done >= self._next_report:
            self._next_report += self._step
            self._report()

    @property
    def executors_created(self) -> int:
        return len(self.active_executor_simulations) + len(self.stopped_executors_info)

    def _check_cancel(self):
        if self._cancel is not None and self._cancel():
            raise Cancelled()

    def _report(self):
        self._check_cancel()
        if self._progress is not None:
            pct = round(100.0 * self._rows_done / self._rows_total, 2) if self._rows_total else 0.0
            self._last_pct = pct
            self._progress(pct, self.executors_created)

    def report_done(self):
        """Final 100 % report (unless the loop already sent it)."""
        if self._progress is not None and self._last_pct < 100.0:
            self._last_pct = 100.0
            self._progress(100.0, self.executors_created)


# ====================================================================== jobs

def _parse_job(job: Mapping) -> dict:
    if not isinstance(job, Mapping):
        raise BadRequest("job must be an object")
    config = job.get("config", job.get("controller_config"))
    if not isinstance(config, Mapping):
        raise BadRequest("job.config must be an object with controller_type and controller_name")
    start = _to_seconds(job.get("start", job.get("start_time")), "start")
    end = _to_seconds(job.get("end", job.get("end_time")), "end")
    if end <= start:
        raise Invalid("end: must be after start")
    resolution = job.get("backtesting_resolution") or job.get("resolution") or "1m"
    if resolution not in CandlesBase.interval_to_seconds:
        raise Invalid(f"backtesting_resolution: unknown interval {resolution!r}")
    try:
        trade_cost = float(job.get("trade_cost", DEFAULT_TRADE_COST))
    except (TypeError, ValueError):
        raise Invalid(f"trade_cost: not a number: {job.get('trade_cost')!r}") from None
    if not math.isfinite(trade_cost) or not 0 <= trade_cost < 1:
        raise Invalid("trade_cost: must be a fraction in [0, 1)")
    return {"config": build_controller_config(config), "start": int(start), "end": int(end),
            "resolution": resolution, "trade_cost": trade_cost}


def required_candles(job: Mapping) -> List[dict]:
    """The candle feeds ``job`` will read, with the range each needs (warm-up buffer included).

    One entry per feed key: ``{"key", "connector", "trading_pair", "interval", "start", "end"}``,
    times in epoch seconds. Load these and pass them to ``run_backtest`` as ``{key: candles}``.
    """
    spec = _parse_job(job)
    cfg = spec["config"]
    provider = OfflineDataProvider()
    provider.update_backtesting_time(spec["start"], spec["end"])
    controller = cfg.get_controller_class()(config=cfg, market_data_provider=provider, actions_queue=None)
    configs = [CandlesConfig(connector=cfg.connector_name, trading_pair=cfg.trading_pair,
                             interval=spec["resolution"], max_records=0)] + list(controller.get_candles_config())
    feeds: Dict[str, dict] = {}
    for c in configs:
        key = f"{c.connector}_{c.trading_pair}_{c.interval}"
        start = spec["start"] - max(c.max_records, 0) * CandlesBase.interval_to_seconds[c.interval]
        if key not in feeds or start < feeds[key]["start"]:
            feeds[key] = {"key": key, "connector": c.connector, "trading_pair": c.trading_pair,
                          "interval": c.interval, "start": int(start), "end": spec["end"]}
    return list(feeds.values())


def run_backtest(job: Mapping, candles: CandleSource, trading_rules: Optional[Mapping] = None,
                 progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> dict:
    """Run one backtest synchronously and return a JSON-safe dict (see ``run_backtest_async``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_backtest_async(job, candles, trading_rules, progress, cancel))
    raise RuntimeError("run_backtest() called inside a running event loop: await run_backtest_async() instead")


async def run_backtest_async(job: Mapping, candles: CandleSource, trading_rules: Optional[Mapping] = None,
                             progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> dict:
    """Run one backtest.

    ``job``: ``{"config": {controller_type, controller_name, ...}, "start", "end"`` (epoch s or ms,
    or ``start_time``/``end_time``), ``"backtesting_resolution"`` (default "1m"), ``"trade_cost"``
    (default 0.0002)}. ``candles``: ``{f"{connector}_{pair}_{interval}": candles}`` or a loader
    callable (see ``OfflineDataProvider``); ``required_candles(job)`` lists what is needed.
    ``trading_rules``: ``{connector: {pair: TradingRule | dict}}`` (missing -> permissive default).

    Returns ``{"results", "executors", "processed_data", "pnl_timeseries", "position_holds",
    "position_held_timeseries", "warnings", "meta"}``, all strict-JSON values. Raises NotFound
    (unknown controller, missing candles), Invalid (bad config field), BadRequest, Cancelled.
    """
    started = time.perf_counter()
    spec = _parse_job(job)
    cfg = spec["config"]
    warnings: List[str] = []
    engine = Engine(candles, progress=progress, cancel=cancel)
    engine.backtesting_data_provider.trading_rules[cfg.connector_name] = _rules_for_connector(
        trading_rules, cfg.connector_name, cfg.trading_pair, warnings)
    engine._check_cancel()
    try:
        raw = await engine.run_backtesting(cfg, spec["start"], spec["end"], spec["resolution"], spec["trade_cost"])
    except (HbError, NotImplementedError):
        raise
    except ValidationError as e:
        raise Invalid(f"{cfg.controller_name} produced an invalid executor: {_format_validation_error(e)}") from None
    if engine.warmup_rows_skipped:
        warnings.append(f"{engine.warmup_rows_skipped} candles at the start of the window were skipped while "
                        f"the indicators warmed up")
    engine.report_done()
    key = f"{cfg.connector_name}_{cfg.trading_pair}"
    final_price = engine.backtesting_data_provider.prices.get(key)
    return {
        "results": json_safe(raw["results"]),
        "executors": [json_safe(e.to_dict()) for e in raw["executors"]],
        "processed_data": _features_to_columns(raw["processed_data"].get("features")),
        "pnl_timeseries": json_safe(raw.get("pnl_timeseries", [])),
        "position_holds": [_position_hold_dict(h, final_price) for h in raw.get("position_holds", [])],
        "position_held_timeseries": json_safe(raw.get("position_held_timeseries", [])),
        "warnings": warnings,
        "meta": {"controller_type": cfg.controller_type, "controller_name": cfg.controller_name, "id": cfg.id,
                 "start": spec["start"], "end": spec["end"], "backtesting_resolution": spec["resolution"],
                 "trade_cost": spec["trade_cost"], "candles": engine._rows_total,
                 "elapsed_s": round(time.perf_counter() - started, 3)},
    }


def _features_to_columns(features) -> Dict[str, list]:
    """Features frame -> ``{column: [values]}`` with NaN/inf -> None.

    One row per simulated candle: ``timestamp`` and OHLCV at the backtesting resolution, then the
    controller's features. The engine's ``*_bt`` working copies and the volume-detail candle
    columns (a mix of resolution and indicator-interval values after the merge) are left out.
    """
    if not isinstance(features, pd.DataFrame) or features.empty:
        return {}
    df = features.reset_index(drop=True)
    df = df[[c for c in df.columns if not (str(c).endswith("_bt") or c in VOLUME_DETAIL_COLUMNS)]]
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            arr = s.to_numpy(dtype=float)
            out[str(col)] = np.where(np.isfinite(arr), arr, None).tolist()
        else:
            out[str(col)] = json_safe(s.tolist())
    return out


def _position_hold_dict(hold, final_price) -> dict:
    d = {"connector_name": hold.connector_name, "trading_pair": hold.trading_pair,
         "net_amount_base": hold.net_amount_base, "avg_entry_price": hold.avg_entry_price,
         "realized_pnl_quote": hold.realized_pnl_quote, "cum_fees_quote": hold.cum_fees_quote,
         "volume_traded_quote": hold.volume_traded_quote, "buy_amount_base": hold.buy_amount_base,
         "buy_amount_quote": hold.buy_amount_quote, "sell_amount_base": hold.sell_amount_base,
         "sell_amount_quote": hold.sell_amount_quote, "executor_ids": sorted(hold.source_executor_ids),
         "unrealized_pnl_quote": None}
    if final_price is not None:
        summary = hold.get_position_summary(Decimal(final_price))
        d["unrealized_pnl_quote"] = summary.unrealized_pnl_quote
        d["side"] = summary.side
    return json_safe(d)


# ====================================================================== legacy performance summary

_EXECUTOR_TYPES = {"positionexecutor": "position_executor", "dcaexecutor": "dca_executor",
                   "gridexecutor": "grid_executor", "orderexecutor": "order_executor",
                   "xemmexecutor": "xemm_executor", "arbitrageexecutor": "arbitrage_executor",
                   "twapexecutor": "twap_executor", "lpexecutor": "lp_executor"}


def _enum(cls, value, field: str, optional: bool = False):
    if value is None or (isinstance(value, str) and value.strip() in ("", "None", "null")):
        if optional:
            return None
        raise Invalid(f"{field}: field required")
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        name = value.strip().split(".")[-1]
        if name.lstrip("-").isdigit():
            value = int(name)
        elif name.upper() in cls.__members__:
            return cls[name.upper()]
        else:
            try:
                return cls(name)
            except ValueError:
                raise Invalid(f"{field}: unknown {cls.__name__} {value!r}") from None
    try:
        return cls(int(value)) if isinstance(value, (int, float, np.integer)) else cls(value)
    except (ValueError, TypeError):
        raise Invalid(f"{field}: unknown {cls.__name__} {value!r}") from None


def _json_obj(value, field: str) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as e:
            raise Invalid(f"{field}: not valid JSON ({e.msg})") from None
    if not isinstance(value, Mapping):
        raise Invalid(f"{field}: expected an object")
    return dict(value)


def _decimal(value, field: str) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"{field}: not a number: {value!r}") from None
    return d if d.is_finite() else Decimal(0)


def _normalize_order_types(obj):
    """Nested ``*_order_type`` values may come as names ("LIMIT", "OrderType.LIMIT") or ints."""
    if isinstance(obj, Mapping):
        return {k: (_enum(OrderType, v, k, optional=True) if k.endswith("order_type") and v is not None
                    else _normalize_order_types(v)) for k, v in obj.items()}
    return obj


def executor_info_from_dict(data: Mapping, where: str = "executor") -> ExecutorInfo:
    """An ExecutorInfo from a loosely typed dict (DB rows, bot exports, hummingbot-api payloads).

    ``config``/``custom_info`` may be JSON strings; ``status``, ``close_type`` and ``side`` may be
    int values, names or ``Enum.NAME`` strings; ``close_type`` may be null; timestamps may be in
    s, ms, us or ns.
    """
    if not isinstance(data, Mapping):
        raise Invalid(f"{where}: expected an object")
    config = _normalize_order_types(_json_obj(data.get("config"), f"{where}.config"))
    custom_info = _json_obj(data.get("custom_info"), f"{where}.custom_info")
    raw_type = str(config.get("type") or data.get("type") or "position_executor")
    config["type"] = _EXECUTOR_TYPES.get(re.sub(r"[^a-z]", "", raw_type.lower()), raw_type)
    side = config.get("side", custom_info.get("side"))
    if side is not None:
        config["side"] = _enum(TradeType, side, f"{where}.config.side")
    custom_info["side"] = _enum(TradeType, custom_info.get("side", config.get("side")), f"{where}.custom_info.side",
                                optional=True)
    timestamp = _to_seconds(data.get("timestamp", config.get("timestamp")), f"{where}.timestamp")
    config["timestamp"] = timestamp
    close_type = _enum(CloseType, data.get("close_type"), f"{where}.close_type", optional=True)
    status = _enum(RunnableStatus, data.get("status"), f"{where}.status", optional=True)
    if status is None:
        status = RunnableStatus.TERMINATED if close_type is not None else RunnableStatus.RUNNING
    close_ts = data.get("close_timestamp")
    close_ts = _to_seconds(close_ts, f"{where}.close_timestamp") if close_ts not in (None, "", 0) else None
    executor_id = str(data.get("id") or config.get("id") or uuid.uuid4().hex)
    config["id"] = executor_id
    filled = _decimal(data.get("filled_amount_quote"), f"{where}.filled_amount_quote")
    is_active = data.get("is_active")
    is_active = status != RunnableStatus.TERMINATED if is_active is None else bool(is_active)
    is_trading = data.get("is_trading")
    is_trading = (is_active and filled > 0) if is_trading is None else bool(is_trading)
    try:
        return ExecutorInfo(
            id=executor_id, timestamp=timestamp, type=config["type"], status=status, config=config,
            net_pnl_pct=_decimal(data.get("net_pnl_pct"), f"{where}.net_pnl_pct"),
            net_pnl_quote=_decimal(data.get("net_pnl_quote"), f"{where}.net_pnl_quote"),
            cum_fees_quote=_decimal(data.get("cum_fees_quote"), f"{where}.cum_fees_quote"),
            filled_amount_quote=filled, is_active=is_active, is_trading=is_trading, custom_info=custom_info,
            close_timestamp=close_ts, close_type=close_type, controller_id=data.get("controller_id"))
    except ValidationError as e:
        raise Invalid(_format_validation_error(e, prefix=f"{where}.")) from None


def summarize_executors(executors: List[Mapping], total_amount_quote: float = 1000) -> dict:
    """Legacy ``/get-performance-results``: ``{"executors": [...normalised], "results": summary}``.

    Uses the patched ``summarize_results`` (no inf Sharpe, active executors allowed, JSON-safe).
    """
    if not isinstance(executors, (list, tuple)):
        raise BadRequest("executors must be a list")
    try:
        total = float(total_amount_quote)
    except (TypeError, ValueError):
        raise Invalid(f"total_amount_quote: not a number: {total_amount_quote!r}") from None
    infos = [executor_info_from_dict(e, f"executors[{i}]") for i, e in enumerate(executors)]
    return {"executors": [json_safe(i.to_dict()) for i in infos],
            "results": Engine.summarize_results(infos, total)}
