"""hummingbot-api-client 1.5.9, unchanged, against the gateway: backtesting and market data, with a stored
controller config and a user controller from svc_fleet's library."""

from __future__ import annotations

import contextlib

import pytest
from hummingbot_api_client import HummingbotAPIClient

from svc_fleet.service import service as fleet
from tests.gateway_helpers import AUTH, wait_online
from tests.mqtt_helpers import running
from tests.test_backtest_service import DAY, START, mesh, pmm_dynamic

pytestmark = pytest.mark.timeout(300)

USER_CONTROLLER = '''
from svc_backtest.controllers import _common


class MyPMMConfig(_common.MarketMakingLevelsConfig):
    controller_name: str = "my_pmm"


class MyPMMController(_common.PositionLevelsController):
    """A user's controller: plain fixed-spread levels."""
'''


@contextlib.asynccontextmanager
async def api(http):
    async with HummingbotAPIClient(str(http.base_url), username=AUTH[0], password=AUTH[1]) as client:
        yield client


async def test_backtesting_and_market_data_with_the_client(settings, tmp_path):
    async with mesh(settings, tmp_path) as http, running(fleet, settings):
        await wait_online(http, "fleet")
        async with api(http) as client:
            result = await client.backtesting.run(start_time=START, end_time=START + DAY // 2, config=pmm_dynamic())
            ref = await client.backtesting.submit_task(start_time=START, end_time=START + DAY // 4,
                                                       config=pmm_dynamic())
            listed = await client.backtesting.list_tasks()
            # a stored config by name (hummingbot-api passes a yml file name)
            await client.controllers.create_or_update_controller_config("pmm_stored", pmm_dynamic())
            stored = await client.backtesting.run(start_time=START, end_time=START + DAY // 4, config="pmm_stored.yml")
            # a user controller saved through the library
            await client.controllers.create_or_update_controller(
                "market_making", "my_pmm", {"content": USER_CONTROLLER, "type": "market_making"})
            mine = await client.backtesting.run(start_time=START, end_time=START + DAY // 4, config={
                **pmm_dynamic(), "controller_name": "my_pmm"})
            connectors = await client.market_data.get_available_candle_connectors()
            candles = await client.market_data.get_historical_candles(
                "binance", "BTC-USDT", "1m", start_time=START, end_time=START + 3600)
            task = await client.backtesting.get_task(ref["task_id"])
            deleted = await client.backtesting.delete_task(ref["task_id"]) if task["status"] == "pending" else None
    assert result["results"]["total_executors"] > 0 and "processed_data" in result
    assert ref["status"] == "pending" and ref["task_id"] in [t["task_id"] for t in listed]
    assert stored["results"]["total_executors"] > 0
    assert mine["results"]["total_executors"] > 0
    assert "binance" in connectors
    assert len(candles) == 61 and candles[0]["timestamp"] == START
    assert task["task_id"] == ref["task_id"]
    assert deleted is None or deleted["status"] == "cancelled"
