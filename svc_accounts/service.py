"""svc_accounts' entrypoints: commands on hbmesh/v1/accounts/... mapped onto credentials, connectors,
balances and their history.

Credentials live under ``<bots dir>/credentials/<account>/`` (``HBMESH_BOTS_DIR``, default ``<HBMESH_DATA_DIR>/bots``) in Hummingbot's own format,
encrypted with ``CONFIG_PASSWORD``; svc_fleet copies an account folder (``profile``) into a bot's
``conf/``. A balance loop (``HBMESH_ACCOUNTS_BALANCE_INTERVAL_S``) stores a snapshot per pass and
publishes it on ``events/portfolio/snapshot``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec

from shared.errors import Conflict
from shared.schemas.accounts import (AccountChange, AccountReq, AccountsStatus, AddCredentialReq, ConnectorReq,
                                     ConnectorStatus, CredentialReq, Message, PortfolioHistoryReq,
                                     PortfolioSnapshotEvent, PortfolioStateReq, Profile)
from shared.service import Runtime, Service

log = logging.getLogger("hbmesh.accounts")

service = Service("accounts", "Accounts, Hummingbot-encrypted connector credentials, balances and their history")
service.event("portfolio/snapshot", PortfolioSnapshotEvent, "Every balance pass (stale connectors flagged)")
service.event("accounts/{account_name}", AccountChange, "An account or its credentials changed (no values)")


class State:
    def __init__(self, credentials, store, monitor, cfg, problems: dict[str, str]):
        self.credentials = credentials
        self.store = store
        self.monitor = monitor
        self.cfg = cfg
        self.problems = problems


def _import_hummingbot() -> None:
    import hummingbot.client.config.config_crypt  # noqa: F401
    import hummingbot.client.config.config_helpers  # noqa: F401
    import hummingbot.client.config.security  # noqa: F401
    import hummingbot.client.settings  # noqa: F401


def _snapshot_event(snap) -> PortfolioSnapshotEvent:
    from .history import iso

    return PortfolioSnapshotEvent(
        iso(snap.ts_ms), snap.ts_ms, snap.quote, msgspec.convert(snap.as_state(), dict[str, dict[str, list]]),
        [ConnectorStatus(s.account, s.connector, s.stale, s.error, s.updated_ms) for s in snap.states])


@service.lifespan
async def lifespan(rt: Runtime):
    from .balances import BalanceMonitor
    from .config import AccountsSettings
    from .credentials import CredentialStore
    from .history import SnapshotStore

    cfg = AccountsSettings()
    with contextlib.suppress(ImportError):  # HBMESH_EXCHANGE_URLS (tests, mirrors), shared with svc_marketdata
        from svc_marketdata.fetch import exchange_url_overrides

        await asyncio.to_thread(exchange_url_overrides)
    await asyncio.to_thread(_import_hummingbot)
    credentials = CredentialStore(rt.settings.bots_dir / "credentials", cfg.password)
    problems = await asyncio.to_thread(credentials.check_all)
    for account, reason in problems.items():
        log.error("credentials unusable: %s", reason, extra={"account": account})
    if not problems:
        await asyncio.to_thread(credentials.ensure_master)
    store = await asyncio.to_thread(SnapshotStore, rt.settings.sqlalchemy_url("accounts"), cfg.table_prefix)

    async def publish(snap) -> None:
        await rt.emit("portfolio/snapshot", _snapshot_event(snap), qos=1)

    monitor = BalanceMonitor(credentials, store, quote=cfg.quote, connector_timeout_s=cfg.connector_timeout_s,
                             on_snapshot=publish)
    await monitor.load()
    loop = asyncio.create_task(monitor.run_forever(cfg.balance_interval_s)) if cfg.balance_interval_s > 0 else None
    try:
        yield State(credentials, store, monitor, cfg, problems)
    finally:
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await monitor.close()
        store.close()


async def _changed(rt: Runtime, account: str, action: str, connector: str | None = None) -> None:
    await rt.emit(f"accounts/{account}", AccountChange(account, action, connector), qos=1)


# ---------------------------------------------------------------------------- accounts
@service.command("accounts/list")
async def list_accounts(req: Any, rt: Runtime) -> list[str]:
    """Account names (folders under the credentials root)."""
    return await asyncio.to_thread(rt.state.credentials.list_accounts)


@service.command("accounts/add")
async def add_account(req: AccountReq, rt: Runtime) -> Message:
    """Create an account: connectors/ folder, .password_verification, master_account's conf files."""
    await asyncio.to_thread(rt.state.credentials.add_account, req.account_name)
    await _changed(rt, req.account_name, "account_added")
    return Message("Account added successfully.")


@service.command("accounts/delete")
async def delete_account(req: AccountReq, rt: Runtime) -> Message:
    """Delete an account folder and everything in it (not master_account)."""
    await asyncio.to_thread(rt.state.credentials.delete_account, req.account_name)
    await _changed(rt, req.account_name, "account_deleted")
    return Message("Account deleted successfully.")


@service.command("status")
async def status(req: Any, rt: Runtime) -> AccountsStatus:
    """Whether CONFIG_PASSWORD is set and decrypts every account; the balance settings."""
    st: State = rt.state
    return AccountsStatus(bool(st.credentials.password), dict(st.problems),
                          await asyncio.to_thread(st.credentials.list_accounts), st.cfg.balance_interval_s,
                          st.cfg.quote)


# ---------------------------------------------------------------------------- credentials
@service.command("credentials/list")
async def list_credentials(req: AccountReq, rt: Runtime) -> list[str]:
    """Connectors the account holds credentials for."""
    return await asyncio.to_thread(rt.state.credentials.list_credentials, req.account_name)


@service.command("credentials/add", timeout=60)
async def add_credential(req: AddCredentialReq, rt: Runtime) -> Message:
    """Store a connector's credentials (secret fields encrypted with CONFIG_PASSWORD, hummingbot's scheme)."""
    await asyncio.to_thread(rt.state.credentials.add_credential, req.account_name, req.connector_name,
                            dict(req.credentials))
    await _changed(rt, req.account_name, "credential_added", req.connector_name)
    return Message("Connector credentials added successfully.")


@service.command("credentials/delete")
async def delete_credential(req: CredentialReq, rt: Runtime) -> Message:
    await asyncio.to_thread(rt.state.credentials.delete_credential, req.account_name, req.connector_name)
    await _changed(rt, req.account_name, "credential_deleted", req.connector_name)
    return Message("Credential deleted successfully.")


@service.command("profile")
async def profile(req: AccountReq, rt: Runtime) -> Profile:
    """An account's credentials folder (encrypted), for svc_fleet to copy into a bot instance's conf/."""
    st: State = rt.state
    if req.account_name in st.problems:
        raise Conflict(f"account '{req.account_name}': {st.problems[req.account_name]}; a bot could not decrypt it")
    files = await asyncio.to_thread(st.credentials.profile, req.account_name)
    return Profile(req.account_name, str(st.credentials.account_dir(req.account_name)), files)


# ---------------------------------------------------------------------------- connectors
@service.command("connectors/list")
async def list_connectors(req: Any, rt: Runtime) -> list[str]:
    """Every connector hummingbot knows."""
    from .connectors import list_connectors as names

    return await asyncio.to_thread(names)


@service.command("connectors/config-map")
async def config_map(req: ConnectorReq, rt: Runtime) -> dict[str, dict]:
    """The connector's credential fields: {field: {type, required, secret, connect_key, allowed_values?}}."""
    from .connectors import credential_fields

    return await asyncio.to_thread(credential_fields, req.connector_name)


# ---------------------------------------------------------------------------- portfolio
@service.command("portfolio/state", timeout=180)
async def portfolio_state(req: PortfolioStateReq, rt: Runtime) -> dict[str, dict[str, list]]:
    """{account: {connector: [{token, units, price, value, available_units}]}}; refresh=true reads now."""
    monitor = rt.state.monitor
    if req.refresh or monitor.last_snapshot is None:
        await monitor.refresh()
    return monitor.state(req.account_names, req.connector_names)


@service.command("portfolio/status")
async def portfolio_status(req: Any, rt: Runtime) -> list[ConnectorStatus]:
    """Per account and connector: stale or not, the last error, when figures were last read."""
    return [ConnectorStatus(**s) for s in rt.state.monitor.status()]


@service.command("portfolio/history", timeout=60)
async def portfolio_history(req: PortfolioHistoryReq, rt: Runtime) -> dict:
    """Snapshots newest first: {data: [{timestamp, state, stale?}], pagination: {limit, has_more, next_cursor, ...}}."""
    return await asyncio.to_thread(
        rt.state.store.page, limit=req.limit, cursor=req.cursor, start_time=req.start_time, end_time=req.end_time,
        interval=req.interval, account_names=req.account_names, connector_names=req.connector_names)


