"""svc_accounts settings: ``HBMESH_ACCOUNTS_*`` variables, plus ``CONFIG_PASSWORD`` (hummingbot-api's name)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AccountsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HBMESH_ACCOUNTS_", env_file=".env", extra="ignore")

    config_password: SecretStr | None = Field(default=None, validation_alias=AliasChoices("CONFIG_PASSWORD"))
    balance_interval_s: float = Field(default=300.0, ge=0)  # 0: no loop (refresh on request only)
    quote: str = "USDT"  # the currency balances are valued in (per-exchange defaults in balances.py)
    connector_timeout_s: float = Field(default=30.0, gt=0)  # one connector's balance read
    table_prefix: str = "accounts_"

    @property
    def password(self) -> str | None:
        return self.config_password.get_secret_value() if self.config_password else None
