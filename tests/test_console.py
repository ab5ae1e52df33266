"""The web console (/console) in real headless Chromium against a running mesh: real broker, real services,
the gateway on a free port. Screenshots of each page go to <artifacts>/console/."""

from __future__ import annotations

import asyncio
import base64
import json

import aiomqtt
import httpx
import pytest

from svc_fleet.service import service as fleet
from tests.console_helpers import (
    browser_page,
    canvas_painted,
    login,
    open_page,
    require_chromium,
    screenshot,
)
from tests.fakes.bot import FakeBot, fleet_test_settings, performance_report
from tests.gateway_helpers import PASSWORD, USER, running_gateway, wait_online
from tests.mqtt_helpers import running
from tests.test_backtest_service import DAY, PAIR, START, mesh

expect = pytest.importorskip("playwright.async_api").expect
browser = pytest.mark.usefixtures("chromium")


@pytest.fixture
def chromium():
    require_chromium()


async def test_console_files_and_config_over_http(settings):
    """The shell loads without auth, with a strict CSP; config.json needs credentials; nothing outside the
    console folder is served."""
    async with running_gateway(settings) as http:
        anon = httpx.AsyncClient(base_url=http.base_url)
        redirect = await anon.get("/console")
        index = await anon.get("/console/")
        script = await anon.get("/console/js/app.js")
        config_anon = await anon.get("/console/config.json")
        config = await http.get("/console/config.json")
        escapes = [(await anon.get(p)).status_code for p in
                   ("/console/%2e%2e/app.py", "/console/js/%2e%2e/%2e%2e/routes/console.py", "/console/nope.js",
                    "/console/%2e%2e/%2e%2e/pyproject.toml")]
        health_anon = await anon.get("/health")
        await anon.aclose()
    assert redirect.status_code == 307 and redirect.headers["location"] == "/console/"
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert 'src="js/app.js"' in index.text and "://" not in index.text  # nothing from other origins
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert config_anon.status_code == 401 and "www-authenticate" not in config_anon.headers  # no browser dialog
    assert config.json() == {"prefix": settings.prefix, "bot_namespace": settings.bot_namespace,
                             "root": f"{settings.prefix}/v1"}
    assert escapes == [404, 404, 404, 404]
    assert health_anon.status_code == 401


@pytest.fixture
def shots(artifacts_dir):
    return artifacts_dir / "console"


def iso(epoch: int) -> str:
    """A datetime-local input's value (the console reads them as UTC)."""
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M")


@browser
@pytest.mark.timeout(180)
async def test_login_refused_then_market_data(settings, tmp_path, fake_binance, shots):
    async with mesh(settings, tmp_path, days=2, with_backtest=False) as http, \
            browser_page(str(http.base_url)) as page:
        base = str(http.base_url)
        # Without credentials nothing answers: the REST API, config and the topic WebSocket all refuse.
        await page.goto(f"{base}/console")
        await expect(page.locator("#login-form")).to_be_visible()
        refused = await page.evaluate("""async () => {
            const codes = [];
            for (const p of ['/health', '/console/config.json', '/market-data/candles/stored'])
                codes.push((await fetch(p, {credentials: 'omit'})).status);
            const opened = await new Promise(res => {
                const ws = new WebSocket(`ws://${location.host}/ws/topics?token=${btoa('tester:wrong')}`);
                ws.onopen = () => res(true); ws.onclose = () => res(false); });
            return {codes, opened}; }""")
        assert refused == {"codes": [401, 401, 401], "opened": False}

        await login(page, base, USER, "wrong-password")
        await expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
        await expect(page.locator("#topbar")).to_be_hidden()
        assert await page.evaluate("sessionStorage.length") == 0
        await screenshot(page, shots, "login-refused")

        await login(page, base, USER, PASSWORD)
        await expect(page.locator("#topbar")).to_be_visible()
        await expect(page.locator("#health")).to_contain_text("marketdata")
        token = await page.evaluate("sessionStorage.getItem('hbmesh.console.auth')")
        assert base64.b64decode(token).decode() == f"{USER}:{PASSWORD}"

        await open_page(page, "market-data")
        series = page.locator("#md-series tr.series")
        await expect(series).to_have_count(2)  # 1m and 3m, imported
        await expect(series.first).to_contain_text("binance BTC-USDT 1m")
        await expect(series.first.locator("td").nth(4)).to_have_text("none")

        # A download one day after the stored range: progress to completed, then the 1m series has a gap.
        gap_start = START + 2 * DAY + 60  # the minute after the stored range
        await page.fill("#md-pair", PAIR)
        await page.select_option("#md-interval", "1m")
        await page.fill("#md-start", iso(START + 3 * DAY))
        await page.fill("#md-end", iso(START + 3 * DAY + 6 * 3600))
        await page.click("#md-run")
        download = page.locator("#md-downloads .download").first
        await expect(download).to_have_attribute("data-status", "completed", timeout=60_000)
        await expect(download.locator(".bar-label")).to_contain_text("100%")
        gap = series.first.locator("ul.gaps li").first
        await expect(gap).to_contain_text(f"{iso(gap_start).replace('T', ' ')}")

        await series.first.locator("a.series-link").click()
        await expect(page.locator("#md-chart[data-candles]")).to_have_count(1)
        candles = int(await page.get_attribute("#md-chart", "data-candles"))
        assert 100 <= candles <= 600
        assert await canvas_painted(page, "#md-chart") > 1000
        await screenshot(page, shots, "market-data")
        assert page.js_errors == []


@browser
@pytest.mark.timeout(300)
async def test_backtest_page_runs_and_draws(settings, tmp_path, shots):
    async with mesh(settings, tmp_path, days=1) as http, browser_page(str(http.base_url)) as page:
        await login(page, str(http.base_url), USER, PASSWORD)
        await open_page(page, "backtest")
        await page.select_option("#bt-controller", json.dumps(["market_making", "pmm_dynamic"], separators=(",", ":")))
        # The form is drawn from the controller's JSON schema: its fields, its defaults, fixed identity.
        await expect(page.locator("#cfg-buy_spreads")).to_have_value("1, 2, 4")
        await expect(page.locator("#cfg-controller_name")).to_be_disabled()
        await page.fill("#cfg-connector_name", "binance")
        await page.fill("#cfg-trading_pair", PAIR)
        await page.fill("#cfg-total_amount_quote", "1000")
        await page.fill("#bt-start", iso(START))
        await page.fill("#bt-end", iso(START + 6 * 3600))
        await page.select_option("#bt-resolution", "1m")
        await page.click("#bt-run")

        await expect(page.locator("#bt-progress")).to_have_attribute("data-status", "completed", timeout=240_000)
        await expect(page.locator("#bt-chart[data-points]")).to_have_count(1)
        task_id = (await page.text_content("#bt-status")).split()[1].rstrip(":")
        api_task = (await http.get(f"/backtesting/tasks/{task_id}")).json()
        pnl_total = (await http.get(f"/backtesting/tasks/{task_id}/pnl", params={"limit": 1})).json()["total"]
        executors_total = api_task["result"]["results"]["total_executors"]
        assert api_task["status"] == "completed" and executors_total > 25

        assert int(await page.get_attribute("#bt-chart", "data-points")) == pnl_total
        assert await canvas_painted(page, "#bt-chart") > 2000
        await expect(page.locator("[data-metric=total_executors] .value")).to_have_text(str(executors_total))
        rows = page.locator("#bt-executors tbody tr")
        await expect(rows).to_have_count(25)
        await expect(page.locator("#bt-page")).to_have_text(f"1–25 of {executors_total}")
        await page.click("#bt-next")
        await expect(page.locator("#bt-page")).to_have_text(f"26–50 of {executors_total}")
        await expect(page.locator("#bt-prev")).to_be_enabled()
        past = page.locator(f"#bt-tasks a.task-link[data-task='{task_id}']")
        await expect(past).to_have_count(1)
        await expect(page.locator(f"#bt-tasks tr:has(a[data-task='{task_id}']) .badge")).to_have_text("completed")
        await screenshot(page, shots, "backtest")
        assert page.js_errors == []


@pytest.fixture
def fleet_settings(settings, monkeypatch, tmp_path):
    return fleet_test_settings(settings, monkeypatch, tmp_path, stale_after_s=60, sweep_interval_s=0.2)


@browser
@pytest.mark.timeout(120)
async def test_fleet_page_shows_a_simulated_bot_live(fleet_settings, shots):
    s = fleet_settings
    async with running(fleet, s), running_gateway(s) as http, browser_page(str(http.base_url)) as page:
        await wait_online(http, "fleet")
        await login(page, str(http.base_url), USER, PASSWORD)
        await open_page(page, "fleet")
        await expect(page.locator("#fleet-bots")).to_contain_text("No bots seen")
        await expect(page.locator(".ws-state")).to_have_text("● live")
        async with FakeBot(s, "console-bot") as bot:
            row = page.locator("tr.bot[data-bot='console-bot']")
            await expect(row).to_have_attribute("data-status", "idle")  # pushed over /ws/topics, no reload
            await bot.performance({"pmm_1": performance_report(pnl=2.0, volume=150.0)})
            await bot.log("order failed: insufficient balance", level="ERROR")
            await expect(row).to_have_attribute("data-status", "running")
            controller = row.locator("tr.controller[data-controller='pmm_1']")
            await expect(controller.locator(".pnl")).to_have_text("2.25")
            await expect(controller.locator(".volume")).to_have_text("150")
            await expect(row.locator("ul.errors li")).to_have_text(["order failed: insufficient balance"])
            await screenshot(page, shots, "fleet")

            await row.locator("button[data-action=stop]").click()
            async with asyncio.timeout(15):
                while (cmd := await bot.commands.get())[0] != "stop":
                    pass
            await expect(page.locator("#fleet-notice .ok")).to_contain_text("stop console-bot")
            await row.locator("button[data-action=start]").click()
            async with asyncio.timeout(15):
                while (cmd := await bot.commands.get())[0] != "start":
                    pass
            assert cmd[1]["script"] == "v2_with_controllers.py"
        await expect(row).to_have_attribute("data-status", "stopped")  # the bot's offline status_update
        assert page.js_errors == []


@browser
@pytest.mark.timeout(120)
async def test_stream_page_subscribe_pause_filter_copy(settings, shots):
    root = f"{settings.prefix}/v1"
    async with running_gateway(settings) as http, browser_page(str(http.base_url)) as page, \
            aiomqtt.Client(settings.broker_host, settings.broker_port) as mqtt:
        async def publish(suffix: str, payload: dict) -> None:
            await mqtt.publish(f"{root}/demo/{suffix}", json.dumps(payload), qos=1)

        await login(page, str(http.base_url), USER, PASSWORD)
        await open_page(page, "stream")
        await page.fill("#st-filter", "$SYS/#")
        await page.click("#st-subscribe")
        await expect(page.locator("#st-notice .error")).to_contain_text("filter not allowed")
        await page.locator("#st-subs .chip button").click()
        await page.fill("#st-filter", f"{root}/demo/#")
        await page.click("#st-subscribe")
        await expect(page.locator(f"#st-subs .chip.confirmed[data-filter='{root}/demo/#']")).to_have_count(1)

        messages = page.locator("#st-messages .msg")
        await publish("alpha", {"hello": "console", "n": 1})
        await expect(messages).to_have_count(1)
        await expect(messages.first.locator(".topic")).to_have_text(f"{root}/demo/alpha")

        await page.click("#st-pause")
        await publish("beta", {"n": 2})
        await expect(page.locator("#st-info")).to_have_text("2 received · 1 held while paused")
        await expect(messages).to_have_count(1)
        await page.click("#st-pause")
        await expect(messages).to_have_count(2)

        await page.fill("#st-search", "demo/beta")
        await expect(messages.locator("visible=true")).to_have_count(1)
        await expect(messages.locator("visible=true").locator(".topic")).to_have_text(f"{root}/demo/beta")
        await page.fill("#st-search", "")
        await expect(messages.locator("visible=true")).to_have_count(2)

        await messages.first.locator("button.copy").click()
        await expect(messages.first.locator("button.copy")).to_have_text("Copied")
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert json.loads(copied) == {"hello": "console", "n": 1}
        await messages.first.locator(".msg-head").click()
        await expect(messages.first.locator("pre.payload")).to_be_visible()
        await screenshot(page, shots, "stream")
        assert page.js_errors == []
