"""Downloading candles and trading rules through hummingbot's own feeds and connectors.

* ``fetch_candles`` pages backwards through ``CandlesFactory.get_candle(...).fetch_candles`` (one REST
  request per page, throttled by the feed's rate limits, shared per connector), retrying 429/5xx and
  network errors with bounded exponential backoff.
* ``sync_candles`` downloads only what a ``CandleStore`` lacks and writes it as it arrives.
* ``fetch_trading_rules`` instantiates the exchange connector the way hummingbot's
  ``BacktestingDataProvider`` does (no keys, ``trading_required=False``) and calls
  ``_update_trading_rules()``.
* ``use_exchange_url`` / ``HBMESH_EXCHANGE_URLS`` point a connector's REST base URL elsewhere (tests,
  proxies, mirrors).

hummingbot is imported lazily (about 2-4 s), so importing this module is cheap.
Errors are ``shared.errors`` classes: ``BadRequest`` (malformed names), ``NotFound`` (unknown
connector/pair), ``Invalid`` (the exchange lacks the interval, or rejected the request),
``Unavailable`` (exchange unreachable/throttling after the retries), ``HbError(.., 502)``
(unparseable exchange answer).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import os
import random
import re
import threading
import time
import weakref
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from shared.errors import BadRequest, HbError, Invalid, NotFound, Unavailable
from svc_marketdata.store import (
    COLUMNS, INTERVALS, CandleKey, CandleStore, Grid, as_key, empty_candles, to_epoch_seconds,
)

__all__ = [
    "RetryPolicy", "candle_connectors", "candle_intervals", "fetch_candles", "iter_candle_pages",
    "sync_candles", "fetch_trading_rules", "use_exchange_url", "reset_exchange_urls", "exchange_url_overrides",
    "ENV_EXCHANGE_URLS",
]

log = logging.getLogger(__name__)

ENV_EXCHANGE_URLS = "HBMESH_EXCHANGE_URLS"

Progress = Callable[[int, int], Any]  # (candles done, candles expected); may return an awaitable


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: delay_n = min(cap, base * 2**n) * (0.5..1.0 jitter).
    ``timeout`` bounds each attempt (a hung exchange counts as a retryable failure)."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    jitter: bool = True
    timeout: float | None = 60.0

    def delay(self, attempt: int) -> float:
        d = min(self.cap, self.base * (2 ** attempt))
        return d * (0.5 + random.random() / 2) if self.jitter else d


DEFAULT_RETRY = RetryPolicy()

# ------------------------------------------------------------------------------------ URL overrides

# (module, attribute, template); {base} is the override without trailing '/'.
_URL_TARGETS: dict[str, list[tuple[str, str, str]]] = {
    "binance": [
        ("hummingbot.data_feed.candles_feed.binance_spot_candles.constants", "REST_URL", "{base}"),
        # public_rest_url() = REST_URL.format(domain) + "v3" + path; no '{}' left, so format() is a no-op
        ("hummingbot.connector.exchange.binance.binance_constants", "REST_URL", "{base}/api/"),
    ],
    "binance_perpetual": [
        ("hummingbot.data_feed.candles_feed.binance_perpetual_candles.constants", "REST_URL", "{base}"),
        ("hummingbot.connector.derivative.binance_perpetual.binance_perpetual_constants",
         "PERPETUAL_BASE_URL", "{base}/fapi/"),
    ],
}
_ORIGINALS: dict[tuple[str, str], Any] = {}
_OVERRIDES: dict[str, str] = {}
_ENV_STATE: dict[str, Any] = {"raw": None, "connectors": set()}
_URL_LOCK = threading.RLock()


def _targets_for(connector: str) -> list[tuple[str, str, str]]:
    if connector in _URL_TARGETS:
        return _URL_TARGETS[connector]
    # Best effort for other candle feeds: keep the path of <feed package>.constants.REST_URL.
    feed_cls = _candles_map().get(connector)
    if feed_cls is None:
        raise NotFound(f"no URL override known for {connector!r}")
    module = feed_cls.__module__.rsplit(".", 1)[0] + ".constants"
    try:
        mod = importlib.import_module(module)
    except ImportError:
        mod = None
    original = _ORIGINALS.get((module, "REST_URL"), getattr(mod, "REST_URL", None))
    if not isinstance(original, str):
        raise NotFound(f"no URL override known for {connector!r}")
    path = urlsplit(original).path.rstrip("/")
    return [(module, "REST_URL", "{base}" + path)]


def use_exchange_url(connector: str, base_url: str | None) -> list[str]:
    """Point ``connector``'s REST base (candle feed and, where known, the exchange connector) at
    ``base_url`` (e.g. ``http://127.0.0.1:8080``); ``None`` restores hummingbot's URL.

    Verified for ``binance`` (api.binance.com: /api/v3/...) and ``binance_perpetual``
    (fapi.binance.com: /fapi/v1/...). Other candle feeds: their ``constants.REST_URL`` host is
    replaced, the path kept. Note ``binance`` also covers ``binance_us`` (they share constants).
    Returns the patched ``module.ATTR`` names. Process-wide; not for concurrent different values.
    """
    if not isinstance(connector, str) or not re.fullmatch(r"[a-z0-9_]+", connector):
        raise BadRequest(f"invalid connector name {connector!r}")
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadRequest(f"invalid base URL {base_url!r}: expected http(s)://host[:port][/path]")
    with _URL_LOCK:
        patched = []
        for module, attr, template in _targets_for(connector):
            mod = importlib.import_module(module)
            _ORIGINALS.setdefault((module, attr), getattr(mod, attr))
            if base_url is None:
                setattr(mod, attr, _ORIGINALS[(module, attr)])
            else:
                setattr(mod, attr, template.format(base=base_url.rstrip("/")))
            patched.append(f"{module}.{attr}")
        if base_url is None:
            _OVERRIDES.pop(connector, None)
        else:
            _OVERRIDES[connector] = base_url.rstrip("/")
        return patched


def reset_exchange_urls() -> None:
    """Undo every override (also those that came from the environment)."""
    with _URL_LOCK:
        for (module, attr), value in _ORIGINALS.items():
            setattr(importlib.import_module(module), attr, value)
        _OVERRIDES.clear()
        _ENV_STATE["raw"] = None
        _ENV_STATE["connectors"] = set()


def exchange_url_overrides() -> dict[str, str]:
    _apply_env_overrides()
    return dict(_OVERRIDES)


def _apply_env_overrides() -> None:
    """Apply ``HBMESH_EXCHANGE_URLS`` (JSON object connector -> base URL) when it changed."""
    raw = os.environ.get(ENV_EXCHANGE_URLS) or None
    with _URL_LOCK:
        if raw == _ENV_STATE["raw"]:
            return
        try:
            wanted = json.loads(raw) if raw else {}
        except json.JSONDecodeError as e:
            raise Invalid(f"{ENV_EXCHANGE_URLS} is not valid JSON: {e}") from e
        if not isinstance(wanted, dict) or not all(isinstance(v, str) for v in wanted.values()):
            raise Invalid(f'{ENV_EXCHANGE_URLS} must be a JSON object {{"connector": "http://host:port"}}')
        for connector in _ENV_STATE["connectors"] - set(wanted):
            use_exchange_url(connector, None)
        for connector, url in wanted.items():
            use_exchange_url(connector, url)
        _ENV_STATE["raw"] = raw
        _ENV_STATE["connectors"] = set(wanted)


# ------------------------------------------------------------------------------------ hummingbot

def _candles_map() -> dict[str, type]:
    from hummingbot.data_feed.candles_feed.candles_factory import CandlesFactory

    return CandlesFactory._candles_map


def candle_connectors() -> list[str]:
    """Connectors hummingbot has a candle feed for (``CandlesFactory._candles_map``)."""
    return sorted(_candles_map())


def candle_intervals(connector: str) -> list[str]:
    """Intervals the connector's feed supports that hummingbot can handle (its global interval list)."""
    feed_cls = _candles_map().get(connector)
    if feed_cls is None:
        raise NotFound(f"no candle feed for connector {connector!r}; supported: {', '.join(candle_connectors())}")
    try:
        intervals = object.__new__(feed_cls).intervals  # a property reading the feed's CONSTANTS.INTERVALS
    except Exception:  # a feed whose property needs instance state
        intervals = INTERVALS
    return [i for i in INTERVALS if i in intervals]


def _ensure_http_session() -> None:
    """hummingbot shares one aiohttp session process-wide; drop it if it belongs to another loop."""
    from hummingbot.core.web_assistant.connections.connections_factory import ConnectionsFactory

    factory = ConnectionsFactory()
    session = factory._shared_client
    if session is not None and (session.closed or getattr(session, "_loop", None) is not asyncio.get_running_loop()):
        factory._shared_client = None


_THROTTLERS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]]" = weakref.WeakKeyDictionary()


def _shared_throttler(connector: str, rate_limits: list) -> Any:
    """One throttler per connector (per event loop), so concurrent downloads share the rate budget."""
    from hummingbot.core.api_throttler.async_throttler import AsyncThrottler

    per_loop = _THROTTLERS.setdefault(asyncio.get_running_loop(), {})
    throttler = per_loop.get(connector)
    if throttler is None:
        throttler = per_loop[connector] = AsyncThrottler(rate_limits=rate_limits)
    return throttler


def _make_feed(key: CandleKey):
    from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
    from hummingbot.data_feed.candles_feed.candles_factory import CandlesFactory, UnsupportedConnectorException
    from hummingbot.data_feed.candles_feed.data_types import CandlesConfig

    allowed = candle_intervals(key.connector)  # NotFound for an unsupported connector
    if key.interval not in allowed:
        raise Invalid(f"{key.connector} has no {key.interval} candles; it offers {', '.join(allowed)}")
    try:
        feed = CandlesFactory.get_candle(CandlesConfig(connector=key.connector, trading_pair=key.trading_pair,
                                                       interval=key.interval, max_records=10))
    except UnsupportedConnectorException as e:
        raise NotFound(str(e)) from e
    except RuntimeError as e:  # CandlesBase.__init__ does a bare `raise` on an unknown interval
        raise Invalid(f"{key.connector} has no {key.interval} candles") from e
    feed._api_factory = WebAssistantsFactory(throttler=_shared_throttler(key.connector, feed.rate_limits))
    return feed


# ------------------------------------------------------------------------------------ errors/retry

_HTTP_STATUS_RE = re.compile(r"HTTP status is (\d{3})")
_RETRY_STATUSES = {408, 425, 429}


def _classify(exc: BaseException) -> tuple[bool, int | None]:
    """(retryable, http status or None) for an exception raised by a hummingbot REST call."""
    import aiohttp

    if isinstance(exc, OSError):  # hummingbot raises IOError(... HTTP status is N ...); also socket errors
        m = _HTTP_STATUS_RE.search(str(exc))
        if m:
            status = int(m.group(1))
            return (status in _RETRY_STATUSES or status >= 500), status
        return True, None
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)):
        return True, None
    return False, None


def _final_error(connector: str, what: str, exc: BaseException, status: int | None, attempts: int) -> HbError:
    detail = str(exc) or type(exc).__name__
    if status in (418, 451):  # Binance: IP banned / restricted location
        return Unavailable(f"{connector} refused {what} (HTTP {status}): {detail}")
    if status is not None and 400 <= status < 500 and status not in _RETRY_STATUSES:
        if "-1121" in detail or "invalid symbol" in detail.lower():
            return NotFound(f"{connector} does not list the pair asked for in {what}: {detail}")
        return Invalid(f"{connector} rejected {what} (HTTP {status}): {detail}")
    if status is None and not _classify(exc)[0]:
        return HbError(f"{connector} returned an unexpected answer to {what}: {type(exc).__name__}: {detail}", 502)
    return Unavailable(f"{connector} unavailable for {what} after {attempts} attempt(s): {detail}")


async def _with_retry(call: Callable[[], Awaitable[Any]], connector: str, what: str, retry: RetryPolicy) -> Any:
    attempt = 0
    while True:
        try:
            return await asyncio.wait_for(call(), retry.timeout)
        except asyncio.CancelledError:
            raise
        except HbError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below
            retryable, status = _classify(exc)
            attempt += 1
            if not retryable or attempt >= retry.attempts:
                raise _final_error(connector, what, exc, status, attempt) from exc
            delay = retry.delay(attempt - 1)
            log.warning("%s: %s failed (%s), retry %d/%d in %.2fs", connector, what, status or type(exc).__name__,
                        attempt, retry.attempts - 1, delay)
            await asyncio.sleep(delay)


async def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is None:
        return
    result = progress(done, total)
    if inspect.isawaitable(result):
        await result


# ------------------------------------------------------------------------------------ candles

def _validate_range(start: Any, end: Any) -> tuple[int, int]:
    lo, hi = to_epoch_seconds(start), to_epoch_seconds(end)
    if lo > hi:
        raise BadRequest(f"start {lo:.0f} is after end {hi:.0f}")
    return int(np.ceil(lo)), int(np.floor(hi))


async def iter_candle_pages(connector: str, trading_pair: str, interval: str, start: Any, end: Any, *,
                            retry: RetryPolicy | None = None) -> AsyncIterator[np.ndarray]:
    """Yield pages (float64 arrays of the ten columns, ascending) newest page first, covering
    ``start <= timestamp <= end``. One REST request per page (plus retries)."""
    _apply_env_overrides()
    key = CandleKey(connector, trading_pair, interval)
    lo, hi = _validate_range(start, end)
    retry = retry or DEFAULT_RETRY
    await asyncio.to_thread(_candles_map)  # first use imports hummingbot (~2 s): keep it off the loop
    feed = _make_feed(key)
    _ensure_http_session()
    step = key.seconds
    max_per_request = int(feed.candles_max_result_per_rest_request)
    cur_end = hi
    while cur_end >= lo:  # cur_end strictly decreases every page, so this ends
        # A window [cur_end - limit*step, cur_end] holds limit+1 candles: keep it within one request.
        limit = max(1, min((cur_end - lo) // step, max_per_request - 1))
        end_at = cur_end
        arr = await _with_retry(lambda: feed.fetch_candles(start_time=lo, end_time=end_at, limit=limit),
                                key.connector, f"{key} candles up to {end_at}", retry)
        arr = np.asarray(arr, dtype="float64").reshape(-1, len(COLUMNS))
        arr = arr[(arr[:, 0] <= cur_end) & (arr[:, 0] >= lo)]
        if len(arr) == 0:
            break
        arr = arr[np.argsort(arr[:, 0], kind="stable")]
        yield arr
        first = int(arr[0, 0])
        if first <= lo:
            break
        # Next page ends just before the oldest candle seen (1M: calendar months vary in length).
        cur_end = first - 1 if interval == "1M" else first - step


def _pages_to_frame(pages: list[np.ndarray]) -> pd.DataFrame:
    if not pages:
        return empty_candles()
    data = np.concatenate(pages) if len(pages) > 1 else pages[0]
    data = data[np.argsort(data[:, 0], kind="stable")]
    keep = np.ones(len(data), dtype=bool)
    keep[:-1] = data[1:, 0] != data[:-1, 0]
    return pd.DataFrame(data[keep], columns=list(COLUMNS))


async def fetch_candles(connector: str, trading_pair: str, interval: str, start: Any, end: Any,
                        progress: Progress | None = None, *, retry: RetryPolicy | None = None) -> pd.DataFrame:
    """Download candles with ``start <= timestamp <= end`` (epoch seconds/ms, ISO strings, datetimes)
    through hummingbot's feed for ``connector``. Returns the ten hummingbot columns, float64, sorted,
    unique. ``progress(done, expected)`` is called after every page (may be async)."""
    key = CandleKey(connector, trading_pair, interval)
    lo, hi = _validate_range(start, end)
    expected = max(1, (hi - lo) // key.seconds + 1)
    pages: list[np.ndarray] = []
    done = 0
    async for page in iter_candle_pages(key.connector, key.trading_pair, key.interval, lo, hi, retry=retry):
        pages.append(page)
        done += len(page)
        await _report(progress, min(done, expected), expected)
    await _report(progress, expected, expected)
    return _pages_to_frame(pages)


async def sync_candles(store: CandleStore, key: CandleKey | str, start: Any, end: Any,
                       progress: Progress | None = None, *, retry: RetryPolicy | None = None,
                       now: float | None = None, flush_rows: int = 100_000) -> dict[str, Any]:
    """Fill ``store`` for ``key`` over [start, end]: only the gaps are downloaded, and only closed
    candles (open time + interval <= now) are kept. Pages are written every ``flush_rows`` rows, so
    an interrupted sync keeps what it got. Returns a summary with the gaps before and after."""
    key = as_key(key)
    lo, hi = _validate_range(start, end)
    now = time.time() if now is None else float(now)
    grid = Grid(key.interval)
    last_closed = grid.add(grid.floor(now), -1)
    hi = min(hi, last_closed)
    gaps = await asyncio.to_thread(store.gaps, key, lo, hi) if lo <= hi else []
    expected = sum(grid.count(a, b) for a, b in gaps)
    done = fetched = written = 0
    for g_lo, g_hi in gaps:
        buffer: list[np.ndarray] = []
        buffered = 0
        async for page in iter_candle_pages(key.connector, key.trading_pair, key.interval, g_lo, g_hi, retry=retry):
            buffer.append(page)
            buffered += len(page)
            fetched += len(page)
            done += len(page)
            if buffered >= flush_rows:
                written += (await asyncio.to_thread(store.write, key, _pages_to_frame(buffer)))["added"]
                buffer, buffered = [], 0
            await _report(progress, min(done, expected), expected)
        if buffer:
            written += (await asyncio.to_thread(store.write, key, _pages_to_frame(buffer)))["added"]
    await _report(progress, expected, expected)
    remaining = await asyncio.to_thread(store.gaps, key, lo, hi) if lo <= hi else []
    return {"key": str(key), "start": lo, "end": hi, "gaps_before": [list(g) for g in gaps],
            "fetched": fetched, "added": written, "gaps_after": [list(g) for g in remaining]}


# ------------------------------------------------------------------------------------ trading rules

_RULE_FIELDS = (
    "trading_pair", "min_order_size", "max_order_size", "min_price_increment", "min_base_amount_increment",
    "min_quote_amount_increment", "min_notional_size", "min_order_value", "max_price_significant_digits",
    "supports_limit_orders", "supports_market_orders", "buy_order_collateral_token", "sell_order_collateral_token",
)
# As hummingbot's BacktestingDataProvider (these crash or need credentials without a config).
_EXCLUDED_RULE_CONNECTORS = {"dydx_perpetual", "coinbase_advanced_trade", "kraken", "dydx_v4_perpetual", "hitbtc",
                             "injective_v2_perpetual", "injective_v2"}


def _rule_to_dict(rule: Any) -> dict[str, Any]:
    out = {}
    for name in _RULE_FIELDS:
        value = getattr(rule, name, None)
        out[name] = float(value) if isinstance(value, Decimal) else value
    return out


def _import_connector_support() -> None:
    import hummingbot.client.config.config_helpers  # noqa: F401
    import hummingbot.client.settings  # noqa: F401
    import hummingbot.data_feed.market_data_provider  # noqa: F401


def _make_connector(connector: str):
    from hummingbot.client.config.config_helpers import get_connector_class
    from hummingbot.client.settings import AllConnectorSettings, ConnectorType
    from hummingbot.data_feed.market_data_provider import MarketDataProvider

    settings = AllConnectorSettings.get_connector_settings().get(connector)
    if settings is None:
        raise NotFound(f"unknown connector {connector!r}")
    allowed = (ConnectorType.CLOB_SPOT, ConnectorType.CLOB_PERP, ConnectorType.Exchange, ConnectorType.Derivative)
    if settings.type not in allowed or connector in _EXCLUDED_RULE_CONNECTORS or "testnet" in connector:
        raise Invalid(f"trading rules are not available offline for {connector!r}")
    params = settings.conn_init_parameters(trading_pairs=[], trading_required=False,
                                           api_keys=MarketDataProvider.get_connector_config_map(connector))
    instance = get_connector_class(connector)(**params)
    if not hasattr(instance, "_update_trading_rules"):
        raise Invalid(f"{connector!r} cannot load trading rules")
    return instance


async def fetch_trading_rules(connector: str, pairs: Iterable[str] | None = None, *,
                              retry: RetryPolicy | None = None) -> list[dict[str, Any]]:
    """Trading rules as plain dicts (Decimals as floats), for ``pairs`` or, if None/empty, every pair.
    Raises ``NotFound`` naming pairs the exchange does not list."""
    _apply_env_overrides()
    if not isinstance(connector, str) or not re.fullmatch(r"[a-z0-9_]+", connector):
        raise BadRequest(f"invalid connector name {connector!r}")
    wanted = []
    for pair in pairs or []:
        if not isinstance(pair, str) or "-" not in pair or not re.fullmatch(r"[A-Z0-9]+-[A-Z0-9]+", pair.upper()):
            raise BadRequest(f"invalid trading pair {pair!r}: expected BASE-QUOTE")
        wanted.append(pair.upper())
    retry = retry or DEFAULT_RETRY
    await asyncio.to_thread(_import_connector_support)  # first use imports hummingbot (~4 s)
    instance = _make_connector(connector)
    _ensure_http_session()
    await _with_retry(instance._update_trading_rules, connector, "trading rules", retry)
    rules = dict(instance.trading_rules)
    listed = set((await instance.trading_pair_symbol_map()).values()) \
        if instance.trading_pair_symbol_map_ready() else set()
    if listed - set(rules):
        # The first pass formats rules before the symbol map exists and fetches it on the side, where
        # hummingbot only logs failures (e.g. a 429) and skips those pairs. The map is set now (from
        # the same exchange info), so one more pass is reliable.
        await _with_retry(instance._update_trading_rules, connector, "trading rules", retry)
        rules = dict(instance.trading_rules)
    if wanted:
        missing = [p for p in wanted if p not in rules]
        if missing:
            raise NotFound(f"{connector} lists no {', '.join(missing)}")
        return [_rule_to_dict(rules[p]) for p in wanted]
    return [_rule_to_dict(rules[p]) for p in sorted(rules)]
