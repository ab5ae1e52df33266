"""The gateway's /bot-orchestration, /docker, /controllers and /scripts routes driven by hummingbot-api-client
1.5.9 (unchanged), against svc_fleet, a simulated bot and a real Docker engine."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest
import yaml

from svc_fleet.service import service as fleet
from tests.fakes.bot import HISTORY_TRADES, FakeBot, performance_report
from tests.fakes.docker_engine import IDLE_COMMAND, docker_engine, tiny_image  # noqa: F401 - fixtures
from tests.gateway_helpers import PASSWORD, USER, running_gateway, wait_online
from tests.mqtt_helpers import Collector, running

hummingbot_api_client = pytest.importorskip("hummingbot_api_client")

USER_CONTROLLER = '''
from hummingbot.strategy_v2.controllers.controller_base import ControllerBase, ControllerConfigBase


class MyCtrlConfig(ControllerConfigBase):
    controller_name: str = "my_ctrl"
    controller_type: str = "generic"
    spread: float = 0.01


class MyCtrl(ControllerBase):
    pass
'''

USER_SCRIPT = '''
from pydantic import Field

from hummingbot.client.config.config_data_types import BaseClientModel


class MyScriptConfig(BaseClientModel):
    script_file_name: str = "my_script.py"
    exchange: str = Field("binance_paper_trade")
    order_amount: float = 0.01
'''


@pytest.fixture
def fleet_env(settings, monkeypatch, tiny_image, docker_engine):  # noqa: F811
    # The client always names hummingbot-api's default image; on a test engine without it, the tiny image
    # stands in (a real hummingbot image, when present, is left alone: it has `sh` for IDLE_COMMAND too).
    import docker.errors

    try:
        docker_engine.images.get("hummingbot/hummingbot:latest")
    except docker.errors.ImageNotFound:
        docker_engine.images.get(tiny_image).tag("hummingbot/hummingbot", "latest")
    monkeypatch.setenv("HBMESH_FLEET_DEFAULT_IMAGE", tiny_image)
    monkeypatch.setenv("HBMESH_FLEET_CONTAINER_COMMAND", json.dumps(IDLE_COMMAND))
    monkeypatch.setenv("HBMESH_FLEET_STOP_CONTAINER_TIMEOUT_S", "5")
    s = settings.model_copy(update={"bot_namespace": f"hb{uuid.uuid4().hex[:6]}"})
    profile = s.data_dir / "bots" / "credentials" / "master_account"
    profile.mkdir(parents=True)
    (profile / "conf_client.yml").write_text("instance_id: x\n")
    return s


async def test_hummingbot_api_client_against_fleet(fleet_env, docker_engine):  # noqa: F811
    s = fleet_env
    created: list[str] = []
    async with running(fleet, s), running_gateway(s) as http, \
            Collector(s, f"{s.prefix}/v1/fleet/events/bots/+/status") as events:
        await wait_online(http, "fleet")
        api = hummingbot_api_client.HummingbotAPIClient(str(http.base_url), USER, PASSWORD)
        await api.init()
        try:
            # ---- controllers
            ctrls = await api.controllers.list_controllers()
            builtin = await api.controllers.get_controller("market_making", "pmm_simple")
            template = await api.controllers.get_controller_config_template("market_making", "pmm_simple")
            valid = await api.controllers.validate_controller_config("market_making", "pmm_simple", {
                "connector_name": "binance", "trading_pair": "BTC-USDT", "total_amount_quote": 100})
            with pytest.raises(aiohttp.ClientResponseError) as invalid:
                await api.controllers.validate_controller_config("market_making", "pmm_simple",
                                                                 {"total_amount_quote": "lots"})
            with pytest.raises(aiohttp.ClientResponseError) as readonly:
                await api.controllers.delete_controller("market_making", "pmm_simple")
            saved = await api.controllers.create_or_update_controller("generic", "my_ctrl",
                                                                      {"content": USER_CONTROLLER, "type": "generic"})
            user_template = await api.controllers.get_controller_config_template("generic", "my_ctrl")
            with pytest.raises(aiohttp.ClientResponseError) as bad_code:
                await api.controllers.create_or_update_controller("generic", "broken", {"content": "def ("})
            cfg_saved = await api.controllers.create_or_update_controller_config("pmm_b", {
                "controller_name": "pmm_simple", "controller_type": "market_making", "connector_name": "binance",
                "trading_pair": "ETH-USDT", "total_amount_quote": 50})
            cfgs = await api.controllers.list_controller_configs()
            cfg = await api.controllers.get_controller_config("pmm_b")
            ctrls_after = await api.controllers.list_controllers()
            deleted_ctrl = await api.controllers.delete_controller("generic", "my_ctrl")
            with pytest.raises(aiohttp.ClientResponseError) as missing_cfg:
                await api.controllers.get_controller_config("nope")
            # ---- scripts
            script_saved = await api.scripts.create_or_update_script("my_script", {"content": USER_SCRIPT})
            scripts = await api.scripts.list_scripts()
            script = await api.scripts.get_script("my_script")
            script_template = await api.scripts.get_script_config_template("my_script")
            await api.scripts.create_or_update_script_config("my_script_1", {"script_file_name": "my_script.py"})
            script_cfgs = await api.scripts.list_script_configs()
            await api.scripts.delete_script_config("my_script_1")
            await api.scripts.delete_script("my_script")
            # ---- docker
            docker_up = await api.docker.is_running()
            images = await api.docker.get_available_images("tiny-bot")
            pull = await api.docker.pull_image("hbmesh/not-there", "1")
            pulls = await api.docker.get_pull_status()
            # ---- deploy and bot orchestration
            deployed = await api.bot_orchestration.deploy_v2_controllers("gw", "master_account", ["pmm_b"])
            name = deployed["instance_name"]
            created.append(name)
            active = await api.docker.get_active_containers(name_filter=name)
            async with FakeBot(s, name, heartbeat_interval=0.2) as bot:
                await bot.log("started")
                await bot.performance({"pmm_b": performance_report()})
                await events.next(10, where=lambda m: json.loads(m.payload)["status"] == "running"
                                  and json.loads(m.payload)["bot_name"] == name)
                all_status = await api.bot_orchestration.get_active_bots_status()
                one = await api.bot_orchestration.get_bot_status(name)
                # get_bot_history() passes verbose=False as a bool query value, which aiohttp/yarl refuse
                # before sending (a client bug); the same request through the client's session:
                history = await api.bot_orchestration._get(f"/bot-orchestration/{name}/history",
                                                           params={"days": 1, "verbose": "false", "timeout": 5})
                started = await api.bot_orchestration.start_bot(name, script="v2_with_controllers.py")
                stopped = await api.bot_orchestration.stop_bot(name)
                with pytest.raises(aiohttp.ClientResponseError) as bot_error:
                    await api.bot_orchestration.start_bot(name)  # no script: the bot refuses
                latest_before = await api.bot_orchestration.get_latest_controller_performance(name)
            runs = await api.bot_orchestration.get_bot_runs(bot_name=name)
            run = await api.bot_orchestration.get_bot_run(runs["data"][0]["id"])
            archive = await api.bot_orchestration.stop_and_archive_bot(name)
            with pytest.raises(aiohttp.ClientResponseError) as no_bot:
                await api.bot_orchestration.get_bot_status("nobody")
            with pytest.raises(aiohttp.ClientResponseError) as no_run:
                await api.bot_orchestration.get_bot_run(999999)
        finally:
            await api.close()
            for n in created:
                try:
                    docker_engine.containers.get(n).remove(force=True)
                except Exception:  # noqa: BLE001
                    pass
    assert "pmm_simple" in ctrls["market_making"] and "PMMSimpleConfig" in builtin["content"]
    assert builtin["source"] == "builtin"
    assert template["title"] == "market_making/pmm_simple" and "total_amount_quote" in template["properties"]
    assert valid["valid"] is True and valid["config"]["trading_pair"] == "BTC-USDT"
    assert invalid.value.status == 422 and "total_amount_quote" in invalid.value.message
    assert readonly.value.status == 409
    assert saved["success"] is True and user_template["properties"]["spread"]["default"] == 0.01
    assert bad_code.value.status == 422 and "not valid Python" in bad_code.value.message
    assert cfg_saved["success"] and [c["config_name"] for c in cfgs] == ["pmm_b"]
    assert cfg["trading_pair"] == "ETH-USDT" and cfg["id"] == "pmm_b"
    assert ctrls_after["generic"] == ["my_ctrl"] and deleted_ctrl["success"]
    assert missing_cfg.value.status == 404
    assert script_saved["success"] and scripts == ["my_script"] and "MyScriptConfig" in script["content"]
    assert script_template["properties"]["order_amount"]["default"] == 0.01
    assert script_cfgs == [{"config_name": "my_script_1", "script_file_name": "my_script.py"}]
    assert docker_up == {"is_docker_running": True}
    assert any("hbmesh/tiny-bot:test" in i["tags"] for i in images)
    assert pull["image_name"] == "hbmesh/not-there:1" and pulls["pulls"][0]["image_name"] == "hbmesh/not-there:1"
    assert deployed["success"] and name.startswith("gw-") and [c["name"] for c in active] == [name]
    assert name in all_status["data"] and one["data"]["status"] == "running"
    assert one["data"]["general_logs"][0]["msg"] == "started"
    assert history["response"]["trades"] == HISTORY_TRADES
    assert started["response"]["status"] == 200 and stopped["status"] == "success"
    assert bot_error.value.status == 400 and "Strategy check" in bot_error.value.message
    assert latest_before["data"] == []  # no snapshot taken yet (every 5 minutes by default)
    assert run["data"]["run_status"] == "STOPPED" and run["data"]["strategy_type"] == "controller"
    assert archive["status"] == "success"
    assert no_bot.value.status == 404 and no_run.value.status == 404
    conf = yaml.safe_load((s.data_dir / "bots" / "conf" / "scripts" / f"{name}.yml").read_text())
    assert conf["controllers_config"] == ["pmm_b.yml"]
