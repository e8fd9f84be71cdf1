"""The pages in a real browser: Debian's Chromium driven by Playwright for Python (no browser
download; docs/references.md §R.H). Map markers, a live update without reload, a chart's
points, the language switch, a download's rows; screenshots saved as artifacts.

Screenshots go to the test's tmp dir; with PORTAL_SCREENSHOTS=DIR they are copied there too
(``PORTAL_SCREENSHOTS=docs/img`` refreshes the README's pictures)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal import config
from portal.service import Portal
from tests.bridge import harness
from trosmart_tools.broker import Mosquitto

from .helpers import CITY, MAKER, OPTED, doc, pack, senml

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
STEP_MS = 600_000
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from tests.conftest import _missing

    if not os.path.exists(CHROMIUM):
        _missing("chromium", FileNotFoundError(CHROMIUM))
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


class Site:
    def __init__(self, portal: Portal, now_ms: int, times: list[int]) -> None:
        self.portal = portal
        self.now_ms = now_ms
        self.times = times


@pytest.fixture
def site(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Site]:
    d = doc()
    d["portal"].update(state_dir=str(tmp_path / "state"))
    d["mqtt"] = {"port": mosquitto.port, "client_id": "portal-browser"}
    p = Portal(config.parse(d))
    now = int(time.time() * 1000)
    times = [now - k * STEP_MS for k in range(936)]  # the last 6.5 days
    packs = []
    for i, t in enumerate(reversed(times)):
        day = (t % 86_400_000) / 86_400_000
        packs.append(pack(CITY, t, temperature=round(8 + 6 * abs(day - 0.5) * 2 + (i % 5) / 10, 2),
                          humidity=float(55 + i % 20)))
        packs.append(pack(MAKER, t, temperature=round(10 + (i % 30) / 10, 2)))
        packs.append(pack(OPTED, t, occupancy=(i // 6) % 2 == 0))
    p.storage.ingest(packs)
    p.start()
    assert p.ingest is not None
    ing = p.ingest
    harness.wait_until(lambda: ing.connected, 15, "portal connected")
    try:
        yield Site(p, now, times)
    finally:
        p.stop()


def shot(page: Any, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    page.screenshot(path=str(out), full_page=False)
    target = os.environ.get("PORTAL_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(target) / name)
    return out


def test_map_markers_live_update_and_language_switch(browser: Any, site: Site, mosquitto: Mosquitto,
                                                    tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # CSP violations too
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{site.portal.url}/de/?quantity=temperature")
    page.wait_for_selector("#map[data-markers]")
    assert page.locator("path.node-marker").count() == 3  # one per public node with a position
    page.wait_for_selector("#live.on")
    page.evaluate("window.__notReloaded = true")
    pub = harness.Publisher(mosquitto.port, client_id="browser-uplink")
    try:
        pub.publish(f"trosmart/v1/{CITY}/senml", senml(CITY, site.now_ms + 60_000, temperature=33.3, humidity=40.0))
        pub.wait_all()
    finally:
        pub.close()
    cell = page.locator(f'tr[data-node="{CITY}"] td[data-q="temperature"]')
    cell.filter(has_text="33,3 °C").wait_for(timeout=20_000)
    assert page.evaluate("window.__notReloaded") is True  # updated in place, not reloaded
    shot(page, tmp_path, "portal-map.png")
    page.select_option("#quantity", "humidity")
    page.locator(f'tr[data-node="{CITY}"] td[data-q="humidity"]').filter(has_text="40 % rF").wait_for()
    page.click("#lang-switch")
    page.wait_for_url("**/en/?quantity=humidity")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("label[for=quantity]").inner_text() == "Quantity"
    assert page.locator("#quantity").input_value() == "humidity"
    page.wait_for_selector("#map[data-markers]")
    origin = site.portal.url
    assert all(u.startswith(origin) for u in requests), [u for u in requests if not u.startswith(origin)]
    assert not errors, errors
    page.close()


def test_node_page_chart_points_keyboard_and_download(browser: Any, site: Site, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1000, "height": 1300}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{site.portal.url}/en/node/{CITY}?range=7d")
    chart = page.locator('.chart[data-quantity="temperature"]')
    chart.locator("canvas").first.wait_for()
    page.wait_for_selector('.chart[data-quantity="temperature"][data-points]')
    hours = {t - t % HOUR_MS for t in site.times}  # 6.5 days of 10-minute data: one point per hour
    assert int(chart.get_attribute("data-points")) == len(hours) == int(chart.get_attribute("data-expected"))
    table_rows = page.locator('.chart-block:has(.chart[data-quantity="temperature"]) details tbody tr')
    assert table_rows.count() == len(hours)  # the text alternative has the same points
    shot(page, tmp_path, "portal-node.png")
    # keyboard: Tab reaches the range links; Enter follows one
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.textContent") == "30 days":
            break
    else:
        raise AssertionError("the 30-day range link is not reachable with Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**range=30d")
    page.wait_for_selector('.chart[data-quantity="temperature"][data-points]')
    assert int(page.locator('.chart[data-quantity="temperature"]').get_attribute("data-points")) == len(hours)
    with page.expect_download() as dl:
        page.locator('.chart-block:has(.chart[data-quantity="humidity"]) a', has_text="CSV").click()
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO("\n".join(x for x in text.splitlines() if not x.startswith("#"))),
                           delimiter=";"))
    assert rows[0][-2:] == ["time", "value"] and len(rows) - 1 == len(site.times)
    assert {r[4] for r in rows[1:]} == {"humidity"}
    assert not errors, errors
    page.close()


def test_phone_layout_has_no_horizontal_scroll(browser: Any, site: Site, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    for path in ("/de/", f"/de/node/{MAKER}?range=24h"):
        page.goto(site.portal.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    shot(page, tmp_path, "portal-phone.png")
    page.close()
