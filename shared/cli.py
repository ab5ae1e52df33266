"""`hbmesh` command line: up, svc, gateway, call, watch, asyncapi."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import signal
import sys
import time
import uuid

from .envelope import to_builtins
from .settings import get_settings
from .topics import SERVICES, Topics

# Services are found by name; a service package exposes `service` in <package>/service.py.
SERVICE_MODULES = {name: f"svc_{name}.service" for name in SERVICES}


def load_service(name: str):
    if name not in SERVICE_MODULES:
        raise SystemExit(f"unknown service '{name}'; known: {', '.join(SERVICE_MODULES)}")
    return importlib.import_module(SERVICE_MODULES[name]).service


def available_services() -> list:
    """Services whose package exists in this install (they land one by one)."""
    out = []
    for name in SERVICE_MODULES:
        try:
            out.append(load_service(name))
        except ModuleNotFoundError:
            continue
    return out


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it is in the lock): less CPU per message on every relay hop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_until_signal(coro) -> None:
    """Run until done or SIGINT/SIGTERM, then let every task finish its shutdown before the loop closes."""
    loop = _new_loop()
    main = loop.create_task(coro)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    try:
        loop.run_until_complete(main)
    except asyncio.CancelledError:
        pass
    finally:
        rest = asyncio.all_tasks(loop)
        if rest:  # give shutdowns in progress a moment to end by themselves, then cancel what is left
            loop.run_until_complete(asyncio.wait(rest, timeout=5))
            for task in rest:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.close()


async def _up(with_gateway: bool) -> None:
    from .broker import listening, start_mosquitto
    from .service import run_services

    s = get_settings()
    broker = None
    if s.broker_host in ("127.0.0.1", "localhost") and not listening(s.broker_host, s.broker_port):
        broker = start_mosquitto(s.broker_port, s.data_dir / "mosquitto")
        deadline = time.monotonic() + 10
        while not listening(s.broker_host, s.broker_port):
            if broker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"embedded mosquitto failed: {broker.stderr.read().decode()[-500:]}")
            await asyncio.sleep(0.05)
        print(f"started embedded mosquitto on {s.broker_host}:{s.broker_port}", file=sys.stderr)
    services = asyncio.create_task(run_services(available_services(), s))
    server = None
    if with_gateway:
        from gateway.server import make_server

        server = make_server(s)
    web = asyncio.create_task(server.serve()) if server else None
    outcome = None
    try:
        # wait() (not gather) so a cancelled `up` does not cancel uvicorn mid-flight
        await asyncio.wait([t for t in (services, web) if t], return_when=asyncio.FIRST_COMPLETED)
    finally:
        try:
            if web:
                server.should_exit = True  # uvicorn stops its own way: lifespan shutdown, connections drained
                await asyncio.gather(web, return_exceptions=True)
            services.cancel()
            (outcome,) = await asyncio.gather(services, return_exceptions=True)
        finally:
            if broker:  # whatever happened above, the embedded broker goes with us
                broker.terminate()
                broker.wait(10)
    if isinstance(outcome, Exception):  # a service failed to start: exit with its error, not silently
        raise SystemExit(f"hbmesh up: services stopped: {type(outcome).__name__}: {outcome}")


def progress_bar(pct: float, width: int = 30) -> str:
    done = int(width * max(0.0, min(pct, 100.0)) / 100)
    return f"[{'#' * done}{'.' * (width - done)}] {pct:5.1f}%"


async def _call(topic: str, data: dict, timeout: float, follow: bool) -> int:
    """Send one request and print the reply; with follow, a task id in the reply is followed to its end."""
    from .mqtt import Link
    from .rpc import Requester

    s = get_settings()
    topics = Topics(s.prefix, s.bot_namespace)
    if not topic.startswith(("$", topics.root + "/", s.bot_namespace + "/")) and "/" in topic:
        topic = f"{topics.root}/{topic}"  # allow "backtest/ping"
    link = Link(s, f"cli-{uuid.uuid4().hex[:8]}")
    rpc = Requester(link, topics, agent="hbmesh-cli")
    events: asyncio.Queue = asyncio.Queue()
    if follow:  # subscribed before the request, so no progress event can be missed
        await link.subscribe(f"{topics.root}/+/events/tasks/+", events.put_nowait, qos=1)
    await rpc.start()
    await link.start()
    await link.wait_connected(10)
    try:
        reply = await rpc.request(topic, data, timeout)
        print(json.dumps(to_builtins(reply), indent=2))
        task_id = reply.result.get("task_id") if follow and isinstance(reply.result, dict) else None
        if task_id and reply.status < 300:
            return await _follow(events, task_id)
    finally:
        await link.stop()
    return 0 if reply.status < 300 else 1


async def _follow(events: asyncio.Queue, task_id: str) -> int:
    """Draw a progress bar from the task's events until it ends."""
    while True:
        msg = await events.get()
        if not msg.topic.endswith(f"/tasks/{task_id}"):
            continue
        ev = json.loads(msg.payload)
        print(f"\r{task_id} {progress_bar(ev.get('progress') or 0)} {ev.get('status')}", end="", file=sys.stderr,
              flush=True)
        if ev.get("status") in ("completed", "failed", "cancelled"):
            print(file=sys.stderr)
            if ev.get("error"):
                print(f"error: {ev['error']}", file=sys.stderr)
            return 0 if ev["status"] == "completed" else 1


async def _watch(filters: list[str]) -> None:
    from .mqtt import Link

    s = get_settings()
    link = Link(s, f"watch-{uuid.uuid4().hex[:8]}")

    def show(msg) -> None:
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            payload = msg.payload.decode(errors="replace")
        print(json.dumps({"ts": round(time.time(), 3), "topic": msg.topic, "payload": payload}), flush=True)

    for f in filters:
        await link.subscribe(f, show, qos=0)
    await link.start()
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hbmesh", description="hbmesh: Hummingbot fleet control plane over MQTT")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="broker check (embedded mosquitto if none) + all services + gateway")
    sp = sub.add_parser("svc", help="run one service")
    sp.add_argument("name", choices=list(SERVICE_MODULES))
    sub.add_parser("gateway", help="run the REST/WebSocket gateway")
    cp = sub.add_parser("call", help="send a request and print the reply")
    cp.add_argument("topic")
    cp.add_argument("data", nargs="?", default="{}")
    cp.add_argument("--timeout", type=float, default=30)
    cp.add_argument("--follow", action="store_true", help="follow the task id in the reply with a progress bar")
    wp = sub.add_parser("watch", help="tail the topic stream")
    wp.add_argument("filters", nargs="*", default=None)
    sub.add_parser("asyncapi", help="print the AsyncAPI document of every service")
    args = p.parse_args(argv)

    if args.cmd == "up":
        run_until_signal(_up(with_gateway=True))
    elif args.cmd == "svc":
        from .service import run_services

        run_until_signal(run_services([load_service(args.name)]))
    elif args.cmd == "gateway":
        from gateway.server import serve

        run_until_signal(serve(get_settings()))
    elif args.cmd == "call":
        try:
            data = json.loads(args.data)
        except ValueError as exc:
            raise SystemExit(f"data is not JSON: {exc}")
        code = 1
        try:
            code = asyncio.run(_call(args.topic, data, args.timeout, args.follow))
        except Exception as exc:  # noqa: BLE001 - print the reason, exit non-zero
            print(f"error: {exc}", file=sys.stderr)
        return code
    elif args.cmd == "watch":
        s = get_settings()
        run_until_signal(_watch(args.filters or [f"{s.prefix}/#", f"{s.bot_namespace}/#"]))
    elif args.cmd == "asyncapi":
        from .asyncapi import asyncapi_document

        s = get_settings()
        doc = asyncapi_document(available_services(), Topics(s.prefix, s.bot_namespace),
                                f"{s.broker_host}:{s.broker_port}")
        print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
