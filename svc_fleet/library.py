"""The strategy library: controllers and scripts (code) and their configs, in the bots folder.

- built-in controllers: svc_backtest/controllers/<type>/<name>.py (read-only; the backtester's own);
- user controllers:     <bots>/controllers/<type>/<name>.py
- scripts:              <bots>/scripts/<name>.py
- controller configs:   <bots>/conf/controllers/<name>.yml; script configs: <bots>/conf/scripts/<name>.yml

Templates are the config class's pydantic JSON schema (each property carries its default), so a frontend
can draw a form. Loading a config class imports hummingbot: these functions block, call them in a thread.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from shared.errors import Conflict, HbError, Invalid, NotFound

from .instances import BotsFolder, check_name, read_yaml, write_yaml, yml_name

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "svc_backtest" / "controllers"
BUILTIN_MODULE = "svc_backtest.controllers"
_import_lock = threading.Lock()


def _py_files(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_")) if folder.is_dir() else []


class Library:
    def __init__(self, bots: BotsFolder, builtin_dir: Path = BUILTIN_DIR):
        self.bots = bots
        self.builtin_dir = builtin_dir

    # ------------------------------------------------------------ controllers (code)
    def _builtin(self) -> dict[str, list[str]]:
        out = {}
        if self.builtin_dir.is_dir():
            for d in sorted(self.builtin_dir.iterdir()):
                if d.is_dir() and not d.name.startswith("_") and (names := _py_files(d)):
                    out[d.name] = names
        return out

    def _user(self) -> dict[str, list[str]]:
        root = self.bots.path("controllers")
        return {d.name: names for d in sorted(root.iterdir())
                if d.is_dir() and not d.name.startswith("_") and (names := _py_files(d))}

    def list_controllers(self) -> dict[str, list[str]]:
        merged: dict[str, set[str]] = {}
        for index in (self._builtin(), self._user()):
            for t, names in index.items():
                merged.setdefault(t, set()).update(names)
        return {t: sorted(v) for t, v in sorted(merged.items())}

    def _controller_file(self, ctype: str, name: str) -> tuple[Path, bool]:
        check_name(ctype, "controller_type")
        check_name(name, "controller_name")
        user = self.bots.path("controllers", ctype, f"{name}.py")
        if user.is_file():
            return user, False
        builtin = self.builtin_dir / ctype / f"{name}.py"
        if builtin.is_file():
            return builtin, True
        raise NotFound(f"controller {ctype}/{name} not found")

    def get_controller(self, ctype: str, name: str) -> dict:
        path, builtin = self._controller_file(ctype, name)
        return {"name": name, "type": ctype, "content": path.read_text(),
                "source": "builtin" if builtin else "user"}

    def save_controller(self, ctype: str, name: str, content: str) -> dict:
        check_name(ctype, "controller_type")
        check_name(name, "controller_name")
        if (self.builtin_dir / ctype / f"{name}.py").is_file():
            raise Conflict(f"controller {ctype}/{name} is built in (read-only); save it under another name")
        _check_python(content, f"{ctype}/{name}")
        path = self.bots.path("controllers", ctype, f"{name}.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch(exist_ok=True)
        existed = path.exists()
        _atomic_write(path, content)
        return {"message": f"controller {ctype}/{name} {'updated' if existed else 'created'}", "success": True}

    def delete_controller(self, ctype: str, name: str) -> dict:
        path, builtin = self._controller_file(ctype, name)
        if builtin:
            raise Conflict(f"controller {ctype}/{name} is built in (read-only)")
        path.unlink()
        return {"message": f"controller {ctype}/{name} deleted", "success": True}

    def _controller_config_class(self, ctype: str, name: str):
        path, builtin = self._controller_file(ctype, name)
        if builtin:
            from svc_backtest import engine  # imports hummingbot: we are in a worker thread

            return engine._config_class(ctype, name)
        from hummingbot.strategy_v2.controllers.controller_base import ControllerConfigBase

        module = _load_module(path, f"hbmesh_user_controllers.{ctype}.{name}")
        return _single_class(module, ControllerConfigBase, f"controller {ctype}/{name}")

    def controller_template(self, ctype: str, name: str) -> dict:
        schema = _schema(self._controller_config_class(ctype, name))
        schema["required"] = [f for f in schema.get("required", []) if f != "id"]
        schema["title"] = f"{ctype}/{name}"
        return schema

    def validate_controller_config(self, ctype: str, name: str, config: dict) -> dict:
        cls = self._controller_config_class(ctype, name)
        data = {**config, "controller_type": ctype, "controller_name": name}
        data.setdefault("id", config.get("id") or uuid.uuid4().hex[:12])
        return {"valid": True, "config": _validate(cls, data, f"{ctype}/{name}")}

    # ------------------------------------------------------------ configs (yml)
    def _configs(self, folder: Path) -> list[dict]:
        out = []
        for p in sorted(folder.glob("*.yml")):
            try:
                data = read_yaml(p)
            except HbError as exc:
                out.append({"config_name": p.stem, "error": exc.msg})
                continue
            out.append({"config_name": p.stem, **(data if isinstance(data, dict) else {"content": data})})
        return out

    def list_controller_configs(self) -> list[dict]:
        return self._configs(self.bots.path("conf", "controllers"))

    def get_controller_config(self, name: str) -> dict:
        return _read_config(self.bots.controller_config(name), f"controller config '{name}'")

    def save_controller_config(self, name: str, config: dict) -> dict:
        stem = yml_name(name)
        config = dict(config)
        config.setdefault("id", stem)
        for key in ("controller_name", "controller_type"):
            if key in config and not isinstance(config[key], str):
                raise Invalid(f"{key} must be a string")
        return _save_config(self.bots.controller_config(stem), config, f"controller config {stem}")

    def delete_controller_config(self, name: str) -> dict:
        return _delete_config(self.bots.controller_config(name), "controller config", name)

    def bot_controller_configs(self, bot: str) -> list[dict]:
        folder = self.bots.instance(bot)
        if not folder.is_dir():
            raise NotFound(f"bot instance '{bot}' not found")
        return self._configs(folder / "conf" / "controllers")

    def update_bot_controller_config(self, bot: str, controller: str, config: dict) -> dict:
        folder = self.bots.instance(bot)
        if not folder.is_dir():
            raise NotFound(f"bot instance '{bot}' not found")
        path = folder / "conf" / "controllers" / f"{yml_name(controller, 'controller_name')}.yml"
        current = _read_config(path, f"controller config '{controller}' of bot '{bot}'")
        current.pop("config_name", None)
        current.update(_plain(config))
        write_yaml(path, current)
        return {"message": f"controller config {controller} of bot {bot} updated", "success": True}

    # ------------------------------------------------------------ scripts
    def list_scripts(self) -> list[str]:
        return _py_files(self.bots.path("scripts"))

    def _script_file(self, name: str) -> Path:
        path = self.bots.path("scripts", f"{check_name(name, 'script_name')}.py")
        if not path.is_file():
            raise NotFound(f"script '{name}' not found")
        return path

    def get_script(self, name: str) -> dict:
        return {"name": name, "content": self._script_file(name).read_text()}

    def save_script(self, name: str, content: str) -> dict:
        _check_python(content, f"script {name}")
        path = self.bots.path("scripts", f"{check_name(name, 'script_name')}.py")
        existed = path.exists()
        _atomic_write(path, content)
        return {"message": f"script {name} {'updated' if existed else 'created'}", "success": True}

    def delete_script(self, name: str) -> dict:
        self._script_file(name).unlink()
        return {"message": f"script {name} deleted", "success": True}

    def script_template(self, name: str) -> dict:
        path = self._script_file(name)
        from hummingbot.client.config.config_data_types import BaseClientModel

        module = _load_module(path, f"hbmesh_user_scripts.{name}")
        schema = _schema(_single_class(module, BaseClientModel, f"script {name}"))
        schema["title"] = name
        return schema

    def list_script_configs(self) -> list[dict]:
        return self._configs(self.bots.path("conf", "scripts"))

    def get_script_config(self, name: str) -> dict:
        return _read_config(self.bots.script_config(name), f"script config '{name}'")

    def save_script_config(self, name: str, config: dict) -> dict:
        return _save_config(self.bots.script_config(name), config, f"script config {yml_name(name)}")

    def delete_script_config(self, name: str) -> dict:
        return _delete_config(self.bots.script_config(name), "script config", name)


# ---------------------------------------------------------------- helpers
def _save_config(path: Path, config: dict, what: str) -> dict:
    existed = path.exists()
    write_yaml(path, _plain(config))
    return {"message": f"{what} {'updated' if existed else 'created'}", "success": True}


def _delete_config(path: Path, kind: str, name: str) -> dict:
    if not path.is_file():
        raise NotFound(f"{kind} '{name}' not found")
    path.unlink()
    return {"message": f"{kind} {yml_name(name)} deleted", "success": True}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _check_python(content: str, what: str) -> None:
    if not isinstance(content, str) or not content.strip():
        raise Invalid(f"{what}: content is empty")
    try:
        ast.parse(content)
    except SyntaxError as exc:
        raise Invalid(f"{what}: not valid Python: line {exc.lineno}: {exc.msg}") from None


def _read_config(path: Path, what: str) -> dict:
    if not path.is_file():
        raise NotFound(f"{what} not found")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise Invalid(f"{what} is not a mapping")
    return {"config_name": path.stem, **data} if "config_name" not in data else data


def _plain(value: Any) -> Any:
    """JSON values as YAML-safe plain values (no Decimal surprises, hummingbot-api issue #62)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _load_module(path: Path, name: str):
    """Import a user file fresh (it may have changed since the last load)."""
    with _import_lock:
        sys.modules.pop(name, None)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise Invalid(f"cannot load {path.name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - user code: report what it raised
            sys.modules.pop(name, None)
            raise Invalid(f"{path.name} fails to import: {type(exc).__name__}: {exc}") from None
        return module


def _single_class(module, base: type, what: str):
    classes = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
               if issubclass(obj, base) and obj is not base and obj.__module__ == module.__name__]
    if len(classes) != 1:
        raise Invalid(f"{what} defines {len(classes)} config classes ({base.__name__} subclasses), expected 1")
    return classes[0]


def _schema(cls) -> dict:
    from pydantic.json_schema import model_json_schema

    from svc_backtest.patches import json_safe

    try:
        return json_safe(model_json_schema(cls))
    except Exception as exc:  # noqa: BLE001 - a config class pydantic cannot describe
        raise Invalid(f"cannot build a JSON schema for {cls.__name__}: {exc}") from None


def _validate(cls, data: dict, what: str) -> dict:
    from pydantic import ValidationError

    from svc_backtest.patches import json_safe

    try:
        cfg = cls(**data)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ())) or 'config'}: {e.get('msg')}" for e in exc.errors()]
        raise Invalid(f"invalid {what} config: {'; '.join(parts)}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise Invalid(f"invalid {what} config: {exc}") from None
    return json_safe(cfg.model_dump(mode="json"))
