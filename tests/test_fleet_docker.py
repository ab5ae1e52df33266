"""svc_fleet on a real Docker engine with a local image: deploy, the mounted conf a bot expects, container
start/stop/remove, bad inputs, and stop-and-archive (with a failure resumed)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from svc_fleet.service import service as fleet
from tests.fakes.bot import FakeBot
from tests.fakes.docker_engine import IDLE_COMMAND, docker_engine, tiny_image  # noqa: F401 - fixtures
from tests.mqtt_helpers import Collector, client, running


@pytest.fixture
def fleet_env(settings, monkeypatch, tiny_image):  # noqa: F811
    monkeypatch.setenv("HBMESH_FLEET_DEFAULT_IMAGE", tiny_image)
    monkeypatch.setenv("HBMESH_FLEET_CONTAINER_COMMAND", json.dumps(IDLE_COMMAND))
    monkeypatch.setenv("HBMESH_FLEET_CONFIG_PASSWORD", "pw-123")
    monkeypatch.setenv("HBMESH_FLEET_MEM_LIMIT", "256m")
    monkeypatch.setenv("HBMESH_FLEET_STOP_CONTAINER_TIMEOUT_S", "5")
    monkeypatch.setenv("HBMESH_FLEET_DOCKER_POLL_INTERVAL_S", "0.5")
    s = settings.model_copy(update={"bot_namespace": f"hb{uuid.uuid4().hex[:6]}"})
    bots = Path(s.data_dir) / "bots"
    profile = bots / "credentials" / "master_account"
    (profile / "connectors").mkdir(parents=True)
    (profile / "conf_client.yml").write_text(yaml.safe_dump({
        "instance_id": "old", "kill_switch_mode": {}, "mqtt_bridge": {"mqtt_host": "localhost", "mqtt_port": 1}}))
    (profile / ".password_verification").write_text("deadbeef")
    (profile / "connectors" / "binance.yml").write_text("connector: binance\n")
    return s, bots


@pytest.fixture
def cleanup_containers(docker_engine):  # noqa: F811
    names: list[str] = []
    yield names
    for n in names:
        try:
            docker_engine.containers.get(n).remove(force=True)
        except Exception:  # noqa: BLE001 - already gone is fine
            pass


async def call(rpc, s, command, data=None, timeout=60.0):
    return await rpc.request(f"{s.prefix}/v1/fleet/{command}", data or {}, timeout)


def exec_cat(engine, name: str, path: str) -> str:
    code, out = engine.containers.get(name).exec_run(["cat", path])
    assert code == 0, out
    return out.decode()


async def test_deploy_controllers_conf_and_container_lifecycle(fleet_env, docker_engine, cleanup_containers):  # noqa: F811
    s, bots = fleet_env
    base = f"t{uuid.uuid4().hex[:6]}"
    async with running(fleet, s), client(s) as rpc:
        saved = await call(rpc, s, "controllers/configs/save", {"config_name": "pmm_a", "config": {
            "controller_name": "pmm_simple", "controller_type": "market_making", "connector_name": "binance",
            "trading_pair": "BTC-USDT", "total_amount_quote": 100}})
        deployed = await call(rpc, s, "bots/deploy-v2-controllers", {
            "instance_name": base, "credentials_profile": "master_account", "controllers_config": ["pmm_a"],
            "max_global_drawdown_quote": 50})
        assert deployed.status == 200, deployed.msg
        name = deployed.result["instance_name"]
        cleanup_containers.append(name)
        client_conf = yaml.safe_load(exec_cat(docker_engine, name, "/home/hummingbot/conf/conf_client.yml"))
        script_conf = yaml.safe_load(exec_cat(docker_engine, name, f"/home/hummingbot/conf/scripts/{name}.yml"))
        ctrl_conf = yaml.safe_load(exec_cat(docker_engine, name, "/home/hummingbot/conf/controllers/pmm_a.yml"))
        pw_file = exec_cat(docker_engine, name, "/home/hummingbot/conf/.password_verification")
        connector = exec_cat(docker_engine, name, "/home/hummingbot/conf/connectors/binance.yml")
        _, env_out = docker_engine.containers.get(name).exec_run(["env"])
        attrs = docker_engine.containers.get(name).attrs
        running_list = await call(rpc, s, "docker/active-containers", {"name_filter": name})
        duplicate = await call(rpc, s, "instances/create", {"instance_name": name,
                                                           "credentials_profile": "master_account"})
        remove_running = await call(rpc, s, "docker/remove", {"container_name": name})
        stopped = await call(rpc, s, "docker/stop", {"container_name": name})
        exited = await call(rpc, s, "docker/exited-containers", {"name_filter": name})
        started = await call(rpc, s, "docker/start", {"container_name": name})
        await call(rpc, s, "docker/stop", {"container_name": name})
        removed = await call(rpc, s, "docker/remove", {"container_name": name, "archive_locally": True})
        gone = await call(rpc, s, "docker/stop", {"container_name": name})
        runs = await call(rpc, s, "runs/list", {"bot_name": name})
        engine_up = await call(rpc, s, "docker/running")
        images = await call(rpc, s, "docker/images", {"image_name": "tiny-bot"})
    assert saved.status == 200
    assert client_conf["instance_id"] == name and client_conf["kill_switch_mode"] == {}
    bridge = client_conf["mqtt_bridge"]
    assert (bridge["mqtt_host"], bridge["mqtt_port"], bridge["mqtt_namespace"], bridge["mqtt_autostart"]) == (
        s.broker_host, s.broker_port, s.bot_namespace, True)
    assert script_conf == {"script_file_name": "v2_with_controllers.py", "controllers_config": ["pmm_a.yml"],
                           "max_global_drawdown_quote": 50.0}
    assert ctrl_conf["controller_name"] == "pmm_simple" and ctrl_conf["id"] == "pmm_a"
    assert pw_file == "deadbeef" and connector == "connector: binance\n"
    env = dict(line.split("=", 1) for line in env_out.decode().splitlines() if "=" in line)
    assert env["CONFIG_PASSWORD"] == "pw-123" and env["SCRIPT_CONFIG"] == f"{name}.yml"
    assert env["HEADLESS_MODE"] == "false"  # hummingbot-api's deploy default
    assert attrs["HostConfig"]["NetworkMode"] == "host" and attrs["HostConfig"]["Memory"] == 256 * 1024 * 1024
    assert [c["name"] for c in running_list.result] == [name]
    assert duplicate.status == 409
    assert remove_running.status == 409
    assert stopped.status == 200 and stopped.result["status"] == "exited"
    assert [c["name"] for c in exited.result] == [name]
    assert started.status == 200
    assert removed.status == 200 and "moved to" in removed.result["archive"]
    assert (bots / "archived" / name / "conf" / "conf_client.yml").is_file() and not (bots / "instances" / name).exists()
    assert gone.status == 404
    run = runs.result["data"][0]
    assert run["deployment_status"] == "DEPLOYED" and run["strategy_type"] == "controller"
    assert run["config"]["controllers_config"] == ["pmm_a"]
    assert engine_up.result == {"is_docker_running": True}
    assert any("hbmesh/tiny-bot:test" in i["tags"] for i in images.result)


async def test_bad_deploy_inputs(fleet_env, docker_engine):  # noqa: F811
    s, bots = fleet_env
    async with running(fleet, s), client(s) as rpc:
        escape = await call(rpc, s, "instances/create", {"instance_name": "../x", "credentials_profile": "master_account"})
        bad_profile = await call(rpc, s, "instances/create", {"instance_name": "ok1", "credentials_profile": "nope"})
        bad_image = await call(rpc, s, "instances/create", {"instance_name": "ok2", "credentials_profile": "master_account",
                                                           "image": "no/such-image:1"})
        missing_cfg = await call(rpc, s, "bots/deploy-v2-controllers", {
            "instance_name": "ok3", "credentials_profile": "master_account", "controllers_config": ["nope"]})
        bad_script_cfg = await call(rpc, s, "instances/create", {"instance_name": "ok4",
                                                                "credentials_profile": "master_account",
                                                                "script_config": "../../etc/passwd"})
        unknown = await call(rpc, s, "docker/start", {"container_name": f"none{uuid.uuid4().hex[:6]}"})
    assert escape.status == 422
    assert bad_profile.status == 404 and "credentials profile" in bad_profile.msg
    assert bad_image.status == 404 and "pull it first" in bad_image.msg
    assert not (bots / "instances" / "ok2").exists()  # a failed run leaves no folder behind
    assert missing_cfg.status == 404
    assert bad_script_cfg.status == 422
    assert unknown.status == 404


async def _archive_steps(events: Collector, name: str) -> list[dict]:
    steps = []
    while True:
        ev = json.loads((await events.next(60)).payload)
        steps.append(ev)
        if ev["step"] == "done":
            return steps


async def test_stop_and_archive_with_a_failure_resumed(fleet_env, docker_engine, cleanup_containers):  # noqa: F811
    s, bots = fleet_env
    name = f"arch{uuid.uuid4().hex[:6]}"
    cleanup_containers.append(name)
    async with running(fleet, s), client(s) as rpc, \
            Collector(s, f"{s.prefix}/v1/fleet/events/archive/{name}") as events:
        created = await call(rpc, s, "instances/create", {"instance_name": name, "credentials_profile": "master_account"})
        assert created.status == 200, created.msg
        (bots / "archived" / name).mkdir()  # something in the way: the archive step will fail
        async with FakeBot(s, name, heartbeat_interval=0.2) as bot:
            first = await call(rpc, s, "bots/stop-and-archive", {"bot_name": name, "stop_timeout": 5})
            failed = await _archive_steps(events, name)
            cmd, req = await bot.commands.get()
            status_failed = await call(rpc, s, "bots/archive-status", {"bot_name": name})
        (bots / "archived" / name).rmdir()
        again = await call(rpc, s, "bots/stop-and-archive", {"bot_name": name})
        resumed = await _archive_steps(events, name)
        runs = await call(rpc, s, "runs/list", {"bot_name": name, "include_final_status": True})
        gone = await call(rpc, s, "docker/start", {"container_name": name})
    assert first.status == 200 and again.result["resumed"] is True
    outcome = {e["step"]: e["status"] for e in failed if e["status"] != "running"}
    assert outcome == {"final_status": "completed", "stop_bot": "completed", "stop_container": "completed",
                       "archive": "failed", "done": "failed"}
    assert cmd == "stop" and req["skip_order_cancellation"] is True
    assert status_failed.result["failed_step"] == "archive" and "already exists" in status_failed.result["error"]
    redone = [e["step"] for e in resumed if e["status"] == "running"]
    assert redone == ["archive", "remove_container", "mark_archived"]  # completed steps are not repeated
    assert resumed[-1] == {**resumed[-1], "step": "done", "status": "completed"}
    assert (bots / "archived" / name / "conf" / "conf_client.yml").is_file()
    run = runs.result["data"][0]
    assert (run["deployment_status"], run["run_status"]) == ("ARCHIVED", "STOPPED")
    assert run["final_status"]["bot_name"] == name and run["archived_at"]
    assert gone.status == 404
