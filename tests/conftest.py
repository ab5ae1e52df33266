import os
import uuid
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.broker import TestBroker

pytest_plugins = ["tests.fakes.fixtures", "tests.fakes.docker_engine"]


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    b = TestBroker(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def settings(broker, tmp_path) -> Settings:
    """Settings on the test broker with a prefix of its own, so tests never see each other's topics."""
    return Settings(broker_url=broker.url, prefix=f"t{uuid.uuid4().hex[:8]}", data_dir=tmp_path / "data",
                    instance_id=f"i{uuid.uuid4().hex[:6]}", _env_file=None)


@pytest.fixture
def artifacts_dir() -> Path:
    d = Path(os.environ.get("HBMESH_TEST_ARTIFACTS", "test-artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d
