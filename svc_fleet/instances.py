"""The bots folder (hummingbot-api's `bots/` layout) and instance folders.

    <bots>/credentials/<profile>/        conf of an account: conf_client.yml, connectors/, .password_verification
    <bots>/conf/scripts/<name>.yml       script configs            <bots>/scripts/<name>.py
    <bots>/conf/controllers/<name>.yml   controller configs        <bots>/controllers/<type>/<name>.py
    <bots>/instances/<instance>/         conf/ (+ connectors, scripts, controllers), data/, logs/
    <bots>/archived/<instance>/

Every path is built from validated names and checked to stay inside the bots folder.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.errors import BadRequest, Conflict, Invalid, NotFound

NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
BOT_HOME = "/home/hummingbot"


def check_name(value: str, what: str = "name") -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise Invalid(f"{what} {value!r} must match ^[A-Za-z0-9_-]+$")
    return value


def yml_name(value: str, what: str = "config") -> str:
    """A config file name with or without `.yml`; returns the stem."""
    stem = value[:-4] if isinstance(value, str) and value.endswith(".yml") else value
    return check_name(stem, what)


class BotsFolder:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        for sub in ("credentials", "conf/scripts", "conf/controllers", "instances", "archived", "scripts",
                    "controllers"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def path(self, *parts: str) -> Path:
        """root/parts, refusing anything that would land outside root."""
        p = self.root.joinpath(*parts).resolve()
        if p != self.root and self.root not in p.parents:
            raise BadRequest(f"path {'/'.join(parts)!r} leaves the bots folder")
        return p

    def credentials(self, profile: str) -> Path:
        return self.path("credentials", check_name(profile, "credentials_profile"))

    def instance(self, name: str) -> Path:
        return self.path("instances", check_name(name, "instance_name"))

    def script_config(self, name: str) -> Path:
        return self.path("conf", "scripts", yml_name(name, "script_config") + ".yml")

    def controller_config(self, name: str) -> Path:
        return self.path("conf", "controllers", yml_name(name, "controller config") + ".yml")


@dataclass
class BrokerForBots:
    host: str
    port: int
    username: str = ""
    password: str = ""
    namespace: str = "hbot"


@dataclass
class InstancePlan:
    """Everything needed to run the container; built by `create`, used by docker_ops.run_bot."""

    name: str
    image: str
    folder: Path
    volumes: dict[str, dict[str, str]]
    environment: dict[str, str]
    script_config: str | None = None
    controllers: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.exists() else None
    except yaml.YAMLError as exc:
        raise Invalid(f"{path.name} is not valid YAML: {exc}") from None


def write_yaml(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(path)


def mqtt_bridge(broker: BrokerForBots) -> dict:
    """conf_client.yml's mqtt_bridge block (hummingbot's keys) pointing the bot at our broker."""
    return {"mqtt_host": broker.host, "mqtt_port": broker.port, "mqtt_username": broker.username,
            "mqtt_password": broker.password, "mqtt_namespace": broker.namespace, "mqtt_ssl": False,
            "mqtt_logger": True, "mqtt_notifier": True, "mqtt_commands": True, "mqtt_events": True,
            "mqtt_external_events": True, "mqtt_autostart": True}


def create(folder: BotsFolder, name: str, profile: str, broker: BrokerForBots, image: str, *,
           script_config: str | None = None, headless: bool = True, config_password: str | None = None,
           mount_library: bool = True, extra_mounts: list[str] | None = None, replace: bool = False) -> InstancePlan:
    """Make <bots>/instances/<name> from a credentials profile, script and controller configs; plan the container."""
    extra: dict[str, dict[str, str]] = {}
    for spec in extra_mounts or []:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0].startswith("/") or not parts[1].startswith("/") or \
                parts[2:] not in ([], ["ro"], ["rw"]):
            raise Invalid(f"extra mount {spec!r} must be /host/path:/container/path[:ro|rw]")
        extra[parts[0]] = {"bind": parts[1], "mode": parts[2] if len(parts) == 3 else "rw"}
    inst = folder.instance(name)
    creds = folder.credentials(profile)
    if not creds.is_dir():
        raise NotFound(f"credentials profile '{profile}' not found")
    if inst.exists():
        if not replace:
            raise Conflict(f"instance '{name}' already exists")
        shutil.rmtree(inst)
    controllers: list[str] = []
    config: dict[str, Any] = {}
    script_src = None
    if script_config:
        script_src = folder.script_config(script_config)
        if not script_src.is_file():
            raise NotFound(f"script config '{script_config}' not found")
        config = read_yaml(script_src) or {}
        if not isinstance(config, dict):
            raise Invalid(f"script config '{script_config}' is not a mapping")
        listed = config.get("controllers_config") or []
        if not isinstance(listed, list):
            raise Invalid(f"script config '{script_config}': controllers_config must be a list")
        for c in listed:
            src = folder.controller_config(str(c))
            if not src.is_file():
                raise NotFound(f"controller config '{c}' (listed in '{script_config}') not found")
            controllers.append(src.name)
    try:
        shutil.copytree(creds, inst / "conf", symlinks=False)
        for sub in ("conf/connectors", "conf/scripts", "conf/controllers", "data", "logs"):
            (inst / sub).mkdir(parents=True, exist_ok=True)
        if script_src is not None:
            shutil.copy2(script_src, inst / "conf" / "scripts" / script_src.name)
            for c in controllers:
                shutil.copy2(folder.controller_config(c), inst / "conf" / "controllers" / c)
        client_conf = inst / "conf" / "conf_client.yml"
        client = read_yaml(client_conf) or {}
        if not isinstance(client, dict):
            client = {}
        client["instance_id"] = name
        bridge = client.get("mqtt_bridge") if isinstance(client.get("mqtt_bridge"), dict) else {}
        bridge.update(mqtt_bridge(broker))
        client["mqtt_bridge"] = bridge
        write_yaml(client_conf, client)
    except Exception:
        shutil.rmtree(inst, ignore_errors=True)
        raise
    env = {"HEADLESS_MODE": "true" if headless else "false"}
    if config_password:
        env["CONFIG_PASSWORD"] = config_password
    if script_src is not None:
        env["SCRIPT_CONFIG"] = script_src.name
    volumes = {
        str(inst / "conf"): {"bind": f"{BOT_HOME}/conf", "mode": "rw"},
        str(inst / "conf" / "connectors"): {"bind": f"{BOT_HOME}/conf/connectors", "mode": "rw"},
        str(inst / "conf" / "scripts"): {"bind": f"{BOT_HOME}/conf/scripts", "mode": "rw"},
        str(inst / "conf" / "controllers"): {"bind": f"{BOT_HOME}/conf/controllers", "mode": "rw"},
        str(inst / "data"): {"bind": f"{BOT_HOME}/data", "mode": "rw"},
        str(inst / "logs"): {"bind": f"{BOT_HOME}/logs", "mode": "rw"},
    }
    if mount_library:
        volumes[str(folder.path("scripts"))] = {"bind": f"{BOT_HOME}/scripts", "mode": "ro"}
        volumes[str(folder.path("controllers"))] = {"bind": f"{BOT_HOME}/controllers", "mode": "ro"}
    volumes.update(extra)
    return InstancePlan(name, image, inst, volumes, env, script_src.name if script_src else None, controllers,
                        config)


def write_profile(folder: BotsFolder, profile: str, files: dict[str, str]) -> Path:
    """Materialise a credentials profile received from svc_accounts ({relative path: content}) under
    credentials/<profile>/, replacing the previous copy; every path must stay inside that folder."""
    dst = folder.credentials(profile)
    staged = dst.with_name(f".{dst.name}.incoming")
    shutil.rmtree(staged, ignore_errors=True)
    for rel, content in files.items():
        target = (staged / rel).resolve()
        if staged.resolve() not in target.parents:
            raise BadRequest(f"profile file {rel!r} leaves the profile folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    staged.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dst, ignore_errors=True)
    staged.replace(dst)
    return dst


def write_controllers_script_config(folder: BotsFolder, name: str, controllers: list[str],
                                    max_global_drawdown_quote: float | None,
                                    max_controller_drawdown_quote: float | None) -> str:
    """deploy-v2-controllers' generated script config: v2_with_controllers.py running the listed configs."""
    files = []
    for c in controllers:
        path = folder.controller_config(c)
        if not path.is_file():
            raise NotFound(f"controller config '{c}' not found")
        files.append(path.name)
    data: dict[str, Any] = {"script_file_name": "v2_with_controllers.py", "controllers_config": files}
    if max_global_drawdown_quote is not None:
        data["max_global_drawdown_quote"] = max_global_drawdown_quote
    if max_controller_drawdown_quote is not None:
        data["max_controller_drawdown_quote"] = max_controller_drawdown_quote
    write_yaml(folder.script_config(name), data)
    return f"{name}.yml"


def archive_locally(folder: BotsFolder, name: str) -> Path:
    """Move instances/<name> to archived/<name> (the fallback when no svc_archive is online)."""
    src = folder.instance(name)
    if not src.is_dir():
        raise NotFound(f"instance folder '{name}' not found")
    dst = folder.path("archived", check_name(name))
    if dst.exists():
        raise Conflict(f"archived/{name} already exists")
    shutil.move(str(src), str(dst))
    return dst
