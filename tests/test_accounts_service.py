"""svc_accounts over a real broker: credentials a bot can decrypt, a real hummingbot binance connector reading
balances from the fake exchange (signed /api/v3/account), a failing second connector marked stale, snapshots
stored and published, a wrong CONFIG_PASSWORD detected at start. Secrets never leave in replies or events."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from svc_accounts.credentials import CredentialStore
from svc_accounts.service import service as accounts
from tests.mqtt_helpers import Collector, client, running
from tests.test_accounts_credentials import bot_login, tree

PW = "service-password-1"
KEY, SECRET = "api-key-0123456789abcdef", "api-secret-fedcba9876543210"
BINANCE = {"binance_api_key": KEY, "binance_api_secret": SECRET}
PERP = {"binance_perpetual_api_key": "perp-key-5555", "binance_perpetual_api_secret": "perp-secret-7777"}
SECRETS = [KEY, SECRET, *PERP.values()]


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("CONFIG_PASSWORD", PW)
    monkeypatch.setenv("HBMESH_ACCOUNTS_BALANCE_INTERVAL_S", "0")
    monkeypatch.setenv("HBMESH_ACCOUNTS_CONNECTOR_TIMEOUT_S", "20")
    return monkeypatch


@pytest.fixture
def exchange(fake_binance):
    fake_binance.api_keys = {KEY: SECRET}  # /api/v3/account checks the key and the HMAC signature
    fake_binance.prices = {"BTCUSDT": "50000", "ETHUSDT": "2500"}
    fake_binance.balances = [("BTC", "0.5", "0.1"), ("USDT", "1000", "0"), ("DOGE", "7", "0")]
    return fake_binance


class Calls:
    def __init__(self, rpc, settings):
        self.rpc, self.prefix = rpc, f"{settings.prefix}/v1/accounts/"

    async def __call__(self, command: str, data: dict | None = None, expect: int = 200):
        reply = await self.rpc.request(self.prefix + command, data or {}, 60)
        assert reply.status == expect, (command, reply.status, reply.msg)
        return reply.result if reply.status < 300 else reply.msg


def published(collector: Collector) -> list[bytes]:
    out = []
    while not collector.queue.empty():
        out.append(collector.queue.get_nowait().payload)
    return out


@pytest.mark.timeout(240)
async def test_accounts_credentials_and_balances(settings, env, exchange, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    root = f"{settings.prefix}/v1"
    async with running(accounts, settings), client(settings) as rpc, \
            Collector(settings, f"{root}/accounts/events/#", f"{root}/replies/#") as seen:
        call = Calls(rpc, settings)
        assert await call("accounts/list") == ["master_account"]
        assert await call("accounts/add", {"account_name": "alice"}) == {"message": "Account added successfully."}
        assert "already exists" in await call("accounts/add", {"account_name": "alice"}, 409)
        for bad in ("../etc", "a/b", ".."):
            await call("accounts/add", {"account_name": bad}, 422)
            await call("credentials/add", {"account_name": "alice", "connector_name": bad, "credentials": BINANCE},
                       422)
        await call("credentials/add", {"account_name": "alice", "connector_name": "binance",
                                       "credentials": {"binance_api_key": KEY}}, 422)
        # concurrent writes to one account: every one lands, each file stays whole
        await asyncio.gather(*(call("credentials/add", {"account_name": "alice", "connector_name": c,
                                                        "credentials": creds})
                               for c, creds in [("binance", BINANCE), ("binance_perpetual", PERP),
                                                ("binance", BINANCE)]))
        assert await call("credentials/list", {"account_name": "alice"}) == ["binance", "binance_perpetual"]
        await call("credentials/list", {"account_name": "nobody"}, 404)
        cm = await call("connectors/config-map", {"connector_name": "binance"})
        assert cm["binance_api_secret"]["secret"] is True and cm["binance_api_secret"]["required"] is True
        assert "binance" in await call("connectors/list")

        # svc_fleet's view: the profile, copied into an instance's conf/, is what a bot decrypts
        profile = await call("profile", {"account_name": "alice"})
        assert sorted(profile["files"]) == [".password_verification", "connectors/binance.yml",
                                            "connectors/binance_perpetual.yml"]
        conf = tmp_path / "bot" / "conf"
        for rel, text in profile["files"].items():
            (conf / rel).parent.mkdir(parents=True, exist_ok=True)
            (conf / rel).write_text(text)
        login = await asyncio.to_thread(bot_login, conf, PW)
        assert login["login"] and login["keys"] == {"binance": BINANCE, "binance_perpetual": PERP}

        # balances through hummingbot's binance connector; binance_perpetual fails (no /fapi/v2/account)
        state = await call("portfolio/state", {"refresh": True})
        assert state["alice"]["binance"] == [
            {"token": "BTC", "units": 0.6, "price": 50000.0, "value": 30000.0, "available_units": 0.5},
            {"token": "DOGE", "units": 7.0, "price": 0.0, "value": 0.0, "available_units": 7.0},  # no DOGE-USDT
            {"token": "USDT", "units": 1000.0, "price": 1.0, "value": 1000.0, "available_units": 1000.0}]
        assert state["alice"]["binance_perpetual"] == []
        assert exchange.count("/api/v3/account", ok_only=True) == 1
        status = {s["connector_name"]: s for s in await call("portfolio/status")}
        assert status["binance"]["stale"] is False and status["binance"]["error"] is None
        assert status["binance_perpetual"]["stale"] is True and "404" in status["binance_perpetual"]["error"]
        first = await seen.next(10, lambda m: m.topic.endswith("/events/portfolio/snapshot"))
        event = Collector.json(first)
        assert event["state"]["alice"]["binance"][0]["value"] == 30000.0
        assert {c["connector_name"]: c["stale"] for c in event["connectors"]} == \
            {"binance": False, "binance_perpetual": True}

        # the exchange starts failing: binance turns stale and keeps its last figures
        exchange.fail_paths, exchange.fail_every, exchange.fail_status = ("/api/v3/account",), 1, 500
        state = await call("portfolio/state", {"refresh": True, "account_names": ["alice"],
                                               "connector_names": ["binance"]})
        assert state == {"alice": {"binance": [r for r in state["alice"]["binance"]]}}
        assert state["alice"]["binance"][0]["value"] == 30000.0
        status = {s["connector_name"]: s for s in await call("portfolio/status")}
        assert status["binance"]["stale"] is True and "500" in status["binance"]["error"]
        assert status["binance"]["updated_ms"] == event["ts_ms"]

        history = await call("portfolio/history", {"limit": 1})
        assert history["pagination"]["has_more"] is True and len(history["data"]) == 1
        assert history["data"][0]["stale"] == {"alice": ["binance", "binance_perpetual"]}
        older = await call("portfolio/history", {"limit": 1, "cursor": history["pagination"]["next_cursor"]})
        assert older["data"][0]["timestamp"] == event["timestamp"] and older["pagination"]["has_more"] is False
        await call("portfolio/history", {"interval": "2m"}, 422)

        await call("credentials/delete", {"account_name": "alice", "connector_name": "binance_perpetual"})
        await call("credentials/delete", {"account_name": "alice", "connector_name": "binance_perpetual"}, 404)
        await call("accounts/delete", {"account_name": "master_account"}, 400)
        await call("accounts/delete", {"account_name": "alice"})
        assert await call("accounts/list") == ["master_account"]
        change = await seen.next(10, lambda m: m.topic.endswith("/events/accounts/alice")
                                 and b"account_deleted" in m.payload)
        assert Collector.json(change) == {"account_name": "alice", "action": "account_deleted",
                                          "connector_name": None}
        messages = published(seen)
    assert messages, "replies and events were collected"
    for secret in SECRETS:
        assert all(secret.encode() not in m for m in messages), "a secret left in a reply or event"
        assert secret not in caplog.text, "a secret was logged"


@pytest.mark.timeout(240)
async def test_balance_loop_stores_and_publishes_every_pass(settings, env, exchange):
    env.setenv("HBMESH_ACCOUNTS_BALANCE_INTERVAL_S", "0.2")
    creds = CredentialStore(settings.bots_dir / "credentials", PW)  # written before the service starts
    await asyncio.to_thread(creds.ensure_master)
    await asyncio.to_thread(creds.add_credential, "master_account", "binance", BINANCE)
    root = f"{settings.prefix}/v1"
    async with Collector(settings, f"{root}/accounts/events/portfolio/snapshot") as seen:
        async with running(accounts, settings), client(settings) as rpc:
            events = [Collector.json(await seen.next(60)) for _ in range(3)]
            call = Calls(rpc, settings)
            history = await call("portfolio/history", {"limit": 1000})
    assert len({e["ts_ms"] for e in events}) == 3
    assert all(e["state"]["master_account"]["binance"][0]["value"] == 30000.0 for e in events)
    stored = {item["timestamp"] for item in history["data"]}
    assert {e["timestamp"] for e in events} <= stored


@pytest.mark.timeout(120)
async def test_changed_password_is_detected_at_start_and_nothing_is_touched(settings, env, caplog):
    root = settings.bots_dir / "credentials"
    old = CredentialStore(root, "the old password")
    await asyncio.to_thread(old.ensure_master)
    await asyncio.to_thread(old.add_account, "alice")
    await asyncio.to_thread(old.add_credential, "alice", "binance", BINANCE)
    before = tree(root)
    with caplog.at_level(logging.ERROR, logger="hbmesh.accounts"):
        async with running(accounts, settings), client(settings) as rpc:
            call = Calls(rpc, settings)
            status = await call("status")
            msg = await call("credentials/add", {"account_name": "alice", "connector_name": "binance",
                                                 "credentials": BINANCE}, 409)
            await call("accounts/add", {"account_name": "bob"}, 409)
            await call("profile", {"account_name": "alice"}, 409)
            assert await call("credentials/list", {"account_name": "alice"}) == ["binance"]  # reads still work
    assert status["password_set"] is True and set(status["password_errors"]) == {"alice", "master_account"}
    assert "CONFIG_PASSWORD" in msg and "nothing was changed" in msg
    assert any("credentials unusable" in r.getMessage() for r in caplog.records)
    assert tree(root) == before
    assert not Path(root / "bob").exists()
