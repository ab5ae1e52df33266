"""svc_accounts credentials: hummingbot's own encryption, checked by decrypting the written folder the way a
bot does (hummingbot's Security.login in a separate process), wrong passwords, names, concurrent writes."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.errors import BadRequest, Conflict, Invalid, NotFound, Unavailable
from svc_accounts.connectors import credential_fields, list_connectors
from svc_accounts.credentials import CredentialStore, PasswordMismatch

PW = "correct horse battery"
BINANCE = {"binance_api_key": "key-AKIA-1234567890", "binance_api_secret": "sec-ZXCV-0987654321"}

# A bot: its conf/ is a copy of the account folder; hummingbot logs in with CONFIG_PASSWORD and decrypts
# every conf/connectors/*.yml (the paths are hummingbot's module constants, pointed at that conf/).
BOT_LOGIN = r"""
import json, sys
from pathlib import Path
conf = Path(sys.argv[1])
import hummingbot.client.config.config_crypt as crypt
import hummingbot.client.config.config_helpers as helpers
import hummingbot.client.config.security as security
crypt.PASSWORD_VERIFICATION_PATH = security.PASSWORD_VERIFICATION_PATH = conf / ".password_verification"
helpers.CONNECTORS_CONF_DIR_PATH = conf / "connectors"
from hummingbot.client.config.config_crypt import ETHKeyFileSecretManger
from hummingbot.client.config.security import Security
ok = Security.login(ETHKeyFileSecretManger(sys.argv[2]))
keys = {name: Security.api_keys(name) for name in Security.all_decrypted_values()} if ok else {}
print(json.dumps({"login": ok, "new_password_required": Security.new_password_required(), "keys": keys}))
"""


def bot_login(conf: Path, password: str) -> dict:
    out = subprocess.run([sys.executable, "-c", BOT_LOGIN, str(conf), password], capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and ".locks" not in p.parts}


@pytest.fixture
def store(tmp_path) -> CredentialStore:
    s = CredentialStore(tmp_path / "credentials", PW)
    assert s.ensure_master() is True
    return s


def test_written_folder_decrypts_like_a_bot(store, tmp_path):
    store.add_account("alice")
    assert store.add_credential("alice", "binance", BINANCE) == sorted(BINANCE)
    yml = (store.root / "alice" / "connectors" / "binance.yml").read_text()
    assert "connector: binance" in yml
    for secret in BINANCE.values():
        assert secret not in yml  # encrypted at rest
    # svc_fleet copies the profile into the instance's conf/; the bot decrypts it with the password
    conf = tmp_path / "instance" / "conf"
    for rel, text in store.profile("alice").items():
        (conf / rel).parent.mkdir(parents=True, exist_ok=True)
        (conf / rel).write_text(text)
    assert bot_login(conf, PW) == {"login": True, "new_password_required": False, "keys": {"binance": BINANCE}}
    assert bot_login(conf, "not the password")["login"] is False


def test_wrong_password_is_refused_and_no_file_is_touched(store):
    store.add_account("alice")
    store.add_credential("alice", "binance", BINANCE)
    before = tree(store.root)
    other = CredentialStore(store.root, "a changed password")
    assert set(other.check_all()) == {"alice", "master_account"}
    with pytest.raises(PasswordMismatch) as err:
        other.add_credential("alice", "binance", {"binance_api_key": "x1234", "binance_api_secret": "y1234"})
    assert err.value.status == 409 and "CONFIG_PASSWORD" in err.value.msg
    with pytest.raises(PasswordMismatch):
        other.add_credential("alice", "kucoin", {"kucoin_api_key": "a", "kucoin_secret_key": "b",
                                                 "kucoin_passphrase": "c"})
    with pytest.raises(PasswordMismatch):
        other.delete_credential("alice", "binance")
    with pytest.raises(PasswordMismatch):
        other.add_account("bob")  # it would copy master_account's verification file
    with pytest.raises(PasswordMismatch):
        other.api_keys("alice", "binance")
    assert tree(store.root) == before
    assert not (store.root / "bob").exists()
    assert store.api_keys("alice", "binance") == BINANCE  # the right password still reads it


def test_no_password_means_no_writes(tmp_path):
    s = CredentialStore(tmp_path / "c", None)
    assert s.ensure_master() is False and s.list_accounts() == []
    with pytest.raises(Unavailable, match="CONFIG_PASSWORD"):
        s.add_account("alice")


@pytest.mark.parametrize("name", ["..", "../etc", "a/b", "/abs", "a..b/..", "", "x" * 129, "a b", "a\x00"])
def test_names_that_could_be_paths_are_refused(store, name):
    with pytest.raises(BadRequest):
        store.add_account(name)
    with pytest.raises(BadRequest):
        store.list_credentials(name)
    with pytest.raises(BadRequest):
        store.add_credential("master_account", name, BINANCE)
    with pytest.raises(BadRequest):
        store.delete_credential("master_account", name)
    assert store.list_accounts() == ["master_account"]
    assert sorted(p.name for p in store.root.iterdir()) == [".locks", "master_account"]


def test_bad_credentials_are_clear_and_never_echo_values(store):
    store.add_account("alice")
    with pytest.raises(Invalid, match="needs binance_api_secret"):
        store.add_credential("alice", "binance", {"binance_api_key": BINANCE["binance_api_key"]})
    with pytest.raises(Invalid, match="no credential field") as err:
        store.add_credential("alice", "binance", {**BINANCE, "binance_passphrase": "hunter2-secret"})
    assert "hunter2-secret" not in err.value.msg and BINANCE["binance_api_secret"] not in err.value.msg
    with pytest.raises(NotFound):
        store.add_credential("alice", "not_an_exchange", BINANCE)
    with pytest.raises(NotFound):
        store.add_credential("nobody", "binance", BINANCE)
    with pytest.raises(Invalid):
        store.add_credential("alice", "binance", {})
    assert store.list_credentials("alice") == []


def test_accounts_lifecycle(store):
    store.add_account("alice")
    with pytest.raises(Conflict):
        store.add_account("alice")
    assert store.list_accounts() == ["alice", "master_account"]
    assert sorted(store.profile("alice")) == [".password_verification"]
    store.add_credential("alice", "binance", BINANCE)
    assert store.list_credentials("alice") == ["binance"]
    store.delete_credential("alice", "binance")
    with pytest.raises(NotFound):
        store.delete_credential("alice", "binance")
    with pytest.raises(BadRequest):
        store.delete_account("master_account")
    store.delete_account("alice")
    with pytest.raises(NotFound):
        store.delete_account("alice")
    assert store.list_accounts() == ["master_account"]


def test_concurrent_writes_to_one_account(store, tmp_path):
    store.add_account("alice")
    writes = {"binance": BINANCE, "binance_perpetual": {"binance_perpetual_api_key": "pk-1",
                                                          "binance_perpetual_api_secret": "ps-1"},
              "kucoin": {"kucoin_api_key": "kk", "kucoin_secret_key": "ks", "kucoin_passphrase": "kp"}}
    # the same connector written by several writers at once, plus other connectors, from real threads
    jobs = [("binance", {**BINANCE, "binance_api_key": f"key-{i}"}) for i in range(4)] + list(writes.items())
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(lambda job: store.add_credential("alice", job[0], job[1]), jobs))
    assert store.list_credentials("alice") == sorted(writes)
    assert store.api_keys("alice", "binance")["binance_api_key"] in {f"key-{i}" for i in range(4)} | \
        {BINANCE["binance_api_key"]}
    assert store.api_keys("alice", "kucoin") == writes["kucoin"]
    leftovers = [p.name for p in (store.root / "alice").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    result = bot_login(store.root / "alice", PW)
    assert result["login"] and set(result["keys"]) == set(writes)


def test_config_map_says_which_fields_are_secret():
    assert {"binance", "binance_perpetual", "kucoin"} <= set(list_connectors())
    fields = credential_fields("binance")
    assert fields == {
        "binance_api_key": {"type": "SecretStr", "required": True, "secret": True, "connect_key": True},
        "binance_api_secret": {"type": "SecretStr", "required": True, "secret": True, "connect_key": True}}
    with pytest.raises(NotFound):
        credential_fields("nope")
    with pytest.raises(BadRequest):
        credential_fields("../x")
