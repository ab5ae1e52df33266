"""svc_fleet settings, from `HBMESH_FLEET_*` environment variables and `.env`.

Network mode, extra mounts and resource limits of bot containers are settings (hummingbot-api hard-codes
host networking, users asked for this: hummingbot-api issue #87).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FleetSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HBMESH_FLEET_", env_file=".env", extra="ignore")

    # hummingbot-api's bots/ layout, shared with svc_archive (which reads the same variables); default <data>/bots
    bots_dir: Path | None = Field(None, validation_alias=AliasChoices("HBMESH_FLEET_BOTS_DIR", "HBMESH_BOTS_DIR"))
    default_image: str = "hummingbot/hummingbot:latest"
    docker_url: str | None = None  # default: DOCKER_HOST or the local socket
    network_mode: str = "host"
    extra_mounts: list[str] = []  # "host_path:container_path[:ro|rw]"
    mem_limit: str | None = None  # e.g. "1g"
    cpu_limit: float | None = None  # CPUs, e.g. 1.5
    container_user: str | None = None  # e.g. "1000:1000"
    container_command: list[str] | None = None  # override the image's command (tests)
    mount_library: bool = True  # mount the library's scripts/ and controllers/ into bots
    config_password: str | None = None  # CONFIG_PASSWORD passed to bots
    # What bots write into conf_client.yml as their broker (bots often run elsewhere than hbmesh).
    bot_broker_host: str | None = None  # default: the broker host hbmesh uses
    bot_broker_port: int | None = None
    bot_broker_username: str | None = None
    bot_broker_password: str | None = None
    stale_after_s: float = 30.0  # a bot not heard from for this long is stopped
    sweep_interval_s: float = 1.0
    docker_poll_interval_s: float = 5.0
    performance_snapshot_interval_s: float = 300.0
    stop_container_timeout_s: int = 10

    def resolved_bots_dir(self, data_dir: Path) -> Path:
        return (self.bots_dir or Path(data_dir) / "bots").resolve()
