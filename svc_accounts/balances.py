"""Balances per account and connector, read through hummingbot's own exchange connectors.

For every account and every connector it holds credentials for, ``BalanceMonitor.refresh()``:

1. decrypts the connector's yml with hummingbot's loader (``CredentialStore.api_keys``),
2. builds the connector as hummingbot does (``conn_init_parameters(trading_required=True, api_keys=...)``)
   and calls its ``_update_balances()`` (Binance: the signed ``GET /api/v3/account``),
3. values every token in a quote currency with the connector's ``get_last_traded_prices`` (the quote
   itself is 1; a pair the exchange does not list, or a failed price, keeps the last known price, else 0),
4. stores one snapshot in SQL and hands it to ``on_snapshot`` (the service publishes it as an event).

A connector that fails (bad keys, exchange down, timeout) is marked stale with its error, and keeps its
last good figures; the other connectors are unaffected. Connectors are cached per account/connector and
rebuilt when the credentials file changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from shared.errors import HbError

from .credentials import CredentialStore
from .history import ConnectorState, Snapshot, SnapshotStore, now_ms

log = logging.getLogger("hbmesh.accounts.balances")

# hummingbot-api's per-exchange quote currencies; everything else uses the configured default.
DEFAULT_QUOTES = {"hyperliquid": "USDC", "hyperliquid_perpetual": "USDC", "kraken": "USD", "xrpl": "RLUSD",
                  "coinbase_advanced_trade": "USD", "dydx_v4_perpetual": "USD"}


def _ensure_http_session() -> None:
    """hummingbot shares one aiohttp session process-wide; drop it if it belongs to another loop."""
    from hummingbot.core.web_assistant.connections.connections_factory import ConnectionsFactory

    factory = ConnectionsFactory()
    session = factory._shared_client
    if session is not None and (session.closed or getattr(session, "_loop", None) is not asyncio.get_running_loop()):
        factory._shared_client = None


def _import_hummingbot() -> None:
    import hummingbot.client.config.config_helpers  # noqa: F401
    import hummingbot.client.settings  # noqa: F401


def _build_connector(connector: str, api_keys: dict[str, str]):
    from hummingbot.client.config.config_helpers import get_connector_class
    from hummingbot.client.settings import AllConnectorSettings

    settings = AllConnectorSettings.get_connector_settings().get(connector)
    if settings is None:
        raise HbError(f"unknown connector {connector!r}", 404)
    params = settings.conn_init_parameters(trading_pairs=[], trading_required=True, api_keys=api_keys)
    return get_connector_class(connector)(**params)


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, HbError):
        return exc.msg
    if isinstance(exc, TimeoutError):
        return "timed out reading balances"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


class BalanceMonitor:
    def __init__(self, credentials: CredentialStore, store: SnapshotStore, *, quote: str = "USDT",
                 connector_timeout_s: float = 30.0, quotes: dict[str, str] | None = None,
                 on_snapshot: Callable[[Snapshot], Awaitable[None]] | None = None):
        self.credentials = credentials
        self.store = store
        self.quote = quote
        self.quotes = {**DEFAULT_QUOTES, **(quotes or {})}
        self.connector_timeout_s = connector_timeout_s
        self.on_snapshot = on_snapshot
        self.current: dict[tuple[str, str], ConnectorState] = {}
        self.last_snapshot: Snapshot | None = None
        self._connectors: dict[tuple[str, str], tuple[str, Any]] = {}  # -> (credentials digest, connector)
        self._prices: dict[tuple[str, str], float] = {}  # (connector, pair) -> last known price
        self._run: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Prime the current state from the newest stored snapshot (after a restart)."""
        snap = await asyncio.to_thread(self.store.latest)
        if snap is not None:
            self.last_snapshot = snap
            self.current = {(s.account, s.connector): s for s in snap.states}

    # ------------------------------------------------------------------ one pass
    async def refresh(self) -> Snapshot:
        """Run one pass, or join the pass already running (concurrent refresh requests share one)."""
        async with self._lock:
            if self._run is None or self._run.done():
                self._run = asyncio.ensure_future(self._refresh())
            run = self._run
        return await asyncio.shield(run)

    async def _refresh(self) -> Snapshot:
        pairs = await asyncio.to_thread(self._targets)
        ts = now_ms()
        results = await asyncio.gather(*(self._read(a, c, ts) for a, c in pairs))
        snap = Snapshot(ts, self.quote, list(results))
        await asyncio.to_thread(self.store.write, snap)
        self.current = {(s.account, s.connector): s for s in results}
        for key in [k for k in self._connectors if k not in self.current]:
            self._connectors.pop(key, None)  # credentials deleted
        self.last_snapshot = snap
        if self.on_snapshot is not None:
            try:
                await self.on_snapshot(snap)
            except Exception:  # noqa: BLE001 - publishing must not break the loop
                log.exception("snapshot callback failed")
        return snap

    def _targets(self) -> list[tuple[str, str]]:
        out = []
        for account in self.credentials.list_accounts():
            try:
                out += [(account, c) for c in self.credentials.list_credentials(account)]
            except HbError:
                continue  # deleted meanwhile
        return out

    async def _read(self, account: str, connector: str, ts: int) -> ConnectorState:
        try:
            tokens = await asyncio.wait_for(self._read_connector(account, connector), self.connector_timeout_s)
            return ConnectorState(account, connector, tokens, False, None, ts)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a failing connector is stale, the others go on
            error = _describe_error(exc)
            log.warning("balances unavailable", extra={"account": account, "connector": connector, "error": error})
            previous = self.current.get((account, connector))
            return ConnectorState(account, connector, previous.tokens if previous else [], True, error,
                                  previous.updated_ms if previous else None)

    async def _connector(self, account: str, connector: str):
        path = self.credentials.account_dir(account) / "connectors" / f"{connector}.yml"
        digest = hashlib.sha256(await asyncio.to_thread(path.read_bytes)).hexdigest()
        cached = self._connectors.get((account, connector))
        if cached is not None and cached[0] == digest:
            return cached[1]
        keys = await asyncio.to_thread(self.credentials.api_keys, account, connector)
        await asyncio.to_thread(_import_hummingbot)  # the first import takes seconds: off the loop
        instance = _build_connector(connector, keys)  # on the loop: connectors bind to the running loop
        self._connectors[(account, connector)] = (digest, instance)
        return instance

    async def _read_connector(self, account: str, connector: str) -> list[dict[str, Any]]:
        instance = await self._connector(account, connector)
        _ensure_http_session()
        await instance._update_balances()
        totals: dict[str, Decimal] = dict(instance.get_all_balances())
        available = instance.available_balances
        held = {t: Decimal(str(u)) for t, u in totals.items() if Decimal(str(u)) != 0}
        prices = await self._price(instance, connector, list(held))
        rows = []
        for token, units in sorted(held.items()):
            price = prices.get(token, 0.0)
            rows.append({"token": token, "units": float(units), "price": price, "value": float(units) * price,
                         "available_units": float(available.get(token, Decimal(0)))})
        return rows

    async def _price(self, instance: Any, connector: str, tokens: list[str]) -> dict[str, float]:
        quote = self.quotes.get(connector, self.quote)
        out = {t: 1.0 for t in tokens if t == quote}
        wanted = {f"{t}-{quote}": t for t in tokens if t != quote}
        if not wanted:
            return out
        try:
            listed = set((await instance.trading_pair_symbol_map()).values())
        except Exception as exc:  # noqa: BLE001
            log.warning("no symbol map", extra={"connector": connector, "error": _describe_error(exc)})
            listed = set()
        tradable = [p for p in wanted if p in listed]
        fetched: dict[str, float] = {}
        if tradable:
            try:
                fetched = {p: float(v) for p, v in (await instance.get_last_traded_prices(tradable)).items()
                           if v is not None and float(v) > 0}
            except Exception as exc:  # noqa: BLE001 - fall back to the last known prices
                log.warning("prices unavailable", extra={"connector": connector, "error": _describe_error(exc)})
        for pair, token in wanted.items():
            if pair in fetched:
                self._prices[(connector, pair)] = fetched[pair]
            out[token] = self._prices.get((connector, pair), 0.0)
        return out

    # ------------------------------------------------------------------ views
    def state(self, accounts: list[str] | None = None, connectors: list[str] | None = None) -> dict:
        """hummingbot-api's ``{account: {connector: [{token, units, price, value, available_units}]}}``."""
        out: dict[str, dict[str, list]] = {}
        for (account, connector), s in sorted(self.current.items()):
            if accounts and account not in accounts:
                continue
            if connectors and connector not in connectors:
                continue
            out.setdefault(account, {})[connector] = s.tokens
        return out

    def status(self) -> list[dict[str, Any]]:
        return [{"account_name": s.account, "connector_name": s.connector, "stale": s.stale, "error": s.error,
                 "updated_ms": s.updated_ms}
                for (_a, _c), s in sorted(self.current.items())]

    async def run_forever(self, interval_s: float) -> None:
        """The balance loop: a pass every ``interval_s`` seconds (failures are logged, never fatal)."""
        while True:
            started = time.monotonic()
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("balance pass failed")
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))

    async def close(self) -> None:
        if self._run is not None and not self._run.done():
            self._run.cancel()
        self._connectors.clear()
