"""Drive the web console in Debian's headless Chromium with Playwright (no browser download: /usr/bin/chromium)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("HBMESH_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    pytest.importorskip("playwright.async_api")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@contextlib.asynccontextmanager
async def browser_page(base_url: str):
    """A fresh profile, clipboard permissions for the gateway's origin, and every page error collected:
    a test ends by asserting the console threw nothing (`page.js_errors`)."""
    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="hbmesh-chromium-")
    try:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1440, "height": 1000})
            await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(30_000)
            page.js_errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
            try:
                yield page
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


async def login(page, base_url: str, user: str, password: str) -> None:
    await page.goto(f"{base_url}/console")
    await page.fill("#login-user", user)
    await page.fill("#login-password", password)
    await page.click("#login-submit")


async def open_page(page, name: str) -> None:
    from playwright.async_api import expect

    await page.click(f"nav a[data-page='{name}']")
    await expect(page.locator("#page")).to_have_attribute("data-page", name)


async def canvas_painted(page, selector: str) -> int:
    """How many pixels of the canvas are painted (non-transparent)."""
    return await page.eval_on_selector(selector, """c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }""")


async def screenshot(page, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
