"""Settings for every hbmesh process, from `HBMESH_*` environment variables and `.env`."""

from __future__ import annotations

import os
import socket
import uuid
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HBMESH_", env_file=".env", extra="ignore")

    broker_url: str = "mqtt://127.0.0.1:1883"
    broker_username: str | None = None
    broker_password: str | None = None
    broker_tls: bool = False
    broker_ca_file: str | None = None
    prefix: str = "hbmesh"
    bot_namespace: str = "hbot"
    instance_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    data_dir: Path = Path("data")
    bots_dir_override: Path | None = Field(default=None, validation_alias="HBMESH_BOTS_DIR")
    database_url: str | None = None
    # Where candles live: a folder, or a pyarrow filesystem URI such as
    # s3://bucket/prefix?endpoint_override=host:port&scheme=http so several machines share one store.
    candle_store: str | None = None
    log_level: str = "INFO"
    max_concurrency: int = 64
    default_timeout_s: float = 30.0
    reconnect_max_backoff_s: float = 2.0
    session_expiry_s: int = 300  # clients (gateway, CLI): replies queued while they reconnect are kept
    # Services hold shared subscriptions: the broker keeps routing commands to a member's session until it
    # expires, so a dead instance's session must expire fast or it swallows a share of the commands.
    service_session_expiry_s: int = 3  # longer than the reconnect backoff cap (reconnect_max_backoff_s)

    @property
    def bots_dir(self) -> Path:
        """Bot instances, archives and credentials (hummingbot-api's bots/ folder); shared by services."""
        return self.bots_dir_override or self.data_dir / "bots"

    @property
    def candle_store_root(self) -> str:
        return self.candle_store or str(self.data_dir)

    @property
    def broker_host(self) -> str:
        return urlparse(self.broker_url).hostname or "127.0.0.1"

    @property
    def broker_port(self) -> int:
        parsed = urlparse(self.broker_url)
        return parsed.port or (8883 if parsed.scheme in ("mqtts", "ssl") else 1883)

    @property
    def tls_enabled(self) -> bool:
        return self.broker_tls or urlparse(self.broker_url).scheme in ("mqtts", "ssl")

    def sqlalchemy_url(self, name: str) -> str:
        """The database for `name`: HBMESH_DATABASE_URL when set, else a SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / f'{name}.sqlite').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
