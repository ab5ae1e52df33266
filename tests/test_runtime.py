"""The shared MQTT runtime against a real mosquitto: request/reply, errors, scale-out, presence."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shared.asyncapi import asyncapi_document
from shared.service import Runtime, Service
from shared.settings import Settings
from shared.topics import Topics
from tests import echo_service
from tests.echo_service import service as echo
from tests.mqtt_helpers import Collector, client, running


def topic(settings: Settings, cmd: str) -> str:
    return Topics(settings.prefix).command("echo", cmd)


async def test_request_reply(settings):
    async with running(echo, settings), client(settings) as rpc:
        reply = await rpc.request(topic(settings, "echo"), {"text": "ab", "n": 2}, 5)
        deep = await rpc.request(topic(settings, "deep/path/echo"), {"text": "x"}, 5)
    assert reply.status == 200
    assert reply.result == {"text": "abab", "instance": settings.instance_id}
    assert deep.status == 200 and deep.result["text"] == "x"


@pytest.mark.parametrize("cmd,data,status,text", [
    ("echo", {"text": "a", "n": "x"}, 422, "$.n"),
    ("echo", {"n": 1}, 422, "text"),
    ("nope", {}, 404, "unknown command 'nope'"),
    ("boom", {"text": "a"}, 500, "handler bug"),
    ("missing", {"text": "zz"}, 404, "no such thing: zz"),
    ("slow", {"text": "a"}, 504, "did not finish"),
])
async def test_error_replies(settings, cmd, data, status, text):
    async with running(echo, settings), client(settings) as rpc:
        reply = await rpc.request(topic(settings, cmd), data, 5)
        assert reply.status == status
        assert text in reply.msg
        after = await rpc.request(topic(settings, "echo"), {"text": "still alive"}, 5)
        assert after.status == 200  # the service survived


async def test_non_json_gets_400(settings):
    async with running(echo, settings), Collector(settings, "raw/reply") as col:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "raw/reply"
        props.CorrelationData = b"c-1"
        async with aiomqtt.Client("127.0.0.1", settings.broker_port, protocol=aiomqtt.ProtocolVersion.V5) as c:
            await c.publish(topic(settings, "echo"), b"{not json", qos=1, properties=props)
        msg = await col.next()
    assert Collector.json(msg)["data"]["status"] == 400


async def test_v5_response_topic_and_correlation(settings):
    async with running(echo, settings):
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = f"{settings.prefix}/v5reply"
        props.CorrelationData = b"corr-42"
        async with aiomqtt.Client("127.0.0.1", settings.broker_port, protocol=aiomqtt.ProtocolVersion.V5) as c:
            await c.subscribe(props.ResponseTopic, qos=1)
            await c.publish(topic(settings, "echo"), json.dumps({"data": {"text": "v5"}}), qos=1, properties=props)
            async with asyncio.timeout(5):
                async for m in c.messages:
                    break
    assert m.properties.CorrelationData == b"corr-42"
    assert json.loads(m.payload)["data"]["result"]["text"] == "v5"


async def test_nan_is_null_in_json(settings):
    async with running(echo, settings), client(settings) as rpc:
        reply = await rpc.request(topic(settings, "nan"), {"text": "a"}, 5)
    assert reply.status == 200 and reply.result == {"value": None}


async def test_fire_and_forget_is_executed(settings):
    async with running(echo, settings), client(settings) as rpc:
        await rpc.send(topic(settings, "echo"), {"text": "fire"})
        async with asyncio.timeout(5):
            while (await echo_service.seen.get()) != "fire":
                pass
    assert "fire" in echo_service.calls


async def test_two_instances_share_the_work(settings):
    other = settings.model_copy(update={"instance_id": settings.instance_id + "b"})
    async with running(echo, settings), running(echo, other), client(settings) as rpc:
        replies = await asyncio.gather(*(rpc.request(topic(settings, "echo"), {"text": f"m{i}"}, 10)
                                         for i in range(60)))
    handled = [r.result["instance"] for r in replies]
    assert all(r.status == 200 for r in replies)
    assert {r.result["text"] for r in replies} == {f"m{i}" for i in range(60)}  # each exactly once
    assert set(handled) == {settings.instance_id, other.instance_id}
    assert sum(echo_service.calls.count(f"m{i}") for i in range(60)) == 60


async def test_ping_and_describe(settings):
    async with running(echo, settings), client(settings) as rpc:
        ping = await rpc.request(topic(settings, "ping"), {}, 5)
        desc = await rpc.request(topic(settings, "describe"), {}, 5)
    assert ping.result["service"] == "echo" and ping.result["instance_id"] == settings.instance_id
    assert ping.result["uptime_s"] >= 0
    assert "echo" in desc.result["commands"]
    assert desc.result["commands"]["echo"]["summary"] == "Repeat text n times."


def test_asyncapi_generated_from_declarations():
    doc = asyncapi_document([echo], Topics("hbmesh"))
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["echo.echo"]["address"] == "hbmesh/v1/echo/echo"
    assert doc["channels"]["echo.events.echoed"]["address"] == "hbmesh/v1/echo/events/echoed"
    req = doc["x-types"]["echo.echo.request"]
    assert doc["components"]["schemas"][req["$ref"].rsplit("/", 1)[1]]["required"] == ["text"]


async def test_presence_online_and_last_will_on_kill(settings):
    env = {**os.environ, "HBMESH_BROKER_URL": settings.broker_url, "HBMESH_PREFIX": settings.prefix,
           "HBMESH_INSTANCE_ID": "victim", "PYTHONPATH": os.getcwd()}
    presence = Topics(settings.prefix).presence("echo", "victim")
    async with Collector(settings, presence) as col:
        proc = subprocess.Popen([sys.executable, "-m", "tests.echo_service"], env=env)
        try:
            online = await col.next(30, lambda m: Collector.json(m)["status"] == "online")
            proc.kill()  # kill -9: only the last will can say offline
            offline = await col.next(10, lambda m: Collector.json(m)["status"] == "offline")
        finally:
            proc.kill()
            proc.wait()
    assert Collector.json(online)["instance_id"] == "victim"
    assert offline.retain is False or Collector.json(offline)["service"] == "echo"


async def test_broker_restart_mid_request(settings, broker):
    echo_service.gate.clear()
    async with running(echo, settings) as rt, client(settings) as rpc:
        pending = asyncio.create_task(rpc.request(topic(settings, "gated"), {"text": "survive"}, 30))
        async with asyncio.timeout(5):
            while (await echo_service.seen.get()) != "survive":
                pass
        connects = rt.link.connects
        await asyncio.to_thread(broker.restart)
        echo_service.gate.set()  # the handler finishes while the link may still be reconnecting
        reply = await pending
        assert rt.link.connects > connects  # it really reconnected
    assert reply.status == 200 and reply.result["text"] == "survive"


@pytest.mark.skipif(not shutil.which("mosquitto_pub"), reason="mosquitto clients not installed")
async def test_raw_mosquitto_pub_sub_round_trip(settings):
    reply_topic = f"{settings.prefix}/raw/{os.getpid()}"
    request = json.dumps({"header": {"reply_to": reply_topic, "timestamp": 1718000000500, "content_type": "json",
                                     "encoding": "utf8", "agent": "commlib"}, "data": {"text": "raw"}})
    async with running(echo, settings):
        sub = await asyncio.create_subprocess_exec(
            "stdbuf", "-oL", "mosquitto_sub", "-d", "-p", str(settings.broker_port), "-t", reply_topic, "-C", "1", "-q", "1",
            "-W", "10", "-V", "mqttv311", stdout=asyncio.subprocess.PIPE)
        async with asyncio.timeout(10):
            while b"SUBACK" not in await sub.stdout.readline():  # subscribed before we publish
                pass
            pub = await asyncio.create_subprocess_exec(
                "mosquitto_pub", "-p", str(settings.broker_port), "-t", topic(settings, "echo"), "-q", "1",
                "-m", request)
            assert await pub.wait() == 0
            while not (out := await sub.stdout.readline()).startswith(b"{"):
                pass
    reply = json.loads(out)
    assert reply["data"] == {"status": 200, "msg": "ok", "result": {"text": "raw", "instance": settings.instance_id}}
    assert reply["header"]["content_type"] == "json"


COMMLIB_PY = os.path.join(os.getcwd(), ".venv-commlib", "bin", "python")


@pytest.mark.skipif(not os.path.exists(COMMLIB_PY), reason="make test creates .venv-commlib (commlib-py 0.11.5)")
async def test_commlib_rpc_client_calls_a_service(settings):
    """commlib-py's own RPCClient (the library bots and hbotrc are built on) gets our reply."""
    async with running(echo, settings):
        proc = await asyncio.create_subprocess_exec(
            COMMLIB_PY, "-m", "tests.commlib_peer", str(settings.broker_port), topic(settings, "echo"),
            json.dumps({"text": "from-commlib", "n": 2}), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    line = next(l for l in out.decode().splitlines() if l.startswith("REPLY "))
    reply = json.loads(line[len("REPLY "):])
    assert reply["status"] == 200 and reply["result"] == {"text": "from-commlibfrom-commlib",
                                                          "instance": settings.instance_id}


async def test_request_id_follows_a_call_into_another_service(settings):
    """A handler's call to another service carries the caller's request id in the envelope."""
    front = Service("front")

    @front.command("relay")
    async def relay(req: echo_service.EchoReq, rt: Runtime) -> dict:
        return await rt.call("echo", "echo", {"text": req.text}, timeout=5)

    async with running(echo, settings), running(front, settings), Collector(
            settings, Topics(settings.prefix).command("echo", "echo")) as wire, client(settings) as rpc:
        reply = await rpc.request(Topics(settings.prefix).command("front", "relay"), {"text": "x"}, 5,
                                  request_id="req-42")
        inner = json.loads((await wire.next(5)).payload)
    assert reply.status == 200 and reply.result["text"] == "x"
    assert inner["header"]["request_id"] == "req-42"
