"""A small fake Binance (spot + USD-M perpetual) REST server for tests.

Runs an ``aiohttp.web`` app on 127.0.0.1 (random port) in a background thread with its own event
loop, so it serves sync and async tests alike. Candles are a pure function of (timestamp, interval),
so overlapping pages always agree. Every request is logged (path, query) and counted per path;
``fail_every`` / ``fail_next`` inject 429s (or any status) to exercise retries.

The signed spot account endpoint ``GET /api/v3/account`` answers ``balances`` (Binance's shape). With
``api_keys`` ({api_key: secret}) set, it checks the ``X-MBX-APIKEY`` header and the HMAC-SHA256
``signature`` over the rest of the query the way Binance does (401 -2015 / 400 -1022 otherwise); without
it, any key and signature are accepted. ``GET /api/v3/ticker/24hr`` and ``/api/v3/ticker/price`` answer
``prices`` ({symbol: price}) or the close of the symbol's current 1m candle.

    with FakeExchange() as ex:
        use_exchange_url("binance", ex.url)
        ...
        assert ex.count("/api/v3/klines") == 3
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

INTERVAL_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}
SPOT_MAX_LIMIT = 1000
PERP_MAX_LIMIT = 1500
#: 2017-07-14 00:00:00 UTC: no candle exists before this (like a pair's listing date).
DEFAULT_LISTING_MS = 1_500_000_000_000 - 1_500_000_000_000 % 86_400_000


def candle_values(open_ms: int, interval_ms: int) -> tuple[float, ...]:
    """Deterministic (open, high, low, close, volume, quote_volume, trades, taker_base, taker_quote)."""
    n = open_ms // interval_ms
    base = 20_000.0 + (n % 1_000) * 1.5
    close = base + ((n * 7) % 11 - 5) * 0.25
    high = max(base, close) + 1.0 + (n % 3) * 0.5
    low = min(base, close) - 1.0 - (n % 5) * 0.25
    volume = 1.0 + (n % 13) * 0.5
    trades = float(10 + n % 17)
    taker_base = volume * 0.5
    return base, high, low, close, volume, volume * close, trades, taker_base, taker_base * close


def kline(open_ms: int, interval_ms: int) -> list[Any]:
    """One kline in Binance's REST shape (strings for decimals, ints for times/trades)."""
    o, h, lo, c, v, qv, n, tb, tq = candle_values(open_ms, interval_ms)
    return [open_ms, f"{o:.8f}", f"{h:.8f}", f"{lo:.8f}", f"{c:.8f}", f"{v:.8f}", open_ms + interval_ms - 1,
            f"{qv:.8f}", int(n), f"{tb:.8f}", f"{tq:.8f}", "0"]


def _symbol(base: str, quote: str, perp: bool) -> dict[str, Any]:
    filters = [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
         "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
    ]
    if perp:
        filters.append({"filterType": "MIN_NOTIONAL", "notional": "100"})
        return {"symbol": f"{base}{quote}", "pair": f"{base}{quote}", "contractType": "PERPETUAL",
                "status": "TRADING", "baseAsset": base, "quoteAsset": quote, "marginAsset": quote,
                "pricePrecision": 2, "quantityPrecision": 3, "filters": filters,
                "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"]}
    filters.append({"filterType": "MIN_NOTIONAL", "minNotional": "5.00000000", "applyToMarket": True,
                    "avgPriceMins": 5})
    return {"symbol": f"{base}{quote}", "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
            "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False, "filters": filters,
            "permissions": ["SPOT"], "permissionSets": [["SPOT"]]}


@dataclass
class Request:
    path: str
    query: dict[str, str]
    status: int


@dataclass
class FakeExchange:
    """Fake Binance REST API. ``symbols``: (base, quote) pairs listed on both spot and perpetual."""

    symbols: list[tuple[str, str]] = field(default_factory=lambda: [("BTC", "USDT"), ("ETH", "USDT")])
    listing_ms: int = DEFAULT_LISTING_MS
    fail_every: int | None = None  # answer fail_status to every Nth request (counting all paths)
    fail_status: int = 429
    fail_paths: tuple[str, ...] | None = None  # restrict injected failures to these paths
    #: the spot account's balances: (asset, free, locked)
    balances: list[tuple[str, str, str]] = field(default_factory=lambda: [("BTC", "0.5", "0.1"), ("USDT", "1000", "0")])
    api_keys: dict[str, str] = field(default_factory=dict)  # api key -> secret; empty: accept any
    prices: dict[str, str] = field(default_factory=dict)  # symbol -> last price

    def __post_init__(self) -> None:
        self.requests: list[Request] = []
        self._fail_next: list[int | None] = []
        self._hang_next = 0
        self._release: asyncio.Event | None = None
        self._seen = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ control
    @property
    def url(self) -> str:
        assert self.port is not None, "FakeExchange not started"
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, *statuses: int | None) -> None:
        """Answer the next requests (matching ``fail_paths``) with these statuses, in order;
        ``None`` lets that request through (``fail_next(None, 429)`` fails the second one)."""
        with self._lock:
            self._fail_next.extend(statuses)

    def hang_next(self, n: int = 1) -> None:
        """Never answer the next ``n`` requests (matching ``fail_paths``): a hung exchange. They are
        released when the server stops."""
        with self._lock:
            self._hang_next += n

    def count(self, path: str | None = None, *, ok_only: bool = False) -> int:
        with self._lock:
            return sum(1 for r in self.requests
                       if (path is None or r.path == path) and (not ok_only or r.status == 200))

    @property
    def counts(self) -> Counter:
        with self._lock:
            return Counter(r.path for r in self.requests)

    def log(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._fail_next.clear()
            self._hang_next = 0
            self._seen = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeExchange":
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as e:  # surface start-up errors to start()
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-exchange", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake exchange did not start")
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._release.set)  # hung handlers finish during cleanup
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> "FakeExchange":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def _serve(self) -> None:
        self._release = asyncio.Event()
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/exchangeInfo", self._spot_info)
        app.router.add_get("/api/v3/klines", self._spot_klines)
        app.router.add_get("/api/v3/account", self._spot_account)
        app.router.add_get("/api/v3/ticker/24hr", self._ticker)
        app.router.add_get("/api/v3/ticker/price", self._ticker)
        app.router.add_get("/fapi/v1/ping", self._ping)
        app.router.add_get("/fapi/v1/time", self._time)
        app.router.add_get("/fapi/v1/exchangeInfo", self._perp_info)
        app.router.add_get("/fapi/v1/klines", self._perp_klines)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # ------------------------------------------------------------------ handlers
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        status = None
        hang = False
        with self._lock:
            if self.fail_paths is None or request.path in self.fail_paths:
                self._seen += 1
                if self._hang_next:
                    self._hang_next -= 1
                    hang = True
                elif self._fail_next:
                    status = self._fail_next.pop(0)  # None: answer normally
                elif self.fail_every and self._seen % self.fail_every == 0:
                    status = self.fail_status
        if hang:
            self._record(request, 0)
            await self._release.wait()
            return web.json_response({"code": -1001, "msg": "released at shutdown"}, status=503)
        if status is not None:
            body = {"code": -1003, "msg": "Too many requests; current limit of IP is 1200 requests per minute."} \
                if status == 429 else {"code": -1000, "msg": f"injected failure {status}"}
            response = web.json_response(body, status=status, headers={"Retry-After": "1"})
        else:
            try:
                response = await handler(request)
            except web.HTTPException as e:  # e.g. 404 for an unknown path
                self._record(request, e.status)
                raise
        self._record(request, response.status)
        return response

    def _record(self, request: web.Request, status: int) -> None:
        with self._lock:
            self.requests.append(Request(request.path, dict(request.query), status))

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def _spot_info(self, request: web.Request) -> web.Response:
        return web.json_response({"timezone": "UTC", "serverTime": int(time.time() * 1000), "rateLimits": [],
                                  "symbols": [_symbol(b, q, perp=False) for b, q in self.symbols]})

    async def _perp_info(self, request: web.Request) -> web.Response:
        return web.json_response({"timezone": "UTC", "serverTime": int(time.time() * 1000), "rateLimits": [],
                                  "assets": [], "symbols": [_symbol(b, q, perp=True) for b, q in self.symbols]})

    async def _spot_account(self, request: web.Request) -> web.Response:
        raw = request.query_string
        if "signature=" not in raw or "timestamp" not in request.query:
            return web.json_response({"code": -1102, "msg": "Mandatory parameter 'signature' was not sent."},
                                     status=400)
        if self.api_keys:
            key = request.headers.get("X-MBX-APIKEY", "")
            secret = self.api_keys.get(key)
            if secret is None:
                return web.json_response({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                                         status=401)
            signed, _, signature = raw.rpartition("&signature=")
            expected = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, signature):
                return web.json_response({"code": -1022, "msg": "Signature for this request is not valid."},
                                         status=400)
        return web.json_response({
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "updateTime": int(time.time() * 1000),
            "accountType": "SPOT", "permissions": ["SPOT"],
            "balances": [{"asset": a, "free": f, "locked": lk} for a, f, lk in self.balances]})

    async def _ticker(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol")
        if symbol not in {f"{b}{s}" for b, s in self.symbols}:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        price = self.prices.get(symbol)
        if price is None:
            now = int(time.time() * 1000)
            price = f"{candle_values(now - now % 60_000, 60_000)[3]:.8f}"
        if request.path.endswith("/price"):
            return web.json_response({"symbol": symbol, "price": price})
        return web.json_response({"symbol": symbol, "lastPrice": price, "priceChange": "0", "volume": "1"})

    async def _spot_klines(self, request: web.Request) -> web.Response:
        return self._klines(request, SPOT_MAX_LIMIT)

    async def _perp_klines(self, request: web.Request) -> web.Response:
        return self._klines(request, PERP_MAX_LIMIT)

    def _klines(self, request: web.Request, max_limit: int) -> web.Response:
        q = request.query
        if q.get("symbol") not in {f"{b}{s}" for b, s in self.symbols}:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        interval_ms = INTERVAL_MS.get(q.get("interval", ""))
        if interval_ms is None:
            return web.json_response({"code": -1120, "msg": "Invalid interval."}, status=400)
        try:
            limit = int(q.get("limit", 500))
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
        except ValueError:
            return web.json_response({"code": -1100, "msg": "Illegal characters found in a parameter."}, status=400)
        if not 1 <= limit <= max_limit:
            return web.json_response({"code": -1130, "msg": "Invalid limit."}, status=400)
        now = int(time.time() * 1000)
        last = min(end if end is not None else now, now)
        last -= last % interval_ms  # newest open time <= endTime
        first_allowed = self.listing_ms
        if start is not None:
            first_allowed = max(first_allowed, -(-start // interval_ms) * interval_ms)
        if start is not None:  # Binance: from startTime forward, at most `limit`
            opens = range(first_allowed, last + 1, interval_ms)[:limit]
        else:  # only endTime: the `limit` newest candles up to endTime
            lo = max(first_allowed, last - (limit - 1) * interval_ms)
            opens = range(lo, last + 1, interval_ms)
        return web.json_response([kline(t, interval_ms) for t in opens])
