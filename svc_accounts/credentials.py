"""Accounts and connector credentials, stored exactly as Hummingbot stores them.

Layout under the credentials root (hummingbot-api's ``bots/credentials``)::

    <root>/<account>/.password_verification     hummingbot's encrypted PASSWORD_VERIFICATION_WORD
    <root>/<account>/connectors/<connector>.yml  hummingbot's connector config yml, secrets encrypted
    <root>/<account>/conf_client.yml ...         copied from master_account when present
    <root>/.locks/<account>.lock                 cross-process write lock (not part of the profile)

Encryption is hummingbot's own: ``ETHKeyFileSecretManger(CONFIG_PASSWORD)`` (eth keyfile v3, pbkdf2,
aes-128-ctr) through ``ClientConfigAdapter.generate_yml_output_str_with_comments`` and
``load_connector_config_map_from_file``, so a bot whose ``conf/`` is a copy of an account folder
logs in with the same password and decrypts every yml.

Safety:
* A wrong or changed password is detected before every write (the account's
  ``.password_verification`` must decrypt) and nothing is touched when it does not.
* Writes go to a temporary file and are renamed into place; writes to one account are serialised by a
  thread lock plus an ``flock`` (several service instances on one disk).
* Secret values never appear in exceptions raised from here (validation messages are redacted).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator

from shared.errors import BadRequest, Conflict, HbError, Invalid, NotFound, Unavailable

from .connectors import check_connector_name, config_keys

log = logging.getLogger("hbmesh.accounts.credentials")

MASTER_ACCOUNT = "master_account"
VERIFICATION_FILE = ".password_verification"
CONNECTORS_DIR = "connectors"
TEMPLATE_FILES = ("conf_client.yml", "conf_fee_overrides.yml", "hummingbot_logs.yml")
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

# hummingbot keeps its secrets manager in a class attribute (Security.secrets_manager) that its yml
# writer and reader use: every use of it in this process goes through this lock.
_HB_LOCK = threading.RLock()


class PasswordMismatch(Conflict):
    """CONFIG_PASSWORD does not decrypt what is stored (hummingbot-api issue #181)."""


def check_account_name(name: str) -> str:
    if not isinstance(name, str) or not ACCOUNT_RE.fullmatch(name):
        raise BadRequest(f"invalid account name {name!r}: use letters, digits, '_' or '-' (no '..' or '/')")
    return name


def _secrets_manager(password: str):
    from hummingbot.client.config.config_crypt import ETHKeyFileSecretManger

    return ETHKeyFileSecretManger(password)


@contextlib.contextmanager
def _hummingbot_security(password: str) -> Iterator[Any]:
    """Make hummingbot's global secrets manager ours for the duration (restored afterwards)."""
    from hummingbot.client.config.security import Security

    with _HB_LOCK:
        previous = Security.secrets_manager
        Security.secrets_manager = _secrets_manager(password)
        try:
            yield Security.secrets_manager
        finally:
            Security.secrets_manager = previous


def encrypted_verification_word(password: str) -> str:
    from hummingbot.client.config.config_crypt import PASSWORD_VERIFICATION_WORD

    return _secrets_manager(password).encrypt_secret_value(PASSWORD_VERIFICATION_WORD, PASSWORD_VERIFICATION_WORD)


def password_matches(password: str, encrypted_word: str) -> bool:
    """hummingbot's ``validate_password`` on a given file content (it reads a fixed global path)."""
    from hummingbot.client.config.config_crypt import PASSWORD_VERIFICATION_WORD

    try:
        word = _secrets_manager(password).decrypt_secret_value(PASSWORD_VERIFICATION_WORD, encrypted_word.strip())
    except ValueError:  # "MAC mismatch" (wrong password) or a corrupt file
        return False
    except Exception:  # noqa: BLE001 - not hex / not keyfile JSON: cannot be verified either
        return False
    return word == PASSWORD_VERIFICATION_WORD


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _redact(text: str, values: dict[str, Any]) -> str:
    for v in values.values():
        s = str(v)
        if len(s) >= 3:
            text = text.replace(s, "***")
    return text


class CredentialStore:
    """Accounts (folders) and their connector credentials under ``root``. Blocking: call it from a thread."""

    def __init__(self, root: Path, password: str | None):
        self.root = Path(root)
        self.password = password or None
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._verified: dict[str, str] = {}  # account -> verification content known to match the password

    # ------------------------------------------------------------------ paths and locks
    def account_dir(self, account: str) -> Path:
        path = (self.root / check_account_name(account)).resolve()
        if path.parent != self.root.resolve():  # belt and braces: the name check already refuses this
            raise BadRequest(f"invalid account name {account!r}")
        return path

    def _connector_file(self, account: str, connector: str) -> Path:
        return self.account_dir(account) / CONNECTORS_DIR / f"{check_connector_name(connector)}.yml"

    @contextlib.contextmanager
    def _account_lock(self, account: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(account, threading.Lock())
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with lock, open(lock_dir / f"{account}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _require_password(self) -> str:
        if not self.password:
            raise Unavailable("CONFIG_PASSWORD is not set: credentials cannot be encrypted or decrypted")
        return self.password

    # ------------------------------------------------------------------ password checks
    def verify_account(self, account: str) -> None:
        """Raise PasswordMismatch unless the account's .password_verification decrypts with our password.
        An account without the file gets one (nothing of it could be checked before)."""
        password = self._require_password()
        path = self.account_dir(account) / VERIFICATION_FILE
        if not path.exists():
            _atomic_write(path, encrypted_verification_word(password))
            self._verified[account] = path.read_text()
            return
        content = path.read_text()
        if self._verified.get(account) == content:
            return
        if not password_matches(password, content):
            raise PasswordMismatch(
                f"CONFIG_PASSWORD does not match the password account '{account}' was encrypted with "
                f"({path.name} does not decrypt); nothing was changed. Start with the original password, "
                f"or delete and re-create the account's credentials")
        self._verified[account] = content

    def check_all(self) -> dict[str, str]:
        """At start: every account whose stored verification does not decrypt -> reason."""
        problems: dict[str, str] = {}
        if not self.password:
            return {"*": "CONFIG_PASSWORD is not set"}
        for account in self.list_accounts():
            path = self.account_dir(account) / VERIFICATION_FILE
            if not path.exists():
                continue
            content = path.read_text()
            if password_matches(self.password, content):
                self._verified[account] = content
            else:
                problems[account] = "CONFIG_PASSWORD does not decrypt its .password_verification"
        return problems

    # ------------------------------------------------------------------ accounts
    def ensure_master(self) -> bool:
        """Create master_account (hummingbot-api's default) when missing. True when created."""
        if self.account_dir(MASTER_ACCOUNT).exists():
            return False
        if not self.password:
            return False
        try:
            self.add_account(MASTER_ACCOUNT)
        except Conflict:
            return False  # another instance sharing this folder created it first
        return True

    def list_accounts(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and ACCOUNT_RE.fullmatch(p.name))

    def add_account(self, account: str) -> None:
        password = self._require_password()
        path = self.account_dir(account)
        with self._account_lock(account):
            if path.exists():
                raise Conflict(f"account '{account}' already exists")
            master = self.account_dir(MASTER_ACCOUNT)
            if account != MASTER_ACCOUNT and (master / VERIFICATION_FILE).exists():
                self.verify_account(MASTER_ACCOUNT)  # the new account copies master's files
            staging = self.root / f".new-{account}-{uuid.uuid4().hex[:8]}"
            try:
                (staging / CONNECTORS_DIR).mkdir(parents=True)
                if account != MASTER_ACCOUNT:
                    for name in TEMPLATE_FILES:
                        if (master / name).is_file():
                            shutil.copy2(master / name, staging / name)
                if account != MASTER_ACCOUNT and (master / VERIFICATION_FILE).exists():
                    shutil.copy2(master / VERIFICATION_FILE, staging / VERIFICATION_FILE)
                else:
                    _atomic_write(staging / VERIFICATION_FILE, encrypted_verification_word(password))
                os.rename(staging, path)  # the account appears complete or not at all
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        self._verified.pop(account, None)
        log.info("account added", extra={"account": account})

    def delete_account(self, account: str) -> None:
        """Remove the account folder. No password check: deleting every file of an account is how one
        recovers from a lost password (issue #181), as nothing of it stays readable anyway."""
        if account == MASTER_ACCOUNT:
            raise BadRequest("cannot delete master_account")
        path = self.account_dir(account)
        with self._account_lock(account):
            if not path.is_dir():
                raise NotFound(f"account '{account}' not found")
            trash = self.root / f".deleted-{account}-{uuid.uuid4().hex[:8]}"
            os.rename(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
        self._verified.pop(account, None)
        log.info("account deleted", extra={"account": account})

    # ------------------------------------------------------------------ credentials
    def _existing_account(self, account: str) -> Path:
        path = self.account_dir(account)
        if not path.is_dir():
            raise NotFound(f"account '{account}' not found")
        return path

    def list_credentials(self, account: str) -> list[str]:
        folder = self._existing_account(account) / CONNECTORS_DIR
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.iterdir()
                      if p.is_file() and p.suffix == ".yml" and not p.name.startswith((".", "_")))

    def add_credential(self, account: str, connector: str, values: dict[str, Any]) -> list[str]:
        """Validate ``values`` with the connector's config map, encrypt the secret fields with hummingbot's
        code and write ``connectors/<connector>.yml``. Returns the stored field names."""
        password = self._require_password()
        check_connector_name(connector)
        if not isinstance(values, dict) or not values:
            raise Invalid("credentials must be a non-empty JSON object of the connector's fields")
        target = self._connector_file(account, connector)
        yml = self._render(connector, values, password)  # before the lock: validation and pbkdf2 are slow
        with self._account_lock(account):
            self._existing_account(account)
            self.verify_account(account)
            _atomic_write(target, yml)
        log.info("credentials stored", extra={"account": account, "connector": connector})
        return sorted(values)

    def _render(self, connector: str, values: dict[str, Any], password: str) -> str:
        from hummingbot.client.config.config_helpers import ClientConfigAdapter, ConfigValidationError

        keys = config_keys(connector)
        fields = {k: f for k, f in type(keys).model_fields.items() if k != "connector"}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise Invalid(f"{connector} has no credential field(s) {', '.join(unknown)}; "
                          f"expected {', '.join(fields)}")
        adapter = ClientConfigAdapter(keys)
        for name, value in values.items():
            if value is None or isinstance(value, (dict, list)):
                raise Invalid(f"{connector}.{name}: expected a string, number or boolean")
            try:
                setattr(adapter, name, value)
            except (ConfigValidationError, ValueError, TypeError) as exc:
                raise Invalid(f"{connector}.{name}: {_redact(str(exc), values)}") from None
        missing = [k for k, f in fields.items() if f.is_required() and k not in values
                   and getattr(keys, k, None) in (None, "")]
        if missing:
            raise Invalid(f"{connector} needs {', '.join(missing)}")
        try:
            with _hummingbot_security(password):
                return adapter.generate_yml_output_str_with_comments()
        except HbError:
            raise
        except Exception as exc:  # noqa: BLE001 - hummingbot's message could carry a value: keep only its type
            raise HbError(f"could not encrypt {connector} credentials: {type(exc).__name__}", 500) from None

    def delete_credential(self, account: str, connector: str) -> None:
        target = self._connector_file(account, connector)
        with self._account_lock(account):
            self._existing_account(account)
            if not target.is_file():
                raise NotFound(f"account '{account}' has no credentials for {connector}")
            self.verify_account(account)
            target.unlink()
        log.info("credentials deleted", extra={"account": account, "connector": connector})

    # ------------------------------------------------------------------ reading (bots, balances)
    def api_keys(self, account: str, connector: str) -> dict[str, str]:
        """Decrypt one connector's yml with hummingbot's loader, as a bot does. Never reply with this."""
        from hummingbot.client.config.config_helpers import (api_keys_from_connector_config_map,
                                                             load_connector_config_map_from_file)

        password = self._require_password()
        path = self._connector_file(account, connector)
        if not path.is_file():
            raise NotFound(f"account '{account}' has no credentials for {connector}")
        self.verify_account(account)
        try:
            with _hummingbot_security(password):
                cm = load_connector_config_map_from_file(path)
                return api_keys_from_connector_config_map(cm)
        except HbError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise Invalid(f"{account}/{connector}.yml cannot be read: {type(exc).__name__}") from None

    def profile(self, account: str) -> dict[str, str]:
        """Every file of the account folder (relative path -> text): what a bot's ``conf/`` is made of.
        Secret fields are the encrypted values; the verification file lets the bot check its password."""
        path = self._existing_account(account)
        files: dict[str, str] = {}
        with self._account_lock(account):
            for file in sorted(path.rglob("*")):
                if file.is_file() and not file.name.endswith(".tmp"):
                    files[file.relative_to(path).as_posix()] = file.read_text(encoding="utf-8")
        return files
