"""svc_fleet's bots folder and strategy library at the domain level: containment, read-only built-ins, configs."""

from __future__ import annotations

import pytest
import yaml

from shared.errors import BadRequest, Conflict, Invalid, NotFound
from svc_fleet.instances import BotsFolder, BrokerForBots, create
from svc_fleet.library import Library


@pytest.fixture
def lib(tmp_path):
    return Library(BotsFolder(tmp_path / "bots"))


def test_nothing_escapes_the_bots_folder(lib):
    folder = lib.bots
    with pytest.raises(BadRequest):
        folder.path("..", "outside")
    for bad in ("../x", "a/b", "", ".", "x y"):
        with pytest.raises(Invalid):
            folder.instance(bad)
    with pytest.raises(Invalid):
        lib.get_controller_config("../../etc/passwd")
    with pytest.raises(Invalid):
        lib.save_controller("market_making", "../evil", "x = 1")


def test_builtins_are_listed_and_read_only_user_code_is_checked(lib):
    assert "pmm_simple" in lib.list_controllers()["market_making"]
    assert lib.get_controller("market_making", "pmm_simple")["source"] == "builtin"
    with pytest.raises(Conflict):
        lib.save_controller("market_making", "pmm_simple", "x = 1")
    with pytest.raises(Conflict):
        lib.delete_controller("market_making", "pmm_simple")
    with pytest.raises(Invalid):
        lib.save_controller("generic", "bad", "def (")
    lib.save_controller("generic", "mine", "x = 1\n")
    assert lib.list_controllers()["generic"] == ["mine"] and lib.get_controller("generic", "mine")["source"] == "user"
    lib.delete_controller("generic", "mine")
    with pytest.raises(NotFound):
        lib.get_controller("generic", "mine")


def test_configs_round_trip_and_bot_config_update(lib, tmp_path):
    lib.save_controller_config("c1.yml", {"controller_name": "pmm_simple", "total_amount_quote": 10})
    assert lib.get_controller_config("c1") == {"config_name": "c1", "controller_name": "pmm_simple",
                                               "total_amount_quote": 10, "id": "c1"}
    lib.save_script_config("s1", {"script_file_name": "v2_with_controllers.py", "controllers_config": ["c1.yml"]})
    profile = lib.bots.credentials("acc")
    profile.mkdir()
    plan = create(lib.bots, "bot1", "acc", BrokerForBots("10.0.0.5", 1884, namespace="hbot"), "img:1",
                  script_config="s1", config_password="pw", extra_mounts=["/srv/certs:/home/hummingbot/certs:ro"])
    assert plan.controllers == ["c1.yml"] and plan.environment == {"HEADLESS_MODE": "true", "CONFIG_PASSWORD": "pw",
                                                                   "SCRIPT_CONFIG": "s1.yml"}
    assert plan.volumes["/srv/certs"] == {"bind": "/home/hummingbot/certs", "mode": "ro"}
    conf = yaml.safe_load((plan.folder / "conf" / "conf_client.yml").read_text())
    assert conf["instance_id"] == "bot1" and conf["mqtt_bridge"]["mqtt_host"] == "10.0.0.5"
    lib.update_bot_controller_config("bot1", "c1", {"manual_kill_switch": True})
    assert lib.bot_controller_configs("bot1")[0]["manual_kill_switch"] is True
    with pytest.raises(Invalid):
        create(lib.bots, "bot2", "acc", BrokerForBots("h", 1), "img", extra_mounts=["relative:/x"])
    assert not lib.bots.instance("bot2").exists()  # refused before anything was written
    with pytest.raises(NotFound):
        lib.delete_script_config("nope")


def test_profile_from_accounts_is_written_safely(lib):
    from svc_fleet.instances import write_profile

    dst = write_profile(lib.bots, "acc2", {"conf_client.yml": "instance_id: a\n", "connectors/binance.yml": "k: v\n"})
    assert (dst / "connectors" / "binance.yml").read_text() == "k: v\n"
    with pytest.raises(BadRequest):
        write_profile(lib.bots, "acc3", {"../../escape.yml": "x"})
    assert not (lib.bots.root / "escape.yml").exists() and not (lib.bots.root.parent / "escape.yml").exists()
