"""deploy/: compose files validate, create-users.py is idempotent, and the mosquitto ACL holds against a REAL
mosquitto started with deploy/mosquitto/mosquitto-secure.conf and the generated password file.

Absence of a refused message is proven without sleeps: mosquitto drops an unauthorized publish silently, so
after it the same connection publishes an allowed marker (or, for a role with no allowed topic, the
privileged subscriber publishes one after the refused publish was acknowledged); messages reach a
subscriber in order, so a refused message that got through would arrive before the marker.
"""

from __future__ import annotations

import getpass
import importlib.util
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from shared.broker import listening
from shared.service import Service
from shared.settings import Settings
from tests.broker import free_port
from tests.mqtt_helpers import client, running

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
SERVICES = ("backtest", "marketdata", "fleet", "accounts", "archive")
ADMIN = "test-admin"  # test-only superuser appended to a copy of the ACL: the privileged subscriber


def load_create_users():
    spec = importlib.util.spec_from_file_location("create_users", DEPLOY / "create-users.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


create_users = load_create_users()


def read_env(path: Path) -> dict[str, str]:
    return create_users.read_env(path)


# ============================================================================ create-users.py
def test_create_users_is_idempotent_and_writes_hashes_only(tmp_path):
    env, out = tmp_path / ".env", tmp_path / "gen"
    env.write_text("USERNAME=keep-me\nHBMESH_BROKER_PASSWORD_GATEWAY=preset-gateway-pw\n")
    run = [sys.executable, str(DEPLOY / "create-users.py"), "--env-file", str(env), "--out-dir", str(out)]
    subprocess.run([*run, "--bot", "bot-1"], check=True, capture_output=True)
    first = {p.name: p.read_text() for p in out.iterdir()}
    values = read_env(env)
    subprocess.run([*run, "--bot", "bot-1"], check=True, capture_output=True)
    assert {p.name: p.read_text() for p in out.iterdir()} == first  # nothing rotated or rewritten
    assert read_env(env) == values
    assert values["USERNAME"] == "keep-me" and values["HBMESH_BROKER_PASSWORD_GATEWAY"] == "preset-gateway-pw"
    for role in (*SERVICES, "gateway", "operator"):
        assert len(values[f"HBMESH_BROKER_PASSWORD_{role.upper()}"]) >= 16
    for key in ("CONFIG_PASSWORD", "HBMESH_GATEWAY_PASSWORD", "HBMESH_POSTGRES_PASSWORD", "EMQX_NODE_COOKIE",
                "EMQX_DASHBOARD_PASSWORD"):
        assert len(values[key]) >= 16
    assert len(set(values[f"HBMESH_BROKER_PASSWORD_{r.upper()}"] for r in SERVICES)) == len(SERVICES)
    assert oct(env.stat().st_mode & 0o777) == "0o600"
    assert oct((out / "bots.env").stat().st_mode & 0o777) == "0o600"
    # generated broker files carry hashes, never a password
    secrets_ = list(values.values()) + list(read_env(out / "bots.env").values())
    for name in ("mosquitto.passwd", "emqx-users.csv"):
        text = (out / name).read_text()
        assert not any(s in text for s in secrets_ if len(s) >= 16), name
    users = {line.split(":")[0] for line in (out / "mosquitto.passwd").read_text().splitlines()}
    assert users == {f"hbmesh-{r}" for r in (*SERVICES, "gateway", "operator")} | {"bot-1"}
    csv = (out / "emqx-users.csv").read_text().splitlines()
    assert csv[0] == "user_id,password_hash,salt,is_superuser" and len(csv) == 1 + len(users)
    # the EMQX hash is PBKDF2-SHA256 over the salt's bytes, lowercase hex (what EMQX's pbkdf2 check computes)
    gw = next(line.split(",") for line in csv if line.startswith("hbmesh-gateway,"))
    assert create_users.emqx_hash("preset-gateway-pw", gw[2])[0] == gw[1] and gw[3] == "false"


@pytest.mark.parametrize("bad", ["hbmesh-gateway", "a.b", "a/b", "a+b", "#", ""])
def test_create_users_rejects_bot_ids_the_acl_cannot_hold(tmp_path, bad):
    proc = subprocess.run([sys.executable, str(DEPLOY / "create-users.py"), "--env-file", str(tmp_path / ".env"),
                           "--out-dir", str(tmp_path / "gen"), "--bot", bad], capture_output=True, text=True)
    assert proc.returncode == 2 and "bad bot id" in proc.stderr


# ============================================================================ docker compose
def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy and subprocess.run([legacy, "version"], capture_output=True).returncode == 0:
        return [legacy]
    return None


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("compose")
    subprocess.run([sys.executable, str(DEPLOY / "create-users.py"), "--env-file", str(d / ".env"),
                    "--out-dir", str(d / "gen")], check=True, capture_output=True)
    return d / ".env"


@pytest.mark.parametrize("overrides", [[], ["deploy/compose.mosquitto.yml"], ["deploy/compose.fleet-docker.yml"]])
def test_compose_config_validates(compose_env, overrides):
    cmd = compose_command()
    if cmd is None:
        pytest.skip("no docker compose plugin nor docker-compose: install docker-compose-plugin or docker-compose "
                    "(test_compose_structure still checks the file)")
    files = [a for f in ["docker-compose.yml", *overrides] for a in ("-f", f)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HBMESH_", "EMQX_"))}
    proc = subprocess.run([*cmd, "--env-file", str(compose_env), *files, "config"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert {"broker", "postgres", "gateway", *(f"svc_{s}" for s in SERVICES)} <= set(config["services"])


def test_compose_config_refuses_to_run_without_secrets(tmp_path):
    cmd = compose_command()
    if cmd is None:
        pytest.skip("no docker compose")
    (tmp_path / "empty.env").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HBMESH_", "EMQX_", "CONFIG_PASSWORD"))}
    proc = subprocess.run([*cmd, "--env-file", str(tmp_path / "empty.env"), "-f", "docker-compose.yml", "config"], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "create-users.py" in proc.stderr


def test_compose_structure():
    """Our own schema-level checks (they also run where no compose CLI exists)."""
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert set(services) == {"broker", "postgres", "gateway", *(f"svc_{s}" for s in SERVICES)}
    assert services["broker"]["image"].startswith("${EMQX_IMAGE:-emqx:5")
    assert services["postgres"]["image"].endswith("postgres:16}")
    for name, svc in services.items():
        assert "healthcheck" in svc and svc["healthcheck"]["test"], name
        assert "container_name" not in svc, name
        for key, value in (svc.get("environment") or {}).items():  # secrets only by reference, never inline
            if re.search(r"(?i)password|secret|cookie|token", key) and value is not None:
                assert re.search(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}", str(value)), (name, key)
    images = set()
    for s in SERVICES:
        svc = services[f"svc_{s}"]
        images.add(svc["image"])
        assert svc["command"] == ["svc", s]
        assert "ports" not in svc  # scalable: no fixed host port
        assert svc["depends_on"]["broker"]["condition"] == "service_healthy"
        assert f"hbmesh call {s}/ping" in svc["healthcheck"]["test"][1]
        env = svc["environment"]
        assert env["HBMESH_BROKER_USERNAME"] == f"hbmesh-{s}"
        assert env["HBMESH_BROKER_PASSWORD"].startswith(f"${{HBMESH_BROKER_PASSWORD_{s.upper()}:?")
        assert env["HBMESH_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["HBMESH_DATA_DIR"] == "/data" and "hbmesh-data:/data" in svc["volumes"]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
    gateway = services["gateway"]
    images.add(gateway["image"])
    assert len(images) == 1  # one image for all
    assert gateway["command"] == ["gateway"] and gateway["environment"]["HBMESH_GATEWAY_HOST"] == "0.0.0.0"
    assert any(p.endswith(":8000") for p in gateway["ports"])
    assert "urlopen('http://127.0.0.1:8000/'" in gateway["healthcheck"]["test"][-1]


def test_dockerfile_is_multi_stage_non_root_and_secret_free():
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert "requirements.lock" in text and "gcc g++" in text
    runtime = text.split("AS runtime", 1)[1]
    assert "gcc" not in runtime and re.search(r"^USER hbmesh", runtime, re.M)
    assert not re.search(r"(?i)^(ENV|ARG).*(PASSWORD|SECRET|TOKEN|COOKIE)", text, re.M)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[1 if ignore[0].startswith("#") else 0] == "*" and "!.env" not in ignore


# ============================================================================ the image (only where it can be built)
def test_image_builds():
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True).returncode != 0:
        pytest.skip("no Docker engine: build manually (deploy/README.md, 'Building the image')")
    base = "python:3.12-slim-bookworm"
    if subprocess.run([docker, "image", "inspect", base], capture_output=True).returncode != 0:
        pytest.skip(f"base image {base} is not available locally and registries are not reachable here: "
                    "build manually (deploy/README.md, 'Building the image')")
    tag = f"hbmesh-test:{uuid.uuid4().hex[:8]}"
    try:
        proc = subprocess.run([docker, "build", "-f", "deploy/Dockerfile", "-t", tag, "."], cwd=ROOT,
                              capture_output=True, text=True, timeout=3600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        user = subprocess.run([docker, "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True, text=True)
        assert user.stdout.strip() == "10001"
        helped = subprocess.run([docker, "run", "--rm", tag, "--help"], capture_output=True, text=True)
        assert helped.returncode == 0 and "svc" in helped.stdout
    finally:
        subprocess.run([docker, "image", "rm", "-f", tag], capture_output=True)


# ============================================================================ mosquitto ACL against a real broker
class SecureBroker:
    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.env_file = root / ".env"
        self.gen = root / "gen"
        subprocess.run([sys.executable, str(DEPLOY / "create-users.py"), "--env-file", str(self.env_file),
                        "--out-dir", str(self.gen), "--bot", "bot-a", "--bot", "bot-b"], check=True,
                       capture_output=True)
        self.env = read_env(self.env_file)
        self.bots = read_env(self.gen / "bots.env")
        self.admin_password = uuid.uuid4().hex
        passwd = root / "passwd"
        passwd.write_text((self.gen / "mosquitto.passwd").read_text()
                          + f"{ADMIN}:{create_users.mosquitto_hash(self.admin_password)}\n")
        acl = root / "acl"  # the deployed ACL verbatim, plus a test-only superuser block at the end
        acl.write_text((DEPLOY / "mosquitto" / "acl").read_text() + f"\nuser {ADMIN}\ntopic readwrite #\n")
        conf = (DEPLOY / "mosquitto" / "mosquitto-secure.conf").read_text()
        conf, n = re.subn(r"^listener 1883 0\.0\.0\.0$", f"listener {self.port} 127.0.0.1", conf, flags=re.M)
        assert n == 1
        for key, value in (("password_file", passwd), ("acl_file", acl), ("persistence_location", f"{root}/data/")):
            conf, n = re.subn(rf"^{key} .*$", f"{key} {value}", conf, flags=re.M)
            assert n == 1, key
        # started as root, mosquitto would switch to user "mosquitto", which cannot read pytest's private tmp dir
        conf += f"\nuser {getpass.getuser()}\n"
        conf, n = re.subn(r"^log_dest stdout$", f"log_dest file {root}/mosquitto.log", conf, flags=re.M)
        assert n == 1
        (root / "data").mkdir()
        (root / "mosquitto.conf").write_text(conf)
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(root / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not listening("127.0.0.1", self.port, 0.2):  # process start-up, not test synchronisation
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"secure mosquitto did not start: {self.log()}")
            time.sleep(0.02)

    def log(self) -> str:
        path = self.root / "mosquitto.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def password(self, user: str) -> str:
        if user == ADMIN:
            return self.admin_password
        if user.startswith("hbmesh-"):
            return self.env[f"HBMESH_BROKER_PASSWORD_{user.removeprefix('hbmesh-').upper()}"]
        return self.bots[user]

    def settings(self, role: str, **kw) -> Settings:
        return Settings(broker_url=f"mqtt://127.0.0.1:{self.port}", broker_username=f"hbmesh-{role}",
                        broker_password=self.password(f"hbmesh-{role}"), prefix="hbmesh",
                        instance_id=f"{role}-{uuid.uuid4().hex[:6]}", data_dir=self.root / "svcdata",
                        _env_file=None, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Peer:
    """A paho client (MQTT 3.1.1 like the bots) that records what it receives, in order."""

    def __init__(self, port: int, user: str | None, password: str | None, client_id: str = ""):
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.rc = None
        self._connected = threading.Event()
        self._subacks: queue.Queue = queue.Queue()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                             protocol=mqtt.MQTTv311)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda _c, _u, m: self.inbox.put((m.topic, bytes(m.payload)))
        self.c.on_subscribe = lambda _c, _u, _mid, codes, _p: self._subacks.put(codes)
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        assert self._connected.wait(10), "no CONNACK"

    def _on_connect(self, _c, _u, _flags, rc, _props) -> None:
        self.rc = rc
        self._connected.set()

    @property
    def ok(self) -> bool:
        return self.rc is not None and not self.rc.is_failure

    def subscribe(self, *filters: str) -> list:
        self.c.subscribe([(f, 1) for f in filters])
        return self._subacks.get(timeout=10)

    def publish(self, topic: str, payload: str) -> None:
        info = self.c.publish(topic, payload.encode(), qos=1)
        info.wait_for_publish(10)  # PUBACK: the broker has routed (or dropped) it
        assert info.is_published()

    def until(self, topic: str, payload: str, timeout: float = 10) -> list[tuple[str, str]]:
        """Everything received up to and including the marker (topic, payload)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            t, p = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            seen.append((t, p.decode()))
            if (t, p.decode()) == (topic, payload):
                return seen

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)")
    b = SecureBroker(tmp_path_factory.mktemp("secure-mosquitto"))
    yield b
    b.stop()


@pytest.fixture(scope="module")
def admin(secure):
    p = Peer(secure.port, ADMIN, secure.admin_password, client_id="test-admin")
    assert p.ok
    assert p.subscribe("#") == [1] or p.subscribe("#")  # granted QoS 1
    yield p
    p.close()


def peer(secure, user: str, client_id: str = "") -> Peer:
    p = Peer(secure.port, user, secure.password(user), client_id=client_id)
    assert p.ok, f"{user} could not connect: {p.rc}"
    return p


def check_publishes(secure, admin: Peer, user: str, allowed: list[str], refused: list[str]) -> None:
    tag = uuid.uuid4().hex
    p = peer(secure, user)
    try:
        for t in refused:
            p.publish(t, f"refused-{tag}")
        for t in allowed:
            p.publish(t, f"allowed-{tag}")
        if allowed:
            marker = (allowed[-1], f"allowed-{tag}")  # same connection: ordered after the refused ones
        else:
            marker = (f"test/marker/{tag}", f"marker-{tag}")  # published after the refused ones were acked
            admin.publish(*marker)
        seen = [m for m in admin.until(*marker) if m[1].endswith(tag)]
    finally:
        p.close()
    assert [t for t, payload in seen if payload == f"refused-{tag}"] == [], f"{user} published where it may not"
    assert [t for t, payload in seen if payload == f"allowed-{tag}"] == allowed, f"{user} was refused"


def check_reads(admin: Peer, p: Peer, readable: list[str], unreadable: list[str]) -> None:
    tag = uuid.uuid4().hex
    for t in unreadable:
        admin.publish(t, f"hidden-{tag}")
    for t in readable:
        admin.publish(t, f"shown-{tag}")
    seen = [m for m in p.until(readable[-1], f"shown-{tag}") if m[1].endswith(tag)]
    assert [t for t, payload in seen if payload == f"hidden-{tag}"] == []
    assert [t for t, payload in seen if payload == f"shown-{tag}"] == readable


def test_anonymous_and_wrong_passwords_are_refused(secure):
    anon = Peer(secure.port, None, None)
    wrong = Peer(secure.port, "hbmesh-gateway", "not-the-password")
    unknown = Peer(secure.port, "nobody", "x")
    try:
        for p in (anon, wrong, unknown):
            assert p.rc is not None and p.rc.is_failure and p.rc.value in (4, 5, 134, 135), p.rc
    finally:
        for p in (anon, wrong, unknown):
            p.close()


ROLE_PUBLISHES = {
    # role: (allowed publishes, refused publishes)
    "backtest": (["hbmesh/v1/backtest/events/tasks/t1", "hbmesh/v1/backtest/presence/i1", "hbmesh/v1/backtest/ping",
                  "hbmesh/v1/marketdata/candles/ensure", "hbmesh/v1/replies/gateway-x-1a2b/1"],
                 ["hbmesh/v1/fleet/bots/start", "hbmesh/v1/marketdata/events/candles", "hbmesh/v1/marketdata/presence/x",
                  "hbmesh/v1/accounts/credentials/add", "hbot/bot-a/start", "other/topic"]),
    "marketdata": (["hbmesh/v1/marketdata/events/candles/k", "hbmesh/v1/marketdata/presence/i1",
                    "hbmesh/v1/replies/backtest-i-1a2b/7"],
                   ["hbmesh/v1/backtest/run", "hbmesh/v1/backtest/events/tasks/t1", "hbot/bot-a/stop"]),
    "fleet": (["hbmesh/v1/fleet/events/bots/b/status", "hbot/bot-a/start", "hbot/bot-b/config",
               "hbmesh/v1/archive/bots/archive", "hbmesh/v1/accounts/credentials/list", "hbmesh/v1/replies/gw-1/1"],
              ["hbmesh/v1/backtest/run", "hbmesh/v1/archive/events/x", "hbmesh/v1/accounts/events/x",
               "hbmesh/v1/marketdata/candles/ensure"]),
    "accounts": (["hbmesh/v1/accounts/events/balances", "hbmesh/v1/replies/fleet-i-1a2b/2"],
                 ["hbmesh/v1/fleet/bots", "hbmesh/v1/archive/bots/archive", "hbot/bot-a/start"]),
    "archive": (["hbmesh/v1/archive/events/bots/b", "hbmesh/v1/replies/fleet-i-1a2b/3"],
                ["hbmesh/v1/accounts/credentials/add", "hbmesh/v1/fleet/bots/start", "hbot/bot-a/stop"]),
    # (the gateway can write hbmesh/v1/replies/+/+ through the bots' pattern: mosquitto patterns apply to every
    # user and a deny would also take away its reply reads; nor can it be kept off the services' events/ and
    # presence/, which it reads; EMQX's acl.conf restricts both)
    "gateway": ([f"hbmesh/v1/{s}/ping" for s in SERVICES],
                ["hbot/bot-a/start", "hbmesh/v1/replies/backtest-i-1a2b/1/2",
                 "hbmesh/v1/gateway/x", "other/x"]),
    "operator": ([],
                 ["hbmesh/v1/backtest/events/x", "hbmesh/v1/backtest/tasks/submit", "hbot/bot-a/hb",
                  "hbot/hbmesh-operator/hb", "hbmesh/v1/replies/gw-1/1", "other/x"]),
}


@pytest.mark.parametrize("role", list(ROLE_PUBLISHES))
def test_role_publish_allowed_and_refused(secure, admin, role):
    allowed, refused = ROLE_PUBLISHES[role]
    check_publishes(secure, admin, f"hbmesh-{role}", allowed, refused)


def test_bot_publishes_only_in_its_namespace_and_replies(secure, admin):
    check_publishes(secure, admin, "bot-a",
                    ["hbot/bot-a/hb", "hbot/bot-a/status_updates", "hbot/bot-a/performance",
                     "hbmesh/v1/replies/fleet-bots-i1/4"],
                    ["hbot/bot-b/hb", "hbot/bot-b/start", "hbmesh/v1/fleet/bots/start", "hbmesh/v1/backtest/events/x",
                     "hbmesh/v1/replies/fleet-bots-i1/4/extra", "hbmesh/v1/fleet/presence/fake", "rpc-abc"])


def test_bot_reads_only_its_own_commands(secure, admin):
    # commlib bots connect with an empty client id: the ACL keys on the username
    bot = peer(secure, "bot-a", client_id="")
    try:
        assert bot.subscribe("hbot/#", "hbmesh/#") == [1, 1]
        check_reads(admin, bot, ["hbot/bot-a/start", "hbot/bot-a/external/event/x"],
                    ["hbot/bot-b/start", "hbmesh/v1/replies/fleet-bots-i1/1", "hbmesh/v1/fleet/events/x"])
    finally:
        bot.close()


def test_operator_reads_the_stream_but_not_commands_or_replies(secure, admin):
    op = peer(secure, "hbmesh-operator")
    try:
        assert op.subscribe("hbmesh/#", "hbot/#") == [1, 1]  # `hbmesh watch` defaults
        check_reads(admin, op, ["hbmesh/v1/backtest/events/tasks/t1", "hbmesh/v1/fleet/presence/i1", "hbot/bot-a/hb",
                                "hbot/bot-b/start"],
                    ["hbmesh/v1/accounts/credentials/add", "hbmesh/v1/replies/gw-1/1", "hbmesh/v1/backtest/ping"])
    finally:
        op.close()


def test_gateway_reads_events_presence_bots_but_not_commands(secure, admin):
    gw = peer(secure, "hbmesh-gateway")
    try:
        gw.subscribe("hbmesh/#", "hbot/#")
        check_reads(admin, gw, ["hbmesh/v1/backtest/events/tasks/t1", "hbmesh/v1/archive/presence/i", "hbot/bot-a/log",
                                "hbmesh/v1/replies/gateway-x/1"],
                    ["hbmesh/v1/accounts/credentials/add", "hbmesh/v1/fleet/bots/start"])
    finally:
        gw.close()


def test_service_reads_its_commands_not_other_services(secure, admin):
    md = peer(secure, "hbmesh-marketdata")
    try:
        md.subscribe("$share/marketdata/hbmesh/v1/marketdata/#", "hbmesh/v1/+/events/#", "hbot/#")
        check_reads(admin, md, ["hbmesh/v1/marketdata/candles/ensure"],
                    ["hbmesh/v1/backtest/events/tasks/t1", "hbmesh/v1/accounts/credentials/add", "hbot/bot-a/hb"])
    finally:
        md.close()


def test_operator_healthcheck_reads_sys(secure):
    """The mosquitto compose healthcheck: the operator reads the broker's retained $SYS/broker/version."""
    sub = shutil.which("mosquitto_sub")
    if sub is None:
        pytest.skip("mosquitto-clients not installed")
    proc = subprocess.run([sub, "-h", "127.0.0.1", "-p", str(secure.port), "-u", "hbmesh-operator",
                           "-P", secure.password("hbmesh-operator"), "-t", "$SYS/broker/version", "-C", "1", "-W", "5"],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0 and proc.stdout.startswith("mosquitto version"), proc.stderr


# ---------------------------------------------------------------------------- hbmesh itself under the ACL
async def test_real_runtime_serves_callers_under_the_acl(secure):
    """A service runtime as hbmesh-backtest (shared subscription, retained presence + will, replies) answers
    the gateway user and the backtest user's own healthcheck ping; the operator may not call it."""
    svc = Service("backtest", "stand-in with the real runtime: ping/describe only")
    async with running(svc, secure.settings("backtest")) as rt:
        async with client(secure.settings("gateway")) as rpc:
            reply = await rpc.request("hbmesh/v1/backtest/ping", {}, 10)
        assert reply.status == 200 and reply.result["instance_id"] == rt.instance_id
        async with client(secure.settings("marketdata")) as rpc:  # marketdata does not call backtest
            with pytest.raises(Exception, match="no reply"):
                await rpc.request("hbmesh/v1/backtest/ping", {}, 1.5)


def test_healthcheck_command_as_in_compose(secure, tmp_path):
    """`hbmesh call <service>/ping` with the service's own credentials exits 0 while the service runs."""
    import asyncio

    svc = Service("marketdata", "stand-in")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HBMESH_")}
    s = secure.settings("marketdata")
    env.update(HBMESH_BROKER_URL=s.broker_url, HBMESH_BROKER_USERNAME=s.broker_username,
               HBMESH_BROKER_PASSWORD=s.broker_password, HBMESH_SESSION_EXPIRY_S="0", PYTHONPATH=str(ROOT))

    async def scenario() -> tuple[int, int]:
        async with running(svc, s):
            ok = await asyncio.create_subprocess_exec(sys.executable, "-m", "shared.cli", "call", "marketdata/ping",
                                                      "--timeout", "10", env=env, cwd=tmp_path,
                                                      stdout=asyncio.subprocess.DEVNULL)
            rc_ok = await ok.wait()
        down = await asyncio.create_subprocess_exec(sys.executable, "-m", "shared.cli", "call", "marketdata/ping",
                                                    "--timeout", "2", env=env, cwd=tmp_path,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        return rc_ok, await down.wait()

    rc_ok, rc_down = asyncio.run(scenario())
    assert rc_ok == 0 and rc_down != 0
