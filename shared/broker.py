"""Embedded broker for one-machine runs: a mosquitto binary with hbmesh's config."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "mosquitto.conf"


def listening(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def mosquitto_config(port: int, data_dir: Path, extra: str = "") -> Path:
    """Our broker config (TCP_NODELAY, persistence, v5) on a given port, as a temp file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    text = CONF.read_text().replace("listener 1883", f"listener {port}")
    text += f"\npersistence_location {data_dir.resolve()}/\n{extra}"
    fd, name = tempfile.mkstemp(prefix="hbmesh-mosquitto-", suffix=".conf")
    with open(fd, "w") as f:
        f.write(text)
    return Path(name)


def start_mosquitto(port: int, data_dir: Path, extra: str = "") -> subprocess.Popen:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        raise RuntimeError("no MQTT broker listens and mosquitto is not installed: "
                           "install it (apt-get install mosquitto) or set HBMESH_BROKER_URL")
    return subprocess.Popen([binary, "-c", str(mosquitto_config(port, data_dir, extra))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
