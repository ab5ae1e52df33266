"""svc_fleet's entrypoints: bot containers on a Docker engine, bot control over the bots' own MQTT protocol,
the strategy library, bot runs and performance snapshots.

Wiring only: domain code lives in bot_protocol, bot_rpc, bots, instances, docker_ops, library, runs,
archive_task. Blocking work (Docker, files, SQL, hummingbot imports) runs in threads.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import contextlib
import datetime as dt
import logging
import os
import shutil
import time
from typing import Any

import msgspec

from shared.errors import Conflict, HbError, Invalid, NotFound, TimedOut, Unavailable
from shared.mqtt import Message
from shared.presence import PresenceTracker
from shared.schemas.fleet import (ArchiveStep, BalanceLimit, BalancePaper, BotConfig, BotConfigsRef,
                                  BotControllerConfig, BotHistory, BotImport, BotRef, BotStatusEvent, BotStatusRpc,
                                  ConfigRef, ConfigSave, ContainerQuery, ContainerRef, ControllerCode, ControllerRef,
                                  ControllerValidate, ImageQuery, InstanceCreate, PerformanceQuery, PullImage,
                                  RemoveContainer, RunQuery, RunRef, ScriptCode, ScriptRef, StartBot, StopAndArchive,
                                  StopBot, V2ControllerDeployment, V2ScriptDeployment)
from shared.service import Runtime, Service

from . import bot_protocol as bp
from .archive_task import ArchiveTask, Skip
from .bot_rpc import BotCaller
from .bots import Registry
from .docker_ops import DockerOps
from .instances import (BotsFolder, BrokerForBots, archive_locally, create, write_controllers_script_config,
                        write_profile)
from .library import Library
from .runs import RunStore
from .settings import FleetSettings

log = logging.getLogger("hbmesh.fleet")

service = Service("fleet", "Bot containers on Docker, bot control over the bots' MQTT protocol, strategy library")
service.event("bots/{bot_name}/status", BotStatusEvent, "A bot's status changed (running / idle / stopped / stopping)")
service.event("archive/{bot_name}", ArchiveStep, "Each step of a stop-and-archive task")

RPC_SLACK = 5.0  # handler timeout beyond the bot RPC timeout


class State:
    def __init__(self, rt: Runtime, fs: FleetSettings):
        self.fs = fs
        self.namespace = rt.settings.bot_namespace
        self.folder = BotsFolder(fs.resolved_bots_dir(rt.settings.data_dir))
        self.library = Library(self.folder)
        self.docker = DockerOps(fs.docker_url)
        self.runs = RunStore(rt.settings.sqlalchemy_url("fleet"))
        self.registry = Registry(fs.stale_after_s)
        safe_id = "".join(c if c.isalnum() or c in "-_" else "-" for c in rt.instance_id)
        base = rt.topics.reply_base(f"fleet-bots-{safe_id}")
        if "." in base:  # a prefix with dots: use commlib's own top-level style instead
            base = f"rpc-fleet-{safe_id}"
        self.caller = BotCaller(lambda t, p, q: rt.link.publish(t, p, qos=q), base)
        self.presence = PresenceTracker(rt.link, rt.topics)
        self.changes: asyncio.Queue = asyncio.Queue()
        self.archives: dict[str, ArchiveTask] = {}
        self.archive_jobs: dict[str, asyncio.Task] = {}
        self.tasks: list[asyncio.Task] = []
        self.config_password = fs.config_password or os.environ.get("CONFIG_PASSWORD")

    def broker_for_bots(self, rt: Runtime) -> BrokerForBots:
        s, fs = rt.settings, self.fs
        return BrokerForBots(fs.bot_broker_host or s.broker_host, fs.bot_broker_port or s.broker_port,
                             fs.bot_broker_username if fs.bot_broker_username is not None else (s.broker_username or ""),
                             fs.bot_broker_password if fs.bot_broker_password is not None else (s.broker_password or ""),
                             bp.namespace_of(s.bot_namespace))


# ---------------------------------------------------------------- lifespan and background loops
@service.lifespan
async def lifespan(rt: Runtime):
    state = State(rt, FleetSettings())

    def on_bot_message(msg: Message) -> None:
        change = state.registry.observe(state.namespace, msg.topic, msg.payload)
        if change is not None:
            state.changes.put_nowait(change)

    await rt.link.subscribe(f"{bp.namespace_of(state.namespace)}/#", on_bot_message, qos=0)
    await rt.link.subscribe(state.caller.reply_filter, lambda m: state.caller.on_reply(m.topic, m.payload), qos=1)
    await state.presence.start()
    state.tasks = [asyncio.create_task(_publish_changes(rt, state)), asyncio.create_task(_sweep(state)),
                   asyncio.create_task(_docker_poll(state)), asyncio.create_task(_snapshots(state))]
    try:
        yield state
    finally:
        for t in [*state.tasks, *state.archive_jobs.values()]:
            t.cancel()
        await asyncio.gather(*state.tasks, *state.archive_jobs.values(), return_exceptions=True)
        await asyncio.to_thread(state.runs.close)


async def _publish_changes(rt: Runtime, state: State) -> None:
    while True:
        name, old, new = await state.changes.get()
        st = state.registry.bots.get(name)
        try:
            if new == "running":
                await asyncio.to_thread(state.runs.mark, name, run_status="RUNNING")
            await rt.emit(f"bots/{name}/status", BotStatusEvent(name, new, old, time.time(),
                                                                sorted(st.sources) if st else []), qos=1)
        except Exception:  # noqa: BLE001 - one failed publish must not end the loop
            log.exception("status event failed", extra={"bot": name})


async def _sweep(state: State) -> None:
    while True:
        await asyncio.sleep(state.fs.sweep_interval_s)
        for change in state.registry.sweep():
            state.changes.put_nowait(change)


async def _docker_poll(state: State) -> None:
    """Docker's side of discovery: running bot containers (ours by label, or any hummingbot image)."""
    while True:
        try:
            running = await asyncio.to_thread(state.docker.containers, "running")
            names = set()
            for c in running:
                if c["labels"].get("hbmesh.fleet") == "bot" or "/hummingbot:" in f"/{c['image']}":
                    names.add(c["name"])
                    if (change := state.registry.set_container(c["name"], c)) is not None:
                        state.changes.put_nowait(change)
            for name, st in list(state.registry.bots.items()):
                if st.container is not None and name not in names:
                    if (change := state.registry.set_container(name, None)) is not None:
                        state.changes.put_nowait(change)
        except HbError:
            pass  # no engine: discovery runs on MQTT alone
        except Exception:  # noqa: BLE001
            log.exception("docker discovery failed")
        await asyncio.sleep(state.fs.docker_poll_interval_s)


async def _snapshots(state: State) -> None:
    while True:
        await asyncio.sleep(state.fs.performance_snapshot_interval_s)
        try:
            await asyncio.to_thread(state.runs.snapshot, state.registry.performance_rows())
        except Exception:  # noqa: BLE001
            log.exception("performance snapshot failed")


def _state(rt: Runtime) -> State:
    return rt.state


# ---------------------------------------------------------------- bot status
@service.command("bots/status")
async def bots_status(req: Any, rt: Runtime) -> dict:
    """Every known bot: {status, performance, error_logs, general_logs, recently_active, source} (hummingbot-api)."""
    return {"status": "success", "data": _state(rt).registry.snapshot()}


@service.command("bots/get")
async def bot_get(req: BotRef, rt: Runtime) -> dict:
    """One bot's status, logs, performance and market events."""
    view = _state(rt).registry.view(req.bot_name)
    if view is None:
        raise NotFound(f"bot '{req.bot_name}' not found")
    return {"status": "success", "data": view}


@service.command("bots/mqtt")
async def bots_mqtt(req: Any, rt: Runtime) -> dict:
    """Broker connection and discovered bots (hummingbot-api GET /bot-orchestration/mqtt)."""
    state = _state(rt)
    discovered = state.registry.discovered()
    return {"status": "success", "data": {
        "mqtt_connected": rt.link.connected, "discovered_bots": discovered,
        "active_bots": [n for n in discovered if state.registry.bots[n].status == "running"],
        "broker_host": rt.settings.broker_host, "broker_port": rt.settings.broker_port,
        "broker_username": rt.settings.broker_username, "namespace": state.namespace,
        "client_state": "connected" if rt.link.connected else "disconnected",
        "messages_seen": state.registry.messages}}


# ---------------------------------------------------------------- bot commands (bot RPC)
async def _bot_call(rt: Runtime, bot: str, command: str, data: dict, timeout: float) -> dict:
    state = _state(rt)
    st = state.registry.bots.get(bot)
    if st is None:
        raise NotFound(f"bot '{bot}' not found (never seen on MQTT or Docker)")
    return await state.caller.call(state.namespace, bot, st.topic_id, command, data, timeout)


@service.command("bots/start", timeout=600 + RPC_SLACK)
async def bot_start(req: StartBot, rt: Runtime) -> dict:
    """The bot's `start` RPC (hummingbot-api POST /bot-orchestration/start-bot)."""
    reply = await _bot_call(rt, req.bot_name, "start", bp.start_request(
        req.log_level, req.script, req.conf, req.is_quickstart, req.async_backend), req.timeout)
    await asyncio.to_thread(_state(rt).runs.mark, req.bot_name, run_status="RUNNING")
    return {"status": "success", "response": reply}


@service.command("bots/stop", timeout=600 + RPC_SLACK)
async def bot_stop(req: StopBot, rt: Runtime) -> dict:
    """The bot's `stop` RPC; marks the bot's run STOPPED (hummingbot-api POST /bot-orchestration/stop-bot)."""
    reply = await _bot_call(rt, req.bot_name, "stop", bp.stop_request(req.skip_order_cancellation,
                                                                       req.async_backend), req.timeout)
    await asyncio.to_thread(_state(rt).runs.mark, req.bot_name, run_status="STOPPED")
    return {"status": "success", "response": reply}


@service.command("bots/history", timeout=600 + RPC_SLACK)
async def bot_history(req: BotHistory, rt: Runtime) -> dict:
    """The bot's `history` RPC: trades of the running strategy."""
    reply = await _bot_call(rt, req.bot_name, "history", bp.history_request(req.days, req.verbose, req.precision),
                            req.timeout)
    return {"status": "success", "response": reply}


@service.command("bots/strategy-status", timeout=600 + RPC_SLACK)
async def bot_strategy_status(req: BotStatusRpc, rt: Runtime) -> dict:
    """The bot's `status` RPC (text status of the running strategy)."""
    reply = await _bot_call(rt, req.bot_name, "status", bp.status_request(req.async_backend), req.timeout)
    return {"status": "success", "response": reply}


@service.command("bots/config", timeout=600 + RPC_SLACK)
async def bot_config(req: BotConfig, rt: Runtime) -> dict:
    """The bot's `config` RPC: [[key, value], ...] changes; an empty list reads the config."""
    reply = await _bot_call(rt, req.bot_name, "config", bp.config_request(req.params), req.timeout)
    return {"status": "success", "response": reply}


@service.command("bots/import", timeout=600 + RPC_SLACK)
async def bot_import(req: BotImport, rt: Runtime) -> dict:
    """The bot's `import` RPC (a V1 strategy config from conf/strategies)."""
    if not req.strategy:
        raise Invalid("strategy: must not be empty")
    reply = await _bot_call(rt, req.bot_name, "import", bp.import_request(req.strategy), req.timeout)
    return {"status": "success", "response": reply}


@service.command("bots/balance-limit", timeout=600 + RPC_SLACK)
async def bot_balance_limit(req: BalanceLimit, rt: Runtime) -> dict:
    """The bot's `balance/limit` RPC."""
    reply = await _bot_call(rt, req.bot_name, "balance_limit",
                            bp.balance_limit_request(req.exchange, req.asset, req.amount), req.timeout)
    return {"status": "success", "response": reply}


@service.command("bots/balance-paper", timeout=600 + RPC_SLACK)
async def bot_balance_paper(req: BalancePaper, rt: Runtime) -> dict:
    """The bot's `balance/paper` RPC."""
    reply = await _bot_call(rt, req.bot_name, "balance_paper", bp.balance_paper_request(req.asset, req.amount),
                            req.timeout)
    return {"status": "success", "response": reply}


# ---------------------------------------------------------------- deployment
def _unique(name: str) -> str:
    return f"{name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


async def _deploy(rt: Runtime, req: InstanceCreate, strategy_name: str | None, extra_config: dict | None) -> dict:
    state = _state(rt)
    fs = state.fs
    image = req.image or fs.default_image
    if state.presence.online("accounts"):  # the account's credentials come from svc_accounts when it runs
        profile = await rt.call("accounts", "profile", {"account_name": req.credentials_profile}, timeout=60)
        own = state.folder.credentials(req.credentials_profile).resolve()
        if Path(profile.get("path") or "").resolve() != own:  # a shared bots dir: svc_accounts' folder is ours
            await asyncio.to_thread(write_profile, state.folder, req.credentials_profile, profile["files"])
    plan = await asyncio.to_thread(
        create, state.folder, req.instance_name, req.credentials_profile, state.broker_for_bots(rt), image,
        script_config=req.script_config, headless=req.headless, config_password=state.config_password,
        mount_library=fs.mount_library, extra_mounts=fs.extra_mounts)
    config = {**plan.config, **(extra_config or {})}
    try:
        container = await asyncio.to_thread(
            state.docker.run_bot, plan, network_mode=fs.network_mode, mem_limit=fs.mem_limit,
            cpu_limit=fs.cpu_limit, user=fs.container_user, command=fs.container_command)
    except HbError as exc:
        await asyncio.to_thread(shutil.rmtree, plan.folder, True)
        await asyncio.to_thread(state.runs.add, plan.name, plan.name, req.credentials_profile, req.strategy_type,
                                strategy_name, image, config, "FAILED", exc.msg)
        raise
    run_id = await asyncio.to_thread(state.runs.add, plan.name, plan.name, req.credentials_profile,
                                     req.strategy_type, strategy_name, image, config)
    if (change := state.registry.set_container(plan.name, container)) is not None:
        state.changes.put_nowait(change)
    return {"success": True, "message": f"instance {plan.name} created and started", "instance_name": plan.name,
            "unique_instance_name": plan.name, "bot_run_id": run_id, "container": container,
            "script_config": plan.script_config, "controllers_config": plan.controllers}


@service.command("instances/create", timeout=300)
async def instance_create(req: InstanceCreate, rt: Runtime) -> dict:
    """Create the instance folder (conf from the credentials profile, configs, data, logs) and run the bot."""
    return await _deploy(rt, req, req.script or req.script_config, None)


@service.command("bots/deploy-v2-script", timeout=300)
async def deploy_script(req: V2ScriptDeployment, rt: Runtime) -> dict:
    """hummingbot-api deploy-v2-script: a uniquely named instance running a script (config)."""
    state = _state(rt)
    name = _unique(req.instance_name)
    script_config = req.script_config
    if script_config is None and req.script:
        script_config = f"{name}.yml"
        await asyncio.to_thread(state.library.save_script_config, name, {"script_file_name": f"{req.script}.py"})
    return await _deploy(rt, InstanceCreate(name, req.credentials_profile, req.image, req.script, script_config,
                                            req.headless, "script"), req.script or script_config, None)


@service.command("bots/deploy-v2-controllers", timeout=300)
async def deploy_controllers(req: V2ControllerDeployment, rt: Runtime) -> dict:
    """hummingbot-api deploy-v2-controllers: writes a v2_with_controllers script config, then deploys it."""
    state = _state(rt)
    if not req.controllers_config:
        raise Invalid("controllers_config: at least one controller config is needed")
    name = _unique(req.instance_name)
    script_config = req.script_config or await asyncio.to_thread(
        write_controllers_script_config, state.folder, name, req.controllers_config, req.max_global_drawdown_quote,
        req.max_controller_drawdown_quote)
    return await _deploy(rt, InstanceCreate(name, req.credentials_profile, req.image, None, script_config,
                                            req.headless, "controller"), ",".join(req.controllers_config),
                         {"controllers_config": req.controllers_config})


# ---------------------------------------------------------------- stop and archive
async def _archive_folder(rt: Runtime, state: State, name: str, archive_locally_: bool, s3_bucket: str | None) -> str:
    folder = state.folder.instance(name)
    if not folder.is_dir():
        raise Skip(f"no instance folder for {name}")
    if state.presence.online("archive"):
        result = await rt.call("archive", "bots/archive", {"instance_name": name, "path": str(folder),
                                                           "archive_locally": archive_locally_,
                                                           "s3_bucket": s3_bucket}, timeout=600)
        return f"handed to svc_archive: {result}"
    if not archive_locally_:
        raise Unavailable("archiving to S3 needs the archive service, and no archive instance is online")
    dst = await asyncio.to_thread(archive_locally, state.folder, name)
    return f"moved to {dst} (no archive service online)"


async def _run_archive(rt: Runtime, state: State, task: ArchiveTask) -> None:
    name, opts = task.bot_name, task.options

    async def report(step: str, status: str, detail: str) -> None:
        await rt.emit(f"archive/{name}", ArchiveStep(name, step, status, detail, time.time()), qos=1)

    async def final_status() -> str:
        view = state.registry.view(name)
        if not await asyncio.to_thread(state.runs.mark, name, final_status=view or {}):
            return "no bot run recorded for this bot"
        return "captured"

    async def stop_bot() -> str:
        st = state.registry.bots.get(name)
        if st is None or not st.last_seen or st.availability == "offline":
            raise Skip("bot not connected to the broker")
        reply = await state.caller.call(state.namespace, name, st.topic_id, "stop",
                                        bp.stop_request(opts["skip_order_cancellation"], False), opts["stop_timeout"])
        await asyncio.to_thread(state.runs.mark, name, run_status="STOPPED")
        return reply.get("msg") or "stopped"

    async def stop_container() -> str:
        try:
            await asyncio.to_thread(state.docker.stop, name, state.fs.stop_container_timeout_s)
        except NotFound:
            raise Skip("no container") from None
        status = await asyncio.to_thread(state.docker.wait_status, name, ("exited", "dead"),
                                         state.fs.stop_container_timeout_s + 10)
        if status not in ("exited", "dead"):
            raise TimedOut(f"container still {status}")
        return status

    async def archive() -> str:
        return await _archive_folder(rt, state, name, opts["archive_locally"], opts["s3_bucket"])

    async def remove_container() -> str:
        try:
            return (await asyncio.to_thread(state.docker.remove, name, task.attempts > 1))["message"]
        except NotFound:
            raise Skip("no container") from None

    async def mark_archived() -> str:
        await asyncio.to_thread(state.runs.mark, name, run_status="STOPPED", deployment_status="ARCHIVED")
        return "run archived"

    steps = {"final_status": final_status, "stop_bot": stop_bot, "stop_container": stop_container,
             "archive": archive, "remove_container": remove_container, "mark_archived": mark_archived}
    if (change := state.registry.set_stopping(name, True)) is not None:
        state.changes.put_nowait(change)
    try:
        await task.run(steps, report, fatal=("stop_container", "archive", "remove_container", "mark_archived"))
        await report("done", task.status, task.error or "")
    finally:
        if task.status == "completed":
            state.registry.forget(name)
            state.changes.put_nowait((name, "stopping", "stopped"))
        elif (change := state.registry.set_stopping(name, False)) is not None:
            state.changes.put_nowait(change)


@service.command("bots/stop-and-archive", timeout=10)
async def stop_and_archive(req: StopAndArchive, rt: Runtime) -> dict:
    """Background task: stop the bot, stop the container, archive the folder, remove the container; each step is
    an event on events/archive/<bot_name>. Calling it again after a failure resumes at the failed step."""
    state = _state(rt)
    job = state.archive_jobs.get(req.bot_name)
    if job is not None and not job.done():
        raise Conflict(f"stop-and-archive of {req.bot_name} is already running")
    task = state.archives.get(req.bot_name)
    if task is None or task.status == "completed":
        known = req.bot_name in state.registry.bots or state.folder.instance(req.bot_name).is_dir()
        if not known:
            raise NotFound(f"bot '{req.bot_name}' not found")
        task = state.archives[req.bot_name] = ArchiveTask(req.bot_name, msgspec.to_builtins(req))
    state.archive_jobs[req.bot_name] = asyncio.create_task(_run_archive(rt, state, task))
    return {"status": "success", "message": f"Stopping and archiving bot {req.bot_name} in the background",
            "bot_name": req.bot_name, "resumed": task.attempts > 0}


@service.command("bots/archive-status")
async def archive_status(req: BotRef, rt: Runtime) -> dict:
    """Progress of a bot's stop-and-archive task, step by step."""
    task = _state(rt).archives.get(req.bot_name)
    if task is None:
        raise NotFound(f"no stop-and-archive task for '{req.bot_name}'")
    return task.view()


# ---------------------------------------------------------------- runs and performance
@service.command("runs/list")
async def runs_list(req: RunQuery, rt: Runtime) -> dict:
    """Bot runs, newest first (hummingbot-api GET /bot-orchestration/bot-runs)."""
    q = msgspec.to_builtins(req)
    page = await asyncio.to_thread(_state(rt).runs.list, **q)
    return {"status": "success", **page}


@service.command("runs/get")
async def runs_get(req: RunRef, rt: Runtime) -> dict:
    run = await asyncio.to_thread(_state(rt).runs.get, req.bot_run_id)
    if run is None:
        raise NotFound(f"bot run {req.bot_run_id} not found")
    return {"status": "success", "data": run}


@service.command("runs/delete")
async def runs_delete(req: RunRef, rt: Runtime) -> dict:
    """Delete a run and its archived folder (archived/<instance>) when there is one."""
    state = _state(rt)
    run = await asyncio.to_thread(state.runs.delete, req.bot_run_id)
    if run is None:
        raise NotFound(f"bot run {req.bot_run_id} not found")
    archived = state.folder.path("archived", run["instance_name"])
    removed = archived.is_dir()
    if removed:
        await asyncio.to_thread(shutil.rmtree, archived, True)
    return {"status": "success", "message": f"bot run {req.bot_run_id} deleted", "archive_removed": removed}


@service.command("runs/stats")
async def runs_stats(req: Any, rt: Runtime) -> dict:
    return {"status": "success", "data": await asyncio.to_thread(_state(rt).runs.stats)}


@service.command("performance/latest")
async def performance_latest(req: PerformanceQuery, rt: Runtime) -> dict:
    """The latest stored snapshot per bot and controller."""
    rows = await asyncio.to_thread(_state(rt).runs.latest_performance, req.bot_name)
    return {"status": "success", "data": rows}


@service.command("performance/history")
async def performance_history(req: PerformanceQuery, rt: Runtime) -> dict:
    q = msgspec.to_builtins(req)
    return {"status": "success", **await asyncio.to_thread(_state(rt).runs.performance_history, **q)}


@service.command("performance/snapshot")
async def performance_snapshot(req: Any, rt: Runtime) -> dict:
    """Store a snapshot of every running controller now (also done every performance_snapshot_interval_s)."""
    state = _state(rt)
    n = await asyncio.to_thread(state.runs.snapshot, state.registry.performance_rows())
    return {"status": "success", "stored": n}


# ---------------------------------------------------------------- docker
@service.command("docker/running")
async def docker_running(req: Any, rt: Runtime) -> dict:
    return {"is_docker_running": await asyncio.to_thread(_state(rt).docker.running)}


@service.command("docker/images")
async def docker_images(req: ImageQuery, rt: Runtime) -> list[dict]:
    return await asyncio.to_thread(_state(rt).docker.images, req.image_name)


@service.command("docker/active-containers")
async def docker_active(req: ContainerQuery, rt: Runtime) -> list[dict]:
    return await asyncio.to_thread(_state(rt).docker.containers, "running", req.name_filter)


@service.command("docker/exited-containers")
async def docker_exited(req: ContainerQuery, rt: Runtime) -> list[dict]:
    return await asyncio.to_thread(_state(rt).docker.containers, "exited", req.name_filter)


@service.command("docker/clean-exited", timeout=120)
async def docker_clean(req: Any, rt: Runtime) -> dict:
    return await asyncio.to_thread(_state(rt).docker.clean_exited)


@service.command("docker/start", timeout=60)
async def docker_start(req: ContainerRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_state(rt).docker.start, req.container_name)


@service.command("docker/stop", timeout=60)
async def docker_stop(req: ContainerRef, rt: Runtime) -> dict:
    state = _state(rt)
    return await asyncio.to_thread(state.docker.stop, req.container_name, state.fs.stop_container_timeout_s)


@service.command("docker/remove", timeout=600)
async def docker_remove(req: RemoveContainer, rt: Runtime) -> dict:
    """Remove a stopped container; its instance folder (if any) is archived first (svc_archive or locally)."""
    state = _state(rt)
    info = await asyncio.to_thread(state.docker.container, req.container_name)
    if info["status"] == "running":
        raise Conflict(f"container {req.container_name} is running; stop it first")
    detail = "no instance folder"
    with contextlib.suppress(Skip):
        detail = await _archive_folder(rt, state, req.container_name, req.archive_locally, req.s3_bucket)
    out = await asyncio.to_thread(state.docker.remove, req.container_name)
    return {**out, "archive": detail}


@service.command("docker/pull", timeout=30)
async def docker_pull(req: PullImage, rt: Runtime) -> dict:
    return await asyncio.to_thread(_state(rt).docker.pull, req.image_name)


@service.command("docker/pull-status")
async def docker_pull_status(req: Any, rt: Runtime) -> dict:
    return _state(rt).docker.pull_status()


# ---------------------------------------------------------------- strategy library
def _lib(rt: Runtime) -> Library:
    return _state(rt).library


@service.command("controllers/list")
async def controllers_list(req: Any, rt: Runtime) -> dict:
    """{controller_type: [names]}: built-in controllers and the user's."""
    return await asyncio.to_thread(_lib(rt).list_controllers)


@service.command("controllers/get")
async def controllers_get(req: ControllerRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).get_controller, req.controller_type, req.controller_name)


@service.command("controllers/save")
async def controllers_save(req: ControllerCode, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).save_controller, req.controller_type, req.controller_name, req.content)


@service.command("controllers/delete")
async def controllers_delete(req: ControllerRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).delete_controller, req.controller_type, req.controller_name)


@service.command("controllers/template", timeout=120)
async def controllers_template(req: ControllerRef, rt: Runtime) -> dict:
    """The controller's config class as a JSON schema (with defaults), for drawing a form."""
    return await asyncio.to_thread(_lib(rt).controller_template, req.controller_type, req.controller_name)


@service.command("controllers/validate", timeout=120)
async def controllers_validate(req: ControllerValidate, rt: Runtime) -> dict:
    """Validate a config against the controller's config class: 200 {valid, config} or 422 naming the fields."""
    return await asyncio.to_thread(_lib(rt).validate_controller_config, req.controller_type, req.controller_name,
                                   req.config)


@service.command("controllers/configs/list")
async def controller_configs_list(req: Any, rt: Runtime) -> list[dict]:
    return await asyncio.to_thread(_lib(rt).list_controller_configs)


@service.command("controllers/configs/get")
async def controller_configs_get(req: ConfigRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).get_controller_config, req.config_name)


@service.command("controllers/configs/save")
async def controller_configs_save(req: ConfigSave, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).save_controller_config, req.config_name, req.config)


@service.command("controllers/configs/delete")
async def controller_configs_delete(req: ConfigRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).delete_controller_config, req.config_name)


@service.command("controllers/bot-configs")
async def bot_controller_configs(req: BotConfigsRef, rt: Runtime) -> list[dict]:
    """Controller configs inside a bot instance (instances/<bot>/conf/controllers)."""
    return await asyncio.to_thread(_lib(rt).bot_controller_configs, req.bot_name)


@service.command("controllers/bot-configs/update")
async def bot_controller_config_update(req: BotControllerConfig, rt: Runtime) -> dict:
    """Merge values into a bot's controller config yml (e.g. manual_kill_switch)."""
    return await asyncio.to_thread(_lib(rt).update_bot_controller_config, req.bot_name, req.controller_name,
                                   req.config)


@service.command("scripts/list")
async def scripts_list(req: Any, rt: Runtime) -> list[str]:
    return await asyncio.to_thread(_lib(rt).list_scripts)


@service.command("scripts/get")
async def scripts_get(req: ScriptRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).get_script, req.script_name)


@service.command("scripts/save")
async def scripts_save(req: ScriptCode, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).save_script, req.script_name, req.content)


@service.command("scripts/delete")
async def scripts_delete(req: ScriptRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).delete_script, req.script_name)


@service.command("scripts/template", timeout=120)
async def scripts_template(req: ScriptRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).script_template, req.script_name)


@service.command("scripts/configs/list")
async def script_configs_list(req: Any, rt: Runtime) -> list[dict]:
    return await asyncio.to_thread(_lib(rt).list_script_configs)


@service.command("scripts/configs/get")
async def script_configs_get(req: ConfigRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).get_script_config, req.config_name)


@service.command("scripts/configs/save")
async def script_configs_save(req: ConfigSave, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).save_script_config, req.config_name, req.config)


@service.command("scripts/configs/delete")
async def script_configs_delete(req: ConfigRef, rt: Runtime) -> dict:
    return await asyncio.to_thread(_lib(rt).delete_script_config, req.config_name)

