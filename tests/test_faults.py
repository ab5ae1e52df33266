"""Faults: killed workers and instances, broker restarts. Nothing accepted is lost; nothing hangs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest

from svc_backtest.service import service as backtest
from tests.mqtt_helpers import Collector, running
from tests.test_backtest_service import DAY, START, mesh, pmm_dynamic

pytestmark = pytest.mark.timeout(300)


async def _events(settings, task_id: str):
    return Collector(settings, f"{settings.prefix}/v1/backtest/events/tasks/{task_id}")


def _status(msg) -> dict:
    return json.loads(msg.payload)


async def test_killed_worker_process_task_is_rerun(settings, tmp_path):
    async with mesh(settings, tmp_path, days=4) as http:
        async with Collector(settings, f"{settings.prefix}/v1/backtest/events/tasks/+") as events:
            task_id = (await http.post("/backtesting/tasks", json={"start_time": START, "end_time": START + 3 * DAY,
                                                                   "config": pmm_dynamic()})).json()["task_id"]
            await events.next(120, lambda m: _status(m).get("task_id") == task_id and _status(m).get("progress", 0) > 0)
            pids = _backtest_worker_pids()
            assert pids, "no worker processes found"
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            done = await events.next(240, lambda m: _status(m).get("task_id") == task_id
                                     and _status(m)["status"] in ("completed", "failed"))
        task = (await http.get(f"/backtesting/tasks/{task_id}")).json()
    assert _status(done)["status"] == "completed"
    assert task["status"] == "completed" and task["attempts"] == 2


def _backtest_worker_pids() -> list[int]:
    """Worker processes are spawn children of this test process."""
    out = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "multiprocessing.spawn"], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


async def test_killed_instance_task_rerun_by_another(settings, tmp_path):
    """kill -9 of a svc_backtest instance mid-task: another instance takes the task over when its lease ends."""
    env = {**os.environ, "HBMESH_BROKER_URL": settings.broker_url, "HBMESH_PREFIX": settings.prefix,
           "HBMESH_DATA_DIR": str(settings.data_dir), "HBMESH_INSTANCE_ID": "victim",
           "HBMESH_BACKTEST_LEASE_S": "3", "HBMESH_BACKTEST_WORKERS": "1", "PYTHONPATH": os.getcwd()}
    os.environ["HBMESH_BACKTEST_LEASE_S"] = "3"
    try:
        async with mesh(settings, tmp_path, days=4, with_backtest=False) as http:
            async with Collector(settings, f"{settings.prefix}/v1/backtest/events/tasks/+",
                                 f"{settings.prefix}/v1/backtest/presence/victim") as events:
                victim = subprocess.Popen([sys.executable, "-m", "shared.cli", "svc", "backtest"], env=env)
                try:
                    await events.next(60, lambda m: m.topic.endswith("presence/victim")
                                      and _status(m)["status"] == "online")
                    task_id = (await http.post("/backtesting/tasks", json={
                        "start_time": START, "end_time": START + 3 * DAY, "config": pmm_dynamic()})).json()["task_id"]
                    await events.next(120, lambda m: "tasks/" in m.topic and _status(m).get("task_id") == task_id
                                      and _status(m).get("progress", 0) > 0)
                    victim.kill()
                finally:
                    victim.kill()
                    victim.wait()
                async with running(backtest, settings):  # the survivor
                    done = await events.next(240, lambda m: "tasks/" in m.topic and _status(m).get("task_id") == task_id
                                             and _status(m)["status"] in ("completed", "failed"))
                    got = await http.get(f"/backtesting/tasks/{task_id}")
                    assert got.status_code == 200, got.text
                    task = got.json()
    finally:
        os.environ.pop("HBMESH_BACKTEST_LEASE_S", None)
    assert _status(done)["status"] == "completed"
    assert task["attempts"] == 2


async def test_broker_restart_with_backtest_in_flight(settings, tmp_path, broker):
    async with mesh(settings, tmp_path, days=4) as http:
        async with Collector(settings, f"{settings.prefix}/v1/backtest/events/tasks/+") as events:
            task_id = (await http.post("/backtesting/tasks", json={"start_time": START, "end_time": START + 2 * DAY,
                                                                   "config": pmm_dynamic()})).json()["task_id"]
            await events.next(120, lambda m: _status(m).get("task_id") == task_id and _status(m).get("progress", 0) > 0)
            mesh_ = http.app.state.mesh
            await asyncio.to_thread(broker.stop)
            async with asyncio.timeout(5):
                while mesh_.link.connected:  # the gateway notices the socket close
                    await asyncio.sleep(0.01)
            during = await http.get("/backtesting/tasks")  # never hangs: 503 while the broker is away
            await asyncio.to_thread(broker.start)
            await mesh_.link.wait_connected(5)
            await mesh_.presence.wait_online("backtest", 5)  # services are back within 5 s
            done = await events.next(240, lambda m: _status(m).get("task_id") == task_id
                                     and _status(m)["status"] in ("completed", "failed"))
    assert during.status_code == 503
    assert _status(done)["status"] == "completed"
