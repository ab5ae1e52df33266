"""Resident memory of each service (and the gateway) at idle, worker processes included."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import psutil

from bench.common import Row, broker


def _rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def run() -> list[Row]:
    from shared.cli import available_services
    from tests.mqtt_helpers import Collector

    rows = []
    names = [s.name for s in available_services()]
    with broker() as settings:
        env = {**os.environ, "HBMESH_BROKER_URL": settings.broker_url, "HBMESH_PREFIX": settings.prefix,
               "HBMESH_DATA_DIR": str(settings.data_dir), "PYTHONPATH": os.getcwd(), "HBMESH_LOG_LEVEL": "WARNING",
               "HBMESH_GATEWAY_PORT": "0"}

        async def measure() -> None:
            async with Collector(settings, f"{settings.prefix}/v1/+/presence/+") as presence:
                for name in names:
                    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "svc", name], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    try:
                        await presence.next(180, lambda m: f"/{name}/presence/" in m.topic
                                            and presence.json(m)["status"] == "online")
                        await asyncio.sleep(2)  # idle means after start-up work settles; measured, not synchronised
                        rows.append(Row(f"memory at idle: svc_{name}", f"{_rss_mb(proc.pid):.0f} MB RSS",
                                        "", None, "incl. worker processes"))
                    finally:
                        proc.terminate()
                        proc.wait(30)

        asyncio.run(measure())
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
