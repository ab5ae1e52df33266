"""svc_accounts messages. Field names follow hummingbot-api (account_name, connector_name, account_names,
connector_names, refresh, skip_gateway, limit, cursor, start_time, end_time, interval)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .common import Name

# A credential value as hummingbot-api takes it: the body of add-credential is {field: value}.
CredentialValue = str | int | float | bool
Credentials = dict[str, CredentialValue]
HistoryInterval = Literal["1m", "5m", "15m", "30m", "1h", "4h", "12h", "1d"]
Time = Annotated[float, msgspec.Meta(ge=0, le=4_102_444_800_000)]  # up to 2100, in s or ms


class AccountReq(msgspec.Struct):
    account_name: Name


class CredentialReq(msgspec.Struct):
    account_name: Name
    connector_name: Name


class AddCredentialReq(msgspec.Struct):
    account_name: Name
    connector_name: Name
    credentials: Credentials


class ConnectorReq(msgspec.Struct):
    connector_name: Name


class Message(msgspec.Struct):
    """hummingbot-api's acknowledgement shape."""

    message: str


class Profile(msgspec.Struct):
    """An account's credentials folder, for svc_fleet to copy into a bot instance's ``conf/``.
    Secret fields are hummingbot-encrypted (CONFIG_PASSWORD); ``path`` is the folder on the service's disk."""

    account_name: str
    path: str
    files: dict[str, str]


class PortfolioStateReq(msgspec.Struct, forbid_unknown_fields=False):
    account_names: list[Name] | None = None
    connector_names: list[Name] | None = None
    skip_gateway: bool = False
    refresh: bool = False


class PortfolioHistoryReq(msgspec.Struct, forbid_unknown_fields=False):
    account_names: list[Name] | None = None
    connector_names: list[Name] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    cursor: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    start_time: Time | None = None  # epoch seconds (or ms)
    end_time: Time | None = None
    interval: HistoryInterval | None = None


class TokenBalance(msgspec.Struct):
    token: str
    units: float
    price: float
    value: float
    available_units: float


class ConnectorStatus(msgspec.Struct):
    account_name: str
    connector_name: str
    stale: bool
    error: str | None
    updated_ms: int | None


class PortfolioSnapshotEvent(msgspec.Struct):
    """Published on <prefix>/v1/accounts/events/portfolio/snapshot after every balance pass."""

    timestamp: str
    ts_ms: int
    quote: str
    state: dict[str, dict[str, list[TokenBalance]]]
    connectors: list[ConnectorStatus]


class AccountsStatus(msgspec.Struct):
    """Whether CONFIG_PASSWORD is set and decrypts every account (hummingbot-api issue #181)."""

    password_set: bool
    password_errors: dict[str, str]
    accounts: list[str]
    balance_interval_s: float
    quote: str


class AccountChange(msgspec.Struct):
    """Published on <prefix>/v1/accounts/events/accounts/<account_name> when an account or its credentials
    change (never with any credential value)."""

    account_name: str
    action: str  # account_added | account_deleted | credential_added | credential_deleted
    connector_name: str | None = None
