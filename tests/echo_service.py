"""A test service on the shared runtime: echo, errors, slow and gated commands."""

from __future__ import annotations

import asyncio

import msgspec

from shared.errors import NotFound
from shared.service import Runtime, Service

service = Service("echo", "test service")
calls: list[str] = []
gate = asyncio.Event()
seen = asyncio.Queue()


class EchoReq(msgspec.Struct):
    text: str
    n: int = 1


class EchoRes(msgspec.Struct):
    text: str
    instance: str


class Number(msgspec.Struct):
    value: float | None


@service.command("echo")
async def echo(req: EchoReq, rt: Runtime) -> EchoRes:
    """Repeat text n times."""
    calls.append(req.text)
    await seen.put(req.text)
    return EchoRes(req.text * req.n, rt.instance_id)


@service.command("deep/path/echo")
async def deep(req: EchoReq, rt: Runtime) -> EchoRes:
    return EchoRes(req.text, rt.instance_id)


@service.command("boom")
async def boom(req: EchoReq, rt: Runtime) -> EchoRes:
    raise RuntimeError("handler bug")


@service.command("missing")
async def missing(req: EchoReq, rt: Runtime) -> EchoRes:
    raise NotFound(f"no such thing: {req.text}")


@service.command("slow", timeout=0.2)
async def slow(req: EchoReq, rt: Runtime) -> EchoRes:
    await asyncio.Event().wait()


@service.command("gated")
async def gated(req: EchoReq, rt: Runtime) -> EchoRes:
    await seen.put(req.text)
    await gate.wait()
    return EchoRes(req.text, rt.instance_id)


@service.command("nan")
async def nan(req: EchoReq, rt: Runtime) -> Number:
    return Number(float("nan"))


service.event("echoed", EchoRes, "Sent after every echo")

if __name__ == "__main__":
    from shared.service import run_services

    asyncio.run(run_services([service]))
