"""hummingbot-api-client 1.5.9, unchanged, against the gateway's /accounts/*, /connectors/, /portfolio/* routes
relayed to svc_accounts (real broker, real hummingbot binance connector on the fake exchange)."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from hummingbot_api_client import HummingbotAPIClient

from gateway.app import create_app
from gateway.routes import accounts as accounts_routes
from gateway.settings import GatewaySettings
from svc_accounts.service import service as accounts
from tests.broker import free_port
from tests.gateway_helpers import PASSWORD, USER
from tests.mqtt_helpers import running
from tests.test_accounts_service import BINANCE, PW, SECRETS


@contextlib.asynccontextmanager
async def gateway_with_accounts(settings):
    """The real app; the accounts router is included here when the app does not wire it yet."""
    import uvicorn

    gw = GatewaySettings(port=free_port(), username=USER, password=PASSWORD, tokens=[], _env_file=None)
    app = create_app(settings, gw)
    if not any(getattr(r, "path", None) == "/accounts/" for r in app.routes):
        app.include_router(accounts_routes.router)
    server = uvicorn.Server(uvicorn.Config(app, host=gw.host, port=gw.port, log_level="warning",
                                           access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)  # uvicorn exposes no start-up event; this polls its flag
            await app.state.mesh.link.wait_connected()
            await app.state.mesh.presence.wait_online("accounts")
        yield f"http://127.0.0.1:{gw.port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.timeout(240)
async def test_hummingbot_api_client_accounts_connectors_portfolio(settings, monkeypatch, fake_binance):
    monkeypatch.setenv("CONFIG_PASSWORD", PW)
    monkeypatch.setenv("HBMESH_ACCOUNTS_BALANCE_INTERVAL_S", "0")
    fake_binance.api_keys = {BINANCE["binance_api_key"]: BINANCE["binance_api_secret"]}
    fake_binance.prices = {"BTCUSDT": "40000"}
    async with running(accounts, settings), gateway_with_accounts(settings) as url:
        async with HummingbotAPIClient(url, USER, PASSWORD) as api:
            assert await api.accounts.list_accounts() == ["master_account"]
            assert await api.accounts.add_account("trader_1") == {"message": "Account added successfully."}
            with pytest.raises(aiohttp.ClientResponseError) as dup:
                await api.accounts.add_account("trader_1")
            assert dup.value.status == 409 and "already exists" in dup.value.message
            with pytest.raises(aiohttp.ClientResponseError) as bad:
                await api.accounts.add_account("../escape")
            assert bad.value.status == 422
            added = await api.accounts.add_credential("trader_1", "binance", BINANCE)
            assert added == {"message": "Connector credentials added successfully."}
            with pytest.raises(aiohttp.ClientResponseError) as missing:
                await api.accounts.add_credential("trader_1", "binance", {"binance_api_key": "only-the-key"})
            assert missing.value.status == 422 and "binance_api_secret" in missing.value.message
            assert await api.accounts.list_account_credentials("trader_1") == ["binance"]

            connectors = await api.connectors.list_connectors()
            assert "binance" in connectors and "kucoin" in connectors
            config_map = await api.connectors.get_config_map("kucoin")
            assert set(config_map) == {"kucoin_api_key", "kucoin_secret_key", "kucoin_passphrase"}
            assert all(f["secret"] and f["required"] for f in config_map.values())
            with pytest.raises(aiohttp.ClientResponseError) as unknown:
                await api.connectors.get_config_map("no_such_exchange")
            assert unknown.value.status == 404

            state = await api.portfolio.get_state(refresh=True)
            assert state == {"trader_1": {"binance": [
                {"token": "BTC", "units": 0.6, "price": 40000.0, "value": 24000.0, "available_units": 0.5},
                {"token": "USDT", "units": 1000.0, "price": 1.0, "value": 1000.0, "available_units": 1000.0}]}}
            assert await api.portfolio.get_total_value("trader_1") == 25000.0
            assert await api.portfolio.get_state(account_names=["someone_else"]) == {}
            await api.portfolio.get_state(refresh=True)
            history = await api.portfolio.get_history(limit=1)
            assert len(history["data"]) == 1 and history["pagination"]["has_more"] is True
            page2 = await api.portfolio.get_history(limit=1, cursor=history["pagination"]["next_cursor"])
            assert page2["data"][0]["timestamp"] < history["data"][0]["timestamp"]
            assert page2["pagination"]["has_more"] is False
            hourly = await api.portfolio.get_history(interval="1h")
            assert len(hourly["data"]) == 1
            assert hourly["data"][0]["state"]["trader_1"]["binance"][0]["value"] == 24000.0

            assert await api.accounts.delete_credential("trader_1", "binance") == \
                {"message": "Credential deleted successfully."}
            assert await api.accounts.delete_account("trader_1") == {"message": "Account deleted successfully."}
            assert await api.accounts.list_accounts() == ["master_account"]
            text = str(history) + str(state)
    assert all(s not in text for s in SECRETS)
