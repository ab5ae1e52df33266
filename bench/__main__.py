"""`make bench`: run every benchmark side by side in one run, print ratios, write bench/RESULTS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

import psutil

from bench import backtest, bench_candle_store, fleet, memory, relay

SUITES = [("gateway relay", relay.run), ("backtest", backtest.run), ("candle store", bench_candle_store.run),
          ("fleet freshness", fleet.run), ("memory", memory.run)]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (f"{os.cpu_count()} CPU ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def main() -> None:
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
          for r in rows], ""]
    Path(__file__).with_name("RESULTS.md").write_text("\n".join(lines))
    print("wrote bench/RESULTS.md")


if __name__ == "__main__":
    main()
