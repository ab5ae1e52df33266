"""svc_fleet messages. Field names follow hummingbot-api (bot_name, instance_name, credentials_profile,
controllers_config, script_config, skip_order_cancellation, ...) so hummingbot-api-client works unchanged."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from .common import Name, Offset, RowId

# A bot as the broker knows it: instance ids of bots we did not create may hold dots (aiomqtt-era bots
# keep them in the topic, commlib-era bots turn them into levels). Never a topic separator or wildcard.
BotName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$", min_length=1, max_length=128)]
# Image references: registry/repo:tag, digests.
ImageName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$", min_length=1, max_length=255)]
ControllerType = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]+$", min_length=1, max_length=64)]
Days = Annotated[float, msgspec.Meta(ge=0)]
RpcTimeout = Annotated[float, msgspec.Meta(gt=0, le=600)]


# ---------------------------------------------------------------- bots
class BotRef(msgspec.Struct):
    bot_name: BotName


class StartBot(msgspec.Struct):
    """hummingbot-api StartBotAction; sent to the bot's `start` RPC."""

    bot_name: BotName
    log_level: str | None = None
    script: str | None = None
    conf: str | None = None
    is_quickstart: bool = False
    async_backend: bool = False
    timeout: RpcTimeout = 30.0


class StopBot(msgspec.Struct):
    bot_name: BotName
    skip_order_cancellation: bool = False
    async_backend: bool = False
    timeout: RpcTimeout = 30.0


class BotHistory(msgspec.Struct):
    bot_name: BotName
    days: Days = 0
    verbose: bool = False
    precision: int | None = None
    timeout: RpcTimeout = 30.0


class BotStatusRpc(msgspec.Struct):
    """The bot's own `status` RPC (text status of the running strategy)."""

    bot_name: BotName
    async_backend: bool = False
    timeout: RpcTimeout = 30.0


class BotConfig(msgspec.Struct):
    bot_name: BotName
    params: list[tuple[str, Any]] = []
    timeout: RpcTimeout = 30.0


class BotImport(msgspec.Struct):
    bot_name: BotName
    strategy: str
    timeout: RpcTimeout = 30.0


class BalanceLimit(msgspec.Struct):
    bot_name: BotName
    exchange: str
    asset: str
    amount: float
    timeout: RpcTimeout = 30.0


class BalancePaper(msgspec.Struct):
    bot_name: BotName
    asset: str
    amount: float
    timeout: RpcTimeout = 30.0


class BotStatusEvent(msgspec.Struct):
    """Published on <prefix>/v1/fleet/events/bots/<bot_name>/status when a bot's status changes."""

    bot_name: str
    status: str  # running | idle | stopped | stopping
    previous: str | None
    ts: float
    source: list[str] = []


class StopAndArchive(msgspec.Struct):
    bot_name: Name
    skip_order_cancellation: bool = True
    archive_locally: bool = True
    s3_bucket: str | None = None
    stop_timeout: RpcTimeout = 30.0


class ArchiveStep(msgspec.Struct):
    """Published on events/archive/<bot_name> for each step of stop-and-archive."""

    bot_name: str
    step: str  # final_status | stop_bot | stop_container | archive | remove_container | done
    status: str  # running | completed | failed | skipped
    detail: str = ""
    ts: float = 0.0


class ArchiveTaskRef(msgspec.Struct):
    bot_name: str


# ---------------------------------------------------------------- deployment
class V2ScriptDeployment(msgspec.Struct):
    instance_name: Name
    credentials_profile: Name
    image: ImageName | None = None
    script: Name | None = None
    script_config: str | None = None
    headless: bool = False


class V2ControllerDeployment(msgspec.Struct):
    instance_name: Name
    credentials_profile: Name
    controllers_config: list[str]
    max_global_drawdown_quote: float | None = None
    max_controller_drawdown_quote: float | None = None
    image: ImageName | None = None
    script_config: str | None = None
    headless: bool = False


class InstanceCreate(msgspec.Struct):
    """Create the instance folder and run the container (the deploy routes add a timestamp to the name)."""

    instance_name: Name
    credentials_profile: Name
    image: ImageName | None = None
    script: Name | None = None
    script_config: str | None = None
    headless: bool = True
    strategy_type: str = "script"  # script | controller


# ---------------------------------------------------------------- docker
class ImageQuery(msgspec.Struct):
    image_name: str | None = None


class ContainerQuery(msgspec.Struct):
    name_filter: str | None = None


class ContainerRef(msgspec.Struct):
    container_name: Name


class RemoveContainer(msgspec.Struct):
    container_name: Name
    archive_locally: bool = True
    s3_bucket: str | None = None


class PullImage(msgspec.Struct):
    image_name: ImageName


# ---------------------------------------------------------------- runs and performance
class RunQuery(msgspec.Struct):
    bot_name: str | None = None
    account_name: str | None = None
    strategy_type: str | None = None
    strategy_name: str | None = None
    run_status: str | None = None
    deployment_status: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    offset: Offset = 0
    include_final_status: bool = False


class RunRef(msgspec.Struct):
    bot_run_id: RowId


class PerformanceQuery(msgspec.Struct):
    bot_name: str | None = None
    controller_id: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    cursor: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    interval: str = "5m"


# ---------------------------------------------------------------- strategy library
class ControllerRef(msgspec.Struct):
    controller_type: ControllerType
    controller_name: Name


class ControllerCode(msgspec.Struct):
    """hummingbot-api's Controller body: {content, type?}."""

    controller_type: ControllerType
    controller_name: Name
    content: str
    type: str | None = None


class ControllerValidate(msgspec.Struct):
    controller_type: ControllerType
    controller_name: Name
    config: dict


class ConfigRef(msgspec.Struct):
    config_name: Name


class ConfigSave(msgspec.Struct):
    config_name: Name
    config: dict


class BotControllerConfig(msgspec.Struct):
    bot_name: Name
    controller_name: Name
    config: dict


class BotConfigsRef(msgspec.Struct):
    bot_name: Name


class ScriptRef(msgspec.Struct):
    script_name: Name


class ScriptCode(msgspec.Struct):
    script_name: Name
    content: str


# ---------------------------------------------------------------- gateway bodies (path parameters hold the names)
class ControllerBody(msgspec.Struct):
    content: str
    type: str | None = None


class ScriptBody(msgspec.Struct):
    content: str


class BotConfigBody(msgspec.Struct):
    params: list[tuple[str, Any]] = []
    timeout: RpcTimeout = 30.0


class BotImportBody(msgspec.Struct):
    strategy: str
    timeout: RpcTimeout = 30.0


class BalanceLimitBody(msgspec.Struct):
    exchange: str
    asset: str
    amount: float
    timeout: RpcTimeout = 30.0


class BalancePaperBody(msgspec.Struct):
    asset: str
    amount: float
    timeout: RpcTimeout = 30.0
