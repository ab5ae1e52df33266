"""A real mosquitto for tests, with hbmesh's config, on a free port; can be restarted or killed."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from shared.broker import listening, start_mosquitto


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestBroker:
    __test__ = False  # not a test class

    def __init__(self, data_dir: Path, port: int | None = None, extra_config: str = ""):
        self.port = port or free_port()
        self.data_dir = data_dir
        self.extra_config = extra_config
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = start_mosquitto(self.port, self.data_dir, self.extra_config)
        deadline = time.monotonic() + 10
        while not listening("127.0.0.1", self.port, 0.2):  # process start-up, not test synchronisation
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {self.proc.stderr.read().decode()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()
