"""`make bench`: run every benchmark side by side in one run, print ratios, write bench/RESULTS.md."""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
from pathlib import Path

import psutil

from bench import backtest, bench_candle_store, fleet, memory, relay

NOTES = [
    "Relay throughput misses its 60 % target: on 2 cores the client, gateway, service and broker share the CPU, "
    "and each relayed request costs the gateway's HTTP work plus four MQTT packets through paho in both Python "
    "processes (py-spy: neither the gateway nor the service is saturated alone; together with the load generator "
    "the machine is). Latency at one client meets its p50 target.",
    "svc_backtest's overhead over a direct engine call is the MQTT round trip, the candle read from the store and "
    "the Parquet result write; the sweep runs after a warm-up sweep so each worker has run once.",
]
SUITES = [("gateway relay", relay.run), ("backtest", backtest.run), ("candle store", bench_candle_store.run),
          ("fleet freshness", fleet.run), ("memory", memory.run)]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (f"{os.cpu_count()} CPU ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def main() -> None:
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt's per-publish backlog warnings (simulated bots)
    rows = []
    for name, fn in SUITES:
        print(f"== {name}", flush=True)
        for row in fn():
            print(f"  {row.name}: {row.measured} | {row.baseline} | ratio {row.ratio} {row.target}", flush=True)
            rows.append(row)
    lines = [
        "# hbmesh benchmark results", "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}; broker: mosquitto 2 with "
        "deploy/mosquitto/mosquitto.conf (`set_tcp_nodelay true`). Regenerate with `make bench`.", "",
        "| benchmark | measured | baseline | ratio | target |", "|---|---|---|---|---|",
        *[f"| {r.name} | {r.measured} | {r.baseline} | {'' if r.ratio is None else r.ratio} | {r.target} |"
          for r in rows], "", "Notes:", "", *[f"- {n}" for n in NOTES], ""]
    Path(__file__).with_name("RESULTS.md").write_text("\n".join(lines))
    print("wrote bench/RESULTS.md")


if __name__ == "__main__":
    main()
