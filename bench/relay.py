"""Gateway relay (HTTP → MQTT → service → MQTT → HTTP) against an in-process FastAPI route doing the same work
(same auth and CORS, the handler's answer computed in the web process)."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
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


async def _load(http: aiohttp.ClientSession, url: str, concurrency: int, total: int) -> tuple[float, list[float]]:
    """total GETs from `concurrency` clients in parallel: (requests per second, latencies)."""
    latencies: list[float] = []

    async def client(n: int) -> None:
        for i in range(n):
            t = time.perf_counter()
            async with http.get(f"{url}/t{i}") as r:
                await r.read()
                assert r.status == 200, r.status
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(client(total // concurrency) for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - start), latencies


async def _compare(gw: str, direct: str, concurrency: int, per_round: int, auth) -> tuple[list, list]:
    """Relay and in-process rounds, interleaved and alternating which goes first: this VM's speed drifts by tens
    of percent from minute to minute, so only rounds run side by side are compared."""
    conn = {"limit": concurrency}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(**conn), auth=auth) as g_http, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(**conn), auth=auth) as d_http:
        targets = [(g_http, gw), (d_http, direct)]
        for http, url in targets:  # warm-up: connections open, code paths hot
            await _load(http, url, concurrency, per_round // 2)
        relayed, inproc = [], []
        for i in range(ROUNDS):
            order = targets if i % 2 == 0 else targets[::-1]
            results = {url: await _load(http, url, concurrency, per_round) for http, url in order}
            relayed.append(results[gw])
            inproc.append(results[direct])
    return relayed, inproc


ROUNDS = 7


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
                for conc, per_round in ((1, 400), (50, 3000)):
                    relayed, inproc = await _compare(gw, direct, conc, per_round, auth)
                    g_lat = [x for _, lat in relayed for x in lat]
                    d_lat = [x for _, lat in inproc for x in lat]
                    ratio = statistics.median(g[0] / d[0] for g, d in zip(relayed, inproc))
                    rows.append(Row(f"gateway relay, {conc} concurrent client(s): throughput (median of {ROUNDS} "
                                    "interleaved rounds)", f"{statistics.median(g for g, _ in relayed):,.0f} req/s",
                                    f"in-process FastAPI {statistics.median(d for d, _ in inproc):,.0f} req/s",
                                    round(ratio, 3), "≥ 0.60"))
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
