"""Fleet status freshness with 200 simulated bots heartbeating and logging (tests/fakes/bot.py, real protocol).

Each round every bot publishes a heartbeat and a log line at time t0; the lag is how long until svc_fleet's
`bots/status` (asked over MQTT like any client) shows every bot seen at or after t0. Target: ≤ 1 s.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

from bench.common import Row, broker, ms

BOTS = int(os.environ.get("HBMESH_BENCH_FLEET_BOTS", "200"))
ROUNDS = int(os.environ.get("HBMESH_BENCH_FLEET_ROUNDS", "20"))


async def _measure(settings) -> tuple[list[float], list[float], int]:
    from svc_fleet.service import service as fleet
    from tests.fakes.bot import FakeBotFarm
    from tests.mqtt_helpers import client, running

    os.environ.setdefault("HBMESH_FLEET_DOCKER_URL", "unix:///nonexistent-docker.sock")
    ids = [f"bench{i:03d}" for i in range(BOTS)]
    lags, status_calls = [], []
    async with running(fleet, settings), client(settings) as rpc, FakeBotFarm(settings, ids) as farm:
        topic = f"{settings.prefix}/v1/fleet/bots/status"
        for _ in range(ROUNDS):
            t0 = time.time()
            await asyncio.gather(*(b.heartbeat() for b in farm.bots.values()))
            await asyncio.gather(*(b.log(f"tick {t0}") for b in farm.bots.values()))
            while True:
                started = time.perf_counter()
                reply = await rpc.request(topic, {}, 10)
                status_calls.append(time.perf_counter() - started)
                data = reply.result["data"]
                if len(data) == BOTS and all((v["last_seen"] or 0) >= t0 for v in data.values()):
                    lags.append(time.time() - t0)
                    break
        size = len(str(reply.result))
    return lags, status_calls, size


def run() -> list[Row]:
    with broker() as settings:
        settings = settings.model_copy(update={"bot_namespace": f"hb{uuid.uuid4().hex[:6]}"})
        lags, calls, size = asyncio.run(_measure(settings))
    worst = max(lags)
    return [
        Row(f"fleet: status freshness, {BOTS} bots heartbeating + logging", ms(lags) + f", max {worst * 1000:.0f} ms",
            "hummingbot-api: discovery loop every 1 s", None, "≤ 1 s lag"),
        Row(f"fleet: bots/status over MQTT with {BOTS} bots (~{size // 1024} KiB)", ms(calls), "", None),
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row.name}: {row.measured} (target {row.target or '-'})")
