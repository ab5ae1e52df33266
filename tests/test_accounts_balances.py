"""The balance pass with real parts: hummingbot's binance connector, keys decrypted from the stored yml, the
fake exchange checking the API key and HMAC signature; bad keys make only that connector stale."""

from __future__ import annotations

import pytest

from svc_accounts.balances import BalanceMonitor
from svc_accounts.credentials import CredentialStore
from svc_accounts.history import SnapshotStore

GOOD = {"binance_api_key": "good-key-123", "binance_api_secret": "good-secret-456"}


@pytest.fixture
def parts(tmp_path, fake_binance):
    fake_binance.api_keys = {GOOD["binance_api_key"]: GOOD["binance_api_secret"]}
    fake_binance.prices = {"BTCUSDT": "20000"}
    creds = CredentialStore(tmp_path / "credentials", "pw")
    creds.ensure_master()
    for account in ("good", "wrong_secret", "unknown_key"):
        creds.add_account(account)
    creds.add_credential("good", "binance", GOOD)
    creds.add_credential("wrong_secret", "binance", {**GOOD, "binance_api_secret": "not-the-secret"})
    creds.add_credential("unknown_key", "binance", {**GOOD, "binance_api_key": "who-is-this"})
    store = SnapshotStore(f"sqlite:///{tmp_path / 'a.sqlite'}")
    yield creds, store, fake_binance
    store.close()


@pytest.mark.timeout(120)
async def test_bad_keys_make_only_their_connector_stale(parts):
    creds, store, exchange = parts
    seen = []

    async def on_snapshot(snap):
        seen.append(snap)

    monitor = BalanceMonitor(creds, store, connector_timeout_s=20, on_snapshot=on_snapshot)
    snap = await monitor.refresh()
    by_account = {s.account: s for s in snap.states}
    assert set(by_account) == {"good", "wrong_secret", "unknown_key"}  # master_account holds no credentials
    assert by_account["good"].stale is False
    assert by_account["good"].tokens[0] == {"token": "BTC", "units": 0.6, "price": 20000.0, "value": 12000.0,
                                            "available_units": 0.5}
    assert by_account["wrong_secret"].stale and "400" in by_account["wrong_secret"].error
    assert by_account["unknown_key"].stale and "401" in by_account["unknown_key"].error
    statuses = sorted(r.status for r in exchange.log("/api/v3/account"))
    assert statuses == [200, 400, 401]
    assert seen == [snap] and store.latest().id == snap.id
    # a second pass reuses the built connectors (no new exchangeInfo) and rebuilds after a key change
    info_calls = exchange.count("/api/v3/exchangeInfo")
    await monitor.refresh()
    assert exchange.count("/api/v3/exchangeInfo") == info_calls
    creds.add_credential("wrong_secret", "binance", GOOD)
    third = await monitor.refresh()
    assert {s.account: s.stale for s in third.states} == {"good": False, "wrong_secret": False, "unknown_key": True}
    assert monitor.state(accounts=["wrong_secret"])["wrong_secret"]["binance"][0]["value"] == 12000.0
    await monitor.close()
