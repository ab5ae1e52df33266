"""Shared pytest fixtures for market-data tests.

Register them for the whole suite from tests/conftest.py with::

    pytest_plugins = ["tests.fakes.fixtures"]

Fixtures:
    fake_exchange  a started FakeExchange (fake Binance spot + perpetual REST) on 127.0.0.1
    fake_binance   fake_exchange with hummingbot's binance and binance_perpetual URLs pointed at it
    candle_store   a CandleStore in tmp_path
    moto_s3        (session) a moto S3 server on 127.0.0.1: dict(endpoint, host_port, access_key, secret_key, region)
    s3_filesystem  a pyarrow S3FileSystem on moto_s3, with a fresh bucket: (filesystem, bucket)
    s3_store       a CandleStore in that bucket
    fast_retry     a RetryPolicy with millisecond backoff, for retry tests
"""

from __future__ import annotations

import uuid

import pytest

from tests.fakes.exchange import FakeExchange


@pytest.fixture
def fake_exchange():
    with FakeExchange() as exchange:
        yield exchange


@pytest.fixture
def fake_binance(fake_exchange):
    from svc_marketdata.fetch import use_exchange_url

    use_exchange_url("binance", fake_exchange.url)
    use_exchange_url("binance_perpetual", fake_exchange.url)
    try:
        yield fake_exchange
    finally:
        use_exchange_url("binance", None)
        use_exchange_url("binance_perpetual", None)


@pytest.fixture
def candle_store(tmp_path):
    from svc_marketdata.store import CandleStore

    return CandleStore(tmp_path / "store")


@pytest.fixture
def fast_retry():
    from svc_marketdata.fetch import RetryPolicy

    return RetryPolicy(attempts=4, base=0.001, cap=0.01, jitter=False)


@pytest.fixture(scope="session")
def moto_s3():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield {"endpoint": f"http://{host}:{port}", "host_port": f"{host}:{port}", "access_key": "testing",
               "secret_key": "testing", "region": "us-east-1"}
    finally:
        server.stop()


@pytest.fixture
def s3_filesystem(moto_s3):
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(access_key=moto_s3["access_key"], secret_key=moto_s3["secret_key"],
                           region=moto_s3["region"], scheme="http", endpoint_override=moto_s3["host_port"],
                           allow_bucket_creation=True, allow_bucket_deletion=True)
    bucket = f"hbmesh-{uuid.uuid4().hex[:12]}"
    fs.create_dir(bucket)
    yield fs, bucket
    fs.delete_dir(bucket)


@pytest.fixture
def s3_store(s3_filesystem):
    from svc_marketdata.store import CandleStore

    fs, bucket = s3_filesystem
    return CandleStore(f"{bucket}/marketdata", filesystem=fs)
