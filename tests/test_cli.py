"""The `hbmesh` command line: asyncapi, call (with --follow), watch, and `up` with its embedded broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import httpx
import pytest

from shared.broker import listening
from tests.broker import free_port
from tests.echo_service import service as echo
from tests.mqtt_helpers import Collector, running

HBMESH = [sys.executable, "-m", "shared.cli"]


def env_for(settings, **extra) -> dict:
    return {**os.environ, "HBMESH_BROKER_URL": settings.broker_url, "HBMESH_PREFIX": settings.prefix,
            "HBMESH_DATA_DIR": str(settings.data_dir), "PYTHONPATH": os.getcwd(), **extra}


async def run_cli(*args, env, timeout=120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*HBMESH, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_asyncapi_lists_every_service(settings):
    code, out, _ = await run_cli("asyncapi", env=env_for(settings))
    doc = json.loads(out)
    assert code == 0 and doc["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in doc["channels"].values() if c.get("address")}
    for address in ("backtest/tasks/submit", "marketdata/candles/download", "fleet/ping", "accounts/ping",
                    "archive/ping", "backtest/events/tasks/{task_id}"):
        assert f"{settings.prefix}/v1/{address}" in addresses, address


async def test_call_prints_the_reply_and_exit_code(settings):
    async with running(echo, settings):
        ok = await run_cli("call", "echo/echo", '{"text": "cli", "n": 3}', env=env_for(settings))
        bad = await run_cli("call", "echo/echo", '{"n": "x"}', env=env_for(settings))
        not_json = await run_cli("call", "echo/echo", "{oops", env=env_for(settings))
    assert ok[0] == 0 and json.loads(ok[1])["result"]["text"] == "cliclicli"
    assert bad[0] == 1 and json.loads(bad[1])["status"] == 422
    assert not_json[0] != 0 and "not JSON" in not_json[2]


async def test_watch_tails_the_stream(settings):
    async with Collector(settings, "unused/#") as pub:
        await pub.link.publish(f"{settings.prefix}/v1/x/events/hello", b'{"a": 1}', retain=True)  # seen on subscribe
        proc = await asyncio.create_subprocess_exec(*HBMESH, "watch", f"{settings.prefix}/#", env=env_for(settings),
                                                    stdout=asyncio.subprocess.PIPE)
        try:
            line = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        finally:
            proc.terminate()
            await proc.wait()
        await pub.link.publish(f"{settings.prefix}/v1/x/events/hello", b"", retain=True)  # clear the retained message
    assert line["topic"] == f"{settings.prefix}/v1/x/events/hello" and line["payload"] == {"a": 1}


@pytest.mark.timeout(300)
async def test_call_follow_draws_a_progress_bar(settings, tmp_path):
    from tests.test_backtest_service import DAY, START, mesh, pmm_dynamic

    async with mesh(settings, tmp_path):
        code, out, err = await run_cli(
            "call", "backtest/tasks/submit", json.dumps({"start_time": START, "end_time": START + DAY // 2,
                                                         "config": pmm_dynamic()}), "--follow",
            env=env_for(settings), timeout=240)
    assert code == 0, err[-2000:]
    assert json.loads(out)["result"]["status"] == "pending"
    assert "100.0% completed" in err and "#" * 30 in err


@pytest.mark.timeout(300)
async def test_up_runs_everything_with_an_embedded_broker(tmp_path):
    """`make run` = `hbmesh up`: with no broker on the configured localhost port it starts mosquitto itself."""
    port, gw_port = free_port(), free_port()
    env = {**os.environ, "HBMESH_BROKER_URL": f"mqtt://127.0.0.1:{port}", "HBMESH_DATA_DIR": str(tmp_path / "data"),
           "HBMESH_GATEWAY_PORT": str(gw_port), "USERNAME": "u", "PASSWORD": "p", "PYTHONPATH": os.getcwd(),
           "HBMESH_BACKTEST_WORKERS": "1"}
    proc = await asyncio.create_subprocess_exec(*HBMESH, "up", env=env, stderr=asyncio.subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw_port}", timeout=5) as http:
            status = None
            async with asyncio.timeout(240):
                while status is None or len(status["services"]) < 5:
                    try:
                        status = (await http.get("/")).json()
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.2)  # readiness probe of a child process
            health = await http.get("/health", auth=("u", "p"))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert set(status["services"]) == {"backtest", "marketdata", "fleet", "accounts", "archive"}
    assert status["broker_connected"] is True and health.status_code == 200
    assert b"started embedded mosquitto" in err
    assert proc.returncode in (0, -signal.SIGTERM)
    assert not listening("127.0.0.1", port)  # the embedded broker stopped with it
