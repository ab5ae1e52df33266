"""Gateway settings. USERNAME/PASSWORD keep hummingbot-api's env names so existing setups carry over."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "admin"


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HBMESH_GATEWAY_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    username: str = Field(DEFAULT_USERNAME, validation_alias=AliasChoices("USERNAME", "HBMESH_GATEWAY_USERNAME"))
    password: str = Field(DEFAULT_PASSWORD, validation_alias=AliasChoices("PASSWORD", "HBMESH_GATEWAY_PASSWORD"))
    tokens: list[str] = []  # bearer tokens accepted besides Basic auth
    cors_allow_origins: list[str] = []
    cors_allow_origin_regex: str | None = r"^https?://(localhost|127\.0\.0\.1)(:\d+)?$"
    cors_allow_credentials: bool = True
    ws_allowed_prefixes: list[str] | None = None  # default: the hbmesh prefix and the bots' namespace
    ws_queue_size: int = 1000  # per WebSocket client; beyond it messages are skipped, never waited for
    default_timeout_s: float = 30.0

    @property
    def insecure_defaults(self) -> bool:
        return self.username == DEFAULT_USERNAME or self.password == DEFAULT_PASSWORD
