"""The fleet view in Debian's Chromium (Playwright, no downloaded browser): log in, the silent
private node and the falling battery at the top, a command sent from a node's page answered
by the real bridge (the result appears without a reload), logout; no request leaves the
portal and nothing breaks the CSP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import payload_codec
from portal import config
from portal.service import Portal
from tests.bridge import harness, lns
from trosmart_tools.broker import Mosquitto

from .fleet_helpers import TECH, TECH_PASSWORD
from .fleet_site import fill, site_doc
from .helpers import CITY, HIDDEN, MAKER
from .test_browser import browser, shot  # noqa: F401 - the module's Chromium fixture

pytestmark = pytest.mark.browser


@pytest.fixture
def live(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Portal]:
    p = Portal(config.parse(site_doc(tmp_path, mosquitto.port, "sqlite", None)))
    fill(p, int(time.time() * 1000))
    p.start()
    bridge = harness.start_bridge(harness.bridge_doc(tmp_path / "bridge", mosquitto.port, mosquitto.port))
    pub = harness.Publisher(mosquitto.port, client_id="lns-browser")
    try:
        harness.wait_until(lambda: p.ingest is not None and p.ingest.connected, 15, "portal connected")
        frame = payload_codec.encode({"temperature": 20.0, "battery_voltage": 3.9})
        pub.publish(lns.cs_topic(CITY), lns.dumps(lns.cs_up(CITY, 500, frame, t=time.time() - 5)))
        pub.wait_all()  # the bridge knows CITY now (a command needs the route of its last uplink)
        harness.wait_until(lambda: (p.storage.node(CITY) or None) is not None
                           and getattr(p.storage.node(CITY), "meta", {}).get("f_cnt") == 500, 30, "the uplink")
        yield p
        assert p.storage.rejects() == []
    finally:
        pub.close()
        bridge.stop()
        p.stop()


def test_login_highlights_command_result_logout(browser: Any, live: Portal, tmp_path: Path) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # CSP violations too
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        page.goto(f"{live.url}/en/fleet/")
        assert "/en/fleet/login" in page.url  # refused without a session
        page.fill("#name", TECH)
        page.fill("#password", TECH_PASSWORD)
        page.click("#login")
        page.wait_for_url(f"{live.url}/en/fleet/")
        assert page.text_content("#account") == TECH
        attention = page.locator("#attention li")
        assert attention.count() == 2
        assert attention.nth(0).get_attribute("data-node") == HIDDEN  # silent first
        assert "silent for more than 3 intervals (10 min)" in (attention.nth(0).text_content() or "")
        assert attention.nth(1).get_attribute("data-node") == MAKER
        assert re.search(r"battery falls by 0\.(29|30)\d V/day", attention.nth(1).text_content() or "")
        rows = page.locator("#fleet-table tbody tr")
        assert [rows.nth(i).get_attribute("data-node") for i in range(3)] == [HIDDEN, MAKER, CITY]
        assert rows.nth(0).get_attribute("class") == "alert" and rows.nth(2).get_attribute("class") is None
        assert "sht41" in (rows.nth(0).text_content() or "") and "not public" in (rows.nth(0).text_content() or "")
        shot(page, tmp_path, "fleet-overview.png")

        page.click(f'#fleet-table a[href="/en/fleet/node/{CITY}"]')
        page.wait_for_url(f"{live.url}/en/fleet/node/{CITY}")
        assert "wifi_ssid" in (page.text_content("#node-health") or "")
        page.select_option("#command", "set_interval_s")
        page.fill("#value", "900")
        page.click("#send")
        page.wait_for_url(f"{live.url}/en/fleet/node/{CITY}#commands")
        status = page.locator("#commands tbody tr").first.locator(".command-status")
        status.and_(page.locator('[data-status="queued"]')).wait_for(timeout=30_000)  # fleet.js, no reload
        assert status.text_content() == "queued"
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, tmp_path, "fleet-node.png")

        page.click("#logout")
        page.wait_for_url(f"{live.url}/en/fleet/login")
        page.goto(f"{live.url}/en/fleet/node/{CITY}")
        assert "/en/fleet/login" in page.url
        assert page.context.cookies() == [] or all(c["name"] != "trosmart_fleet" for c in page.context.cookies())
    finally:
        page.close()
    assert errors == []
    assert all(u.startswith(live.url) for u in requests), [u for u in requests if not u.startswith(live.url)]
