"""hummingbot-api /bot-orchestration/*, /docker/*, /controllers/*, /scripts/* onto svc_fleet's commands, plus
hbmesh's bot commands (config, import, balance, strategy status) and stop-and-archive progress.
Trailing slashes are exactly hummingbot-api's (the app runs with redirect_slashes=False)."""

from fastapi import APIRouter

from shared.schemas.fleet import (BalanceLimitBody, BalancePaperBody, BotConfigBody, BotImportBody, ControllerBody,
                                  InstanceCreate, PullImage, ScriptBody, StartBot, StopBot, V2ControllerDeployment,
                                  V2ScriptDeployment)

from ..relay import relay

router = APIRouter()
F = "fleet"
RPC = 615  # bot RPCs may wait up to 600 s for the bot
OPT_STR = (str | None, None)


def _run_id(data: dict) -> dict:
    value = data.get("bot_run_id", "")
    return {**data, "bot_run_id": int(value) if value.isdigit() else value}


# ------------------------------------------------------------------ bot orchestration
B = "/bot-orchestration"
relay(router, "GET", f"{B}/status", F, "bots/status", summary="Every known bot's status")
relay(router, "GET", f"{B}/mqtt", F, "bots/mqtt", summary="Broker connection and discovered bots")
relay(router, "GET", f"{B}/controller-performance-latest", F, "performance/latest", params={"bot_name": OPT_STR})
relay(router, "GET", f"{B}/controller-performance-history", F, "performance/history",
      params={"bot_name": OPT_STR, "controller_id": OPT_STR, "limit": (int, 100), "cursor": OPT_STR,
              "start_time": OPT_STR, "end_time": OPT_STR, "interval": (str, "5m")})
relay(router, "GET", f"{B}/bot-runs", F, "runs/list",
      params={"bot_name": OPT_STR, "account_name": OPT_STR, "strategy_type": OPT_STR, "strategy_name": OPT_STR,
              "run_status": OPT_STR, "deployment_status": OPT_STR, "limit": (int, 100), "offset": (int, 0),
              "include_final_status": (bool, False)})
relay(router, "GET", f"{B}/bot-runs/stats", F, "runs/stats")
relay(router, "GET", f"{B}/bot-runs/{{bot_run_id}}", F, "runs/get", shape=_run_id)
relay(router, "DELETE", f"{B}/bot-runs/{{bot_run_id}}", F, "runs/delete", shape=_run_id)
relay(router, "POST", f"{B}/start-bot", F, "bots/start", body=StartBot, timeout=RPC)
relay(router, "POST", f"{B}/stop-bot", F, "bots/stop", body=StopBot, timeout=RPC)
relay(router, "POST", f"{B}/stop-and-archive-bot/{{bot_name}}", F, "bots/stop-and-archive",
      params={"skip_order_cancellation": (bool, True), "archive_locally": (bool, True), "s3_bucket": OPT_STR})
relay(router, "POST", f"{B}/deploy-v2-script", F, "bots/deploy-v2-script", body=V2ScriptDeployment, timeout=300)
relay(router, "POST", f"{B}/deploy-v2-controllers", F, "bots/deploy-v2-controllers", body=V2ControllerDeployment,
      timeout=300)
relay(router, "POST", f"{B}/instances", F, "instances/create", body=InstanceCreate, timeout=300,
      summary="Create an instance with exactly this name (hbmesh)")
relay(router, "GET", f"{B}/{{bot_name}}/status", F, "bots/get")
relay(router, "GET", f"{B}/{{bot_name}}/history", F, "bots/history", timeout=RPC,
      params={"days": (float, 0), "verbose": (bool, False), "precision": (int | None, None), "timeout": (float, 30.0)})
relay(router, "GET", f"{B}/{{bot_name}}/strategy-status", F, "bots/strategy-status", timeout=RPC,
      params={"timeout": (float, 30.0)})
relay(router, "POST", f"{B}/{{bot_name}}/config", F, "bots/config", body=BotConfigBody, timeout=RPC)
relay(router, "POST", f"{B}/{{bot_name}}/import-strategy", F, "bots/import", body=BotImportBody, timeout=RPC)
relay(router, "POST", f"{B}/{{bot_name}}/balance-limit", F, "bots/balance-limit", body=BalanceLimitBody, timeout=RPC)
relay(router, "POST", f"{B}/{{bot_name}}/balance-paper", F, "bots/balance-paper", body=BalancePaperBody, timeout=RPC)
relay(router, "GET", f"{B}/{{bot_name}}/archive-status", F, "bots/archive-status")

# ------------------------------------------------------------------ docker
D = "/docker"
relay(router, "GET", f"{D}/running", F, "docker/running")
relay(router, "GET", f"{D}/available-images/", F, "docker/images", params={"image_name": OPT_STR})
relay(router, "GET", f"{D}/active-containers", F, "docker/active-containers", params={"name_filter": OPT_STR})
relay(router, "GET", f"{D}/exited-containers", F, "docker/exited-containers", params={"name_filter": OPT_STR})
relay(router, "POST", f"{D}/clean-exited-containers", F, "docker/clean-exited", timeout=120)
relay(router, "POST", f"{D}/remove-container/{{container_name}}", F, "docker/remove", timeout=600,
      params={"archive_locally": (bool, True), "s3_bucket": OPT_STR})
relay(router, "POST", f"{D}/stop-container/{{container_name}}", F, "docker/stop", timeout=60)
relay(router, "POST", f"{D}/start-container/{{container_name}}", F, "docker/start", timeout=60)
relay(router, "POST", f"{D}/pull-image/", F, "docker/pull", body=PullImage)
relay(router, "GET", f"{D}/pull-status/", F, "docker/pull-status")

# ------------------------------------------------------------------ controllers (configs before {type}/{name})
C = "/controllers"
relay(router, "GET", f"{C}/", F, "controllers/list")
relay(router, "GET", f"{C}/configs/", F, "controllers/configs/list")
relay(router, "GET", f"{C}/configs/{{config_name}}", F, "controllers/configs/get")
relay(router, "POST", f"{C}/configs/{{config_name}}", F, "controllers/configs/save", body=dict, body_field="config")
relay(router, "DELETE", f"{C}/configs/{{config_name}}", F, "controllers/configs/delete")
relay(router, "GET", f"{C}/bots/{{bot_name}}/configs", F, "controllers/bot-configs")
relay(router, "POST", f"{C}/bots/{{bot_name}}/{{controller_name}}/config", F, "controllers/bot-configs/update",
      body=dict, body_field="config")
relay(router, "GET", f"{C}/{{controller_type}}/{{controller_name}}", F, "controllers/get")
relay(router, "POST", f"{C}/{{controller_type}}/{{controller_name}}", F, "controllers/save", body=ControllerBody)
relay(router, "DELETE", f"{C}/{{controller_type}}/{{controller_name}}", F, "controllers/delete")
relay(router, "GET", f"{C}/{{controller_type}}/{{controller_name}}/config/template", F, "controllers/template",
      timeout=120)
relay(router, "POST", f"{C}/{{controller_type}}/{{controller_name}}/config/validate", F, "controllers/validate",
      body=dict, body_field="config", timeout=120)

# ------------------------------------------------------------------ scripts
S = "/scripts"
relay(router, "GET", f"{S}/", F, "scripts/list")
relay(router, "GET", f"{S}/configs/", F, "scripts/configs/list")
relay(router, "GET", f"{S}/configs/{{config_name}}", F, "scripts/configs/get")
relay(router, "POST", f"{S}/configs/{{config_name}}", F, "scripts/configs/save", body=dict, body_field="config")
relay(router, "DELETE", f"{S}/configs/{{config_name}}", F, "scripts/configs/delete")
relay(router, "GET", f"{S}/{{script_name}}", F, "scripts/get")
relay(router, "POST", f"{S}/{{script_name}}", F, "scripts/save", body=ScriptBody)
relay(router, "DELETE", f"{S}/{{script_name}}", F, "scripts/delete")
relay(router, "GET", f"{S}/{{script_name}}/config/template", F, "scripts/template", timeout=120)
