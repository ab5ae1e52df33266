"""Gateway relay (HTTP → MQTT → service → MQTT → HTTP) against an in-process FastAPI route doing the same work
(same auth and CORS, the handler's answer computed in the web process)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import aiohttp

from bench.common import Row, broker, ms, pct

USER, PASSWORD = "bench", "bench-pass"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_http(url: str, auth=None) -> None:
    async with aiohttp.ClientSession(auth=auth) as http:
        deadline = time.monotonic() + 60
        while True:
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} never answered 200")
            await asyncio.sleep(0.1)


async def _load(url: str, concurrency: int, total: int, auth=None) -> tuple[float, list[float]]:
    latencies: list[float] = []
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, auth=auth) as http:
        async def worker(n: int) -> None:
            for i in range(n):
                t = time.perf_counter()
                async with http.get(f"{url}/t{i}") as r:
                    await r.read()
                    assert r.status == 200, r.status
                latencies.append(time.perf_counter() - t)

        for _ in range(2):  # warm-up
            await worker(20)
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(worker(total // concurrency) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


def run() -> list[Row]:
    rows: list[Row] = []
    with broker() as s:
        env = {**os.environ, "HBMESH_BROKER_URL": s.broker_url, "HBMESH_PREFIX": s.prefix, "PYTHONPATH": os.getcwd(),
               "USERNAME": USER, "PASSWORD": PASSWORD, "HBMESH_LOG_LEVEL": "WARNING"}
        gw_port, direct_port = _port(), _port()
        procs = [
            subprocess.Popen([sys.executable, "-m", "bench.standin", "service"], env=env),
            subprocess.Popen([sys.executable, "-m", "shared.cli", "gateway"],
                             env={**env, "HBMESH_GATEWAY_PORT": str(gw_port)}),
            subprocess.Popen([sys.executable, "-m", "bench.standin", "direct", str(direct_port)], env=env),
        ]
        try:
            auth = aiohttp.BasicAuth(USER, PASSWORD)
            gw = f"http://127.0.0.1:{gw_port}/backtesting/tasks"
            direct = f"http://127.0.0.1:{direct_port}/backtesting/tasks"

            async def measure() -> None:
                await _wait_http(f"{gw}/ready", auth)
                await _wait_http(f"{direct}/ready", auth)
                for conc, total in ((1, 1000), (50, 5000)):
                    g_rps, g_lat = await _load(gw, conc, total, auth)
                    d_rps, d_lat = await _load(direct, conc, total, auth)
                    rows.append(Row(f"gateway relay, {conc} concurrent client(s): throughput",
                                    f"{g_rps:,.0f} req/s", f"in-process FastAPI {d_rps:,.0f} req/s",
                                    round(g_rps / d_rps, 3), "≥ 0.60"))
                    rows.append(Row(f"gateway relay, {conc} concurrent client(s): latency", ms(g_lat),
                                    f"in-process {ms(d_lat)}", round(pct(g_lat, 0.5) / pct(d_lat, 0.5), 3),
                                    "p50 ≤ 2 ms at 1 client" if conc == 1 else ""))

            asyncio.run(measure())
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(10)
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
