"""Property-based fuzzing of every command topic, and schemathesis against the gateway's OpenAPI:
no crash, no 500 for client mistakes, every request with reply_to gets a reply."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from shared.cli import available_services
from tests.threaded_mesh import ThreadedMesh

pytestmark = pytest.mark.timeout(900)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
# Plausible field names make the validators go deeper than "unknown field".
FIELDS = st.sampled_from(["task_id", "config", "start_time", "end_time", "connector_name", "trading_pair",
                          "interval", "path", "bot_name", "instance_name", "account_name", "db_path", "name",
                          "limit", "offset", "executors", "grid", "base", "content", "image_name", "../x", "/etc"])
OBJECTS = st.dictionaries(FIELDS, JSON, max_size=5)
# Commands that start real work on valid input (exchange downloads, containers); still fuzzed, but they
# may legitimately answer 503/504 when the outside world (an exchange, an image registry) is unreachable.
ALLOWED = {200, 400, 404, 409, 410, 422, 503, 504}

COMMANDS = [(svc.name, cmd) for svc in available_services() for cmd in ["ping", "describe", *svc.commands]]


@pytest.fixture(scope="module")
def mesh(broker, tmp_path_factory):
    import uuid

    from shared.settings import Settings

    s = Settings(broker_url=broker.url, prefix=f"f{uuid.uuid4().hex[:8]}",
                 data_dir=tmp_path_factory.mktemp("fuzz"), instance_id="fuzz", _env_file=None)
    with ThreadedMesh(s, gateway=True) as m:
        yield m


@pytest.mark.parametrize("service,command", COMMANDS, ids=[f"{s}/{c}" for s, c in COMMANDS])
def test_command_payloads_never_crash(mesh, service, command):
    topic = mesh.rpc.topics.command(service, command)

    @hsettings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(payload=OBJECTS | JSON)
    def check(payload):
        reply = mesh.run(mesh.rpc.request(topic, payload, 60), 90)
        assert reply.status in ALLOWED, (payload, reply.status, reply.msg)

    check()


def test_non_json_and_non_envelopes_get_400(mesh):
    import json

    from tests.mqtt_helpers import Collector

    async def go():
        async with Collector(mesh.settings, f"{mesh.settings.prefix}/raw/+") as col:
            topic = mesh.rpc.topics.command("backtest", "tasks/list")
            for i, payload in enumerate([b"\xff\xfe", b"[1,2]", b'"text"', b'{"header": 5, "data": {}}']):
                props_reply = f"{mesh.settings.prefix}/raw/{i}"
                from paho.mqtt.packettypes import PacketTypes
                from paho.mqtt.properties import Properties

                import aiomqtt

                props = Properties(PacketTypes.PUBLISH)
                props.ResponseTopic = props_reply
                async with aiomqtt.Client("127.0.0.1", mesh.settings.broker_port,
                                          protocol=aiomqtt.ProtocolVersion.V5) as c:
                    await c.publish(topic, payload, qos=1, properties=props)
                msg = await col.next(10)
                assert msg.topic == props_reply
                assert json.loads(msg.payload)["data"]["status"] == 400

    mesh.run(go())


@pytest.fixture(scope="module")
def api_schema(mesh):
    import schemathesis

    return schemathesis.openapi.from_dict(mesh.run(_openapi(mesh)))


async def _openapi(mesh) -> dict:
    return (await mesh.http.get("/openapi.json")).json()


def _operations():
    """The gateway's REST operations, read from an app built the same way as the running one."""
    from gateway.app import create_app

    app = create_app()
    return [(path, method) for path, ops in app.openapi()["paths"].items() for method in ops]


@pytest.mark.parametrize("path,method", _operations(), ids=[f"{m.upper()} {p}" for p, m in _operations()])
def test_gateway_openapi_fuzz(api_schema, mesh, path, method):
    """schemathesis-generated requests per operation: client mistakes are 4xx, never a 500."""
    from tests.gateway_helpers import AUTH

    operation = api_schema[path][method.upper()]

    @hsettings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case):
        response = case.call(base_url=str(mesh.http.base_url), auth=AUTH, timeout=90)
        assert response.status_code != 500, (case.method, case.formatted_path, response.text[:300])
        assert response.status_code < 500 or response.status_code in (502, 503, 504)

    check()
