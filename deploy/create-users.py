#!/usr/bin/env python3
"""Create hbmesh's broker users and secrets: random passwords into `.env`, hashed credentials for the brokers.

    python3 deploy/create-users.py                 # roles only (services, gateway, operator)
    python3 deploy/create-users.py --bot my-bot-1  # also a bot user (username = the bot's instance_id)

Idempotent: values already in `.env` (or bot passwords already in deploy/generated/bots.env) are kept, so
re-running never rotates a password; delete a line to rotate it. Writes (stdlib only, no broker tools needed):

  .env                                  passwords (mode 600): HBMESH_BROKER_PASSWORD_<ROLE>, gateway login,
                                        CONFIG_PASSWORD, Postgres, EMQX dashboard and Erlang cookie
  deploy/generated/mosquitto.passwd     mosquitto 2 password file (PBKDF2-SHA512, `$7$` format)
  deploy/generated/emqx-users.csv       EMQX 5 built-in database bootstrap (PBKDF2-SHA256 hashes, no plaintext)
  deploy/generated/bots.env             bot users: <instance_id>=<password> (mode 600)

The usernames are fixed (`hbmesh-<role>`) because deploy/mosquitto/acl and deploy/emqx/acl.conf name them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import re
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# role -> broker username. Services and the gateway get read/write on what they must; the operator reads.
ROLES = {
    "backtest": "hbmesh-backtest",
    "marketdata": "hbmesh-marketdata",
    "fleet": "hbmesh-fleet",
    "accounts": "hbmesh-accounts",
    "archive": "hbmesh-archive",
    "gateway": "hbmesh-gateway",
    "operator": "hbmesh-operator",
}
RESERVED_PREFIX = "hbmesh-"  # bot ids may not start with it: the ACLs' bot pattern must never name a role
BOT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # no dots (commlib bots turn them into '/'), no wildcards

# Other secrets compose needs; generated once like the broker passwords.
EXTRA_SECRETS = {
    "HBMESH_GATEWAY_PASSWORD": "gateway Basic-auth password (hummingbot-api's PASSWORD)",
    "CONFIG_PASSWORD": "hummingbot keystore password (accounts, bots)",
    "HBMESH_POSTGRES_PASSWORD": "PostgreSQL password of user hbmesh",
    "EMQX_DASHBOARD_PASSWORD": "EMQX dashboard password of user admin",
    "EMQX_NODE_COOKIE": "Erlang cookie shared by the EMQX nodes of one cluster",
}
EXTRA_PLAIN = {"HBMESH_GATEWAY_USERNAME": "hbmesh"}

MOSQ_ITERATIONS = 101  # mosquitto_passwd's default for $7$ (PBKDF2-SHA512)
EMQX_ITERATIONS = 4096  # must match deploy/emqx/emqx.conf password_hash_algorithm


def password_key(role: str) -> str:
    return f"HBMESH_BROKER_PASSWORD_{role.upper()}"


def new_password() -> str:
    return secrets.token_urlsafe(24)  # [A-Za-z0-9_-]: safe in .env, YAML, shells and compose interpolation


# ------------------------------------------------------------------------------ .env handling
def read_env(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            out[key.strip()] = value
    return out


def append_env(path: Path, entries: list[tuple[str, str, str]]) -> None:
    """Append missing keys; never rewrites what is there (the user's own lines stay as they are)."""
    if not entries:
        return
    existing = path.read_text() if path.exists() else ""
    lines = [] if not existing or existing.endswith("\n") else [""]
    lines.append("# --- added by deploy/create-users.py")
    for key, value, comment in entries:
        if comment:
            lines.append(f"# {comment}")
        lines.append(f"{key}={value}")
    write_private(path, existing + "\n".join(lines) + "\n")


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ hashes
def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = MOSQ_ITERATIONS) -> str:
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def mosquitto_verify(password: str, encoded: str) -> bool:
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations, salt = int(parts[2]), base64.b64decode(parts[3])
    except ValueError:
        return False
    return hmac.compare_digest(mosquitto_hash(password, salt, iterations), encoded)


def emqx_hash(password: str, salt: str | None = None) -> tuple[str, str]:
    """EMQX's pbkdf2: lowercase hex of PBKDF2(mac_fun, password, salt bytes, iterations), dk_length = digest."""
    salt = salt if salt is not None else secrets.token_hex(16)
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), EMQX_ITERATIONS).hex(), salt


# ------------------------------------------------------------------------------ generated files
def write_mosquitto_passwd(path: Path, users: dict[str, str]) -> bool:
    """Keep each existing line whose hash still verifies, so an unchanged user set leaves the file unchanged."""
    old = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if ":" in line:
                name, _, encoded = line.partition(":")
                old[name] = encoded
    lines = []
    for name, password in sorted(users.items()):
        encoded = old.get(name)
        if encoded is None or not mosquitto_verify(password, encoded):
            encoded = mosquitto_hash(password)
        lines.append(f"{name}:{encoded}")
    return write_if_changed(path, "\n".join(lines) + "\n", 0o644)  # hashes only; the broker user must read it


def write_emqx_users(path: Path, users: dict[str, str]) -> bool:
    old = {}
    if path.exists():
        for line in path.read_text().splitlines()[1:]:
            cols = line.split(",")
            if len(cols) == 4:
                old[cols[0]] = (cols[1], cols[2])
    lines = ["user_id,password_hash,salt,is_superuser"]
    for name, password in sorted(users.items()):
        prev = old.get(name)
        if prev and hmac.compare_digest(emqx_hash(password, prev[1])[0], prev[0]):
            digest, salt = prev
        else:
            digest, salt = emqx_hash(password)
        lines.append(f"{name},{digest},{salt},false")
    return write_if_changed(path, "\n".join(lines) + "\n", 0o644)


def write_if_changed(path: Path, text: str, mode: int) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    write_private(path, text, mode)
    return True


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env-file", type=Path, default=ROOT / ".env")
    p.add_argument("--out-dir", type=Path, default=ROOT / "deploy" / "generated")
    p.add_argument("--bot", action="append", default=[], metavar="INSTANCE_ID",
                   help="add a bot user (username = the bot's instance_id); repeatable")
    args = p.parse_args(argv)

    for bot in args.bot:
        if not BOT_ID.match(bot) or bot.startswith(RESERVED_PREFIX):
            p.error(f"bad bot id {bot!r}: use [A-Za-z0-9_-], at most 64 characters, not starting with "
                    f"'{RESERVED_PREFIX}'")

    env = read_env(args.env_file)
    added: list[tuple[str, str, str]] = []
    for role, user in ROLES.items():
        if not env.get(password_key(role)):
            added.append((password_key(role), new_password(), f"broker password of user {user}"))
    for key, value in EXTRA_PLAIN.items():
        if not env.get(key):
            added.append((key, value, ""))
    for key, comment in EXTRA_SECRETS.items():
        if not env.get(key):
            added.append((key, new_password(), comment))
    append_env(args.env_file, added)
    env = read_env(args.env_file)

    bots_file = args.out_dir / "bots.env"
    bots = read_env(bots_file)
    new_bots = [b for b in args.bot if not bots.get(b)]
    for bot in new_bots:
        bots[bot] = new_password()
    if new_bots:
        write_private(bots_file, "".join(f"{k}={v}\n" for k, v in sorted(bots.items())))

    users = {user: env[password_key(role)] for role, user in ROLES.items()}
    users.update(bots)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    gitignore = args.out_dir / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# generated credentials: never commit\n*\n")
    changed_m = write_mosquitto_passwd(args.out_dir / "mosquitto.passwd", users)
    changed_e = write_emqx_users(args.out_dir / "emqx-users.csv", users)

    print(f"{args.env_file}: {len(added)} value(s) added, existing kept")
    print(f"{args.out_dir}: {len(users)} broker users ({len(bots)} bots); "
          f"mosquitto.passwd {'written' if changed_m else 'unchanged'}, "
          f"emqx-users.csv {'written' if changed_e else 'unchanged'}")
    for bot in new_bots:
        print(f"bot user {bot}: password in {bots_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
