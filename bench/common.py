"""Shared pieces of the benchmarks: a result row, latency stats, a private broker with hbmesh's config."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from shared.broker import listening, start_mosquitto
from shared.settings import Settings


@dataclass
class Row:
    name: str
    measured: str
    baseline: str
    ratio: float | None
    target: str = ""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, 0.5) * 1000:.2f} ms, p99 {pct(values, 0.99) * 1000:.2f} ms"


def mean(values: list[float]) -> float:
    return statistics.fmean(values)


@contextlib.contextmanager
def broker():
    """A mosquitto with deploy/mosquitto/mosquitto.conf (TCP_NODELAY) on a free port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="hbmesh-bench-") as tmp:
        proc = start_mosquitto(port, Path(tmp) / "mosquitto")
        deadline = time.monotonic() + 10
        while not listening("127.0.0.1", port, 0.2):
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.02)
        try:
            yield Settings(broker_url=f"mqtt://127.0.0.1:{port}", prefix=f"b{uuid.uuid4().hex[:6]}",
                           data_dir=Path(tmp) / "data", _env_file=None)
        finally:
            proc.terminate()
            proc.wait(10)
