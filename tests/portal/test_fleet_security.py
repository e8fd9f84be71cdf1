"""Attacks on the fleet view, on both backends, against a portal on a real mosquitto (what it
publishes is seen by a collector on the command topic): no session, a forged or logged-out
cookie, a missing/wrong/foreign CSRF token, a cross-site POST, brute force against an
account and from one address, an over-long password, header injection in a command value,
a command for an unknown device, an open redirect after login; and every fleet URL refuses
an unauthenticated request. "Nothing was published" is shown by a valid command sent
afterwards being the only one the collector received (MQTT keeps one client's order)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from portal import config
from portal.fleet.ratelimit import FailureLimiter
from trosmart_tools.broker import Mosquitto

from .fleet_helpers import TECH, TECH_PASSWORD, csrf_of, fleet_doc, login
from .fleet_site import Site, make_site
from .helpers import CITY, HIDDEN

UNKNOWN = "0123456789abcdef"


@pytest.fixture
def site(mosquitto: Mosquitto, tmp_path: Path, backend: str, request: pytest.FixtureRequest,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield from make_site(mosquitto, tmp_path, backend, request, monkeypatch,
                         login_failures_per_account=3, login_failures_per_address=6)


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(site.portal.app, raise_server_exceptions=False) as c:
        yield c


def logged_in(client: TestClient) -> str:
    r = login(client)
    assert r.status_code == 303 and r.headers["location"] == "/en/fleet/"
    return csrf_of(client.get(f"/en/fleet/node/{CITY}").text)


def send(client: TestClient, csrf: str | None, dev: str = CITY, **form: str) -> Any:
    data = {"command": "set_interval_s", "value": "900", **form}
    if csrf is not None:
        data["csrf"] = csrf
    return client.post(f"/en/fleet/node/{dev}/command", data=data, follow_redirects=False)


def only_this_was_published(site: Site, client: TestClient, csrf: str) -> None:
    """Send one valid command and wait for it: it must be the only one published."""
    assert send(client, csrf, value="1200").status_code == 303
    site.commands.wait_for("/command", 1, 20)
    got = site.published()
    assert [c.get("set_interval_s") for c in got] == [1200], got


def fleet_routes(site: Site) -> list[Route]:
    return [r for r in site.portal.app.routes if isinstance(r, Route) and "fleet" in r.path]


def test_every_fleet_url_refuses_an_unauthenticated_request(site: Site, client: TestClient) -> None:
    routes = fleet_routes(site)
    seen = set()
    for r in routes:
        url = r.path.format(lang="en", dev=CITY, cid="fleet-" + "0" * 32)
        for method in sorted(r.methods or ()):
            if method == "HEAD":
                continue
            seen.add((method, r.path))
            if r.path.endswith("/login"):
                continue  # the login itself
            resp = client.request(method, url, data={"csrf": "x", "command": "reboot"}, follow_redirects=False)
            if r.path.startswith("/api/"):
                assert resp.status_code == 401, (method, url)
                assert resp.json()["error"] == "login required"
            else:
                assert resp.status_code == 303, (method, url)
                assert resp.headers["location"].startswith("/en/fleet/login")
    assert {p for _, p in seen} >= {"/{lang}/fleet/", "/{lang}/fleet/node/{dev}", "/{lang}/fleet/node/{dev}/command",
                                    "/{lang}/fleet/logout", "/api/v1/fleet/nodes", "/api/v1/fleet/nodes/{dev}",
                                    "/api/v1/fleet/commands/{cid}"}
    # and in German
    r = client.get("/de/fleet/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/de/fleet/login?next=/de/fleet/"
    csrf = logged_in(client)
    only_this_was_published(site, client, csrf)


def test_forged_and_logged_out_cookies_are_refused(site: Site, client: TestClient) -> None:
    for forged in (secrets.token_urlsafe(32), "", "x" * 5000, "' OR 1=1 --"):
        client.cookies.set("trosmart_fleet", forged)
        assert client.get("/api/v1/fleet/nodes").status_code == 401
        assert client.get("/en/fleet/", follow_redirects=False).status_code == 303
    client.cookies.clear()
    csrf = logged_in(client)
    token = client.cookies.get("trosmart_fleet")
    assert token and client.get("/api/v1/fleet/nodes").status_code == 200
    r = client.post("/en/fleet/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/en/fleet/login"
    client.cookies.set("trosmart_fleet", token)  # the old cookie, replayed
    assert client.get("/api/v1/fleet/nodes").status_code == 401


def test_logout_needs_the_csrf_token(site: Site, client: TestClient) -> None:
    logged_in(client)
    assert client.post("/en/fleet/logout", data={"next": "/"}, follow_redirects=False).status_code == 403
    assert client.post("/en/fleet/logout", follow_redirects=False).status_code == 415  # not a form at all
    assert client.get("/api/v1/fleet/nodes").status_code == 200  # still logged in


def test_command_needs_the_sessions_csrf_token(site: Site, client: TestClient, tmp_path: Path) -> None:
    csrf = logged_in(client)
    assert send(client, None).status_code == 403
    assert send(client, "").status_code == 403
    assert send(client, csrf[:-1] + ("A" if csrf[-1] != "A" else "B")).status_code == 403
    with TestClient(site.portal.app) as other:  # a second session's token is not this one's
        assert login(other).status_code == 303
        other_csrf = csrf_of(other.get("/en/fleet/").text)
    assert other_csrf != csrf and send(client, other_csrf).status_code == 403
    r = client.post(f"/en/fleet/node/{CITY}/command", data={"csrf": csrf, "command": "reboot"},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403  # a cross-site POST, even with the token
    r = client.post(f"/en/fleet/node/{CITY}/command", data={"csrf": csrf, "command": "reboot"},
                    headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert r.status_code == 403
    only_this_was_published(site, client, csrf)


def test_brute_force_hits_the_account_limit_then_the_address_limit(site: Site, client: TestClient) -> None:
    for _ in range(3):
        assert login(client, password="wrong").status_code == 401
    r = login(client)  # the right password, but the account is locked for the window
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Too many failed attempts" in r.text and client.cookies.get("trosmart_fleet") is None
    # unknown names count against the address: 3 more failures reach its limit of 6
    for i in range(3):
        assert login(client, name=f"guess{i}", password="wrong").status_code == 401
    assert login(client, name="guess-next", password="wrong").status_code == 429
    assert len(site.portal.fleet.by_account) <= 1  # only configured accounts are keys


def test_limiter_memory_is_bounded() -> None:
    lim = FailureLimiter(limit=3, window_s=60, max_keys=100)
    for i in range(10_000):
        lim.failed(f"10.0.{i // 256}.{i % 256}", 1.0)
    assert len(lim) == 100
    for _ in range(50):
        lim.failed("attacker", 2.0)
    assert lim.retry_after("attacker", 2.0) == pytest.approx(60.0)  # its newest 3 failures, at 2.0
    assert lim.retry_after("attacker", 61.5) == pytest.approx(0.5)
    assert lim.retry_after("attacker", 62.0) == 0.0


def test_over_long_password_is_refused_before_hashing(site: Site, client: TestClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = site.portal.fleet.accounts.verify
    monkeypatch.setattr(site.portal.fleet.accounts, "verify", lambda n, p: calls.append(n) or real(n, p))
    assert login(client, password="x" * 257).status_code == 400
    assert calls == []
    page = client.get("/en/fleet/login")
    r = client.post("/en/fleet/login", data={"csrf": csrf_of(page.text), "name": TECH, "password": "x" * 100_000})
    assert r.status_code == 413 and calls == []
    assert login(client).status_code == 303 and calls == [TECH]


def test_login_form_needs_its_csrf_cookie_and_never_redirects_elsewhere(site: Site, client: TestClient) -> None:
    page = client.get("/en/fleet/login")
    token = csrf_of(page.text)
    client.cookies.clear()  # no login cookie: a login posted from another site
    r = client.post("/en/fleet/login", data={"csrf": token, "name": TECH, "password": TECH_PASSWORD})
    assert r.status_code == 403 and client.cookies.get("trosmart_fleet") is None
    for nxt in ("https://evil.example/", "//evil.example/", "/en/fleet/../../x", "/en/fleet/\r\nX-A: b"):
        page = client.get("/en/fleet/login", params={"next": nxt})
        r = client.post("/en/fleet/login", data={"csrf": csrf_of(page.text), "name": TECH,
                                                 "password": TECH_PASSWORD, "next": nxt}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/en/fleet/" and "x-a" not in r.headers


def test_header_injection_in_a_command_value_is_refused(site: Site, client: TestClient) -> None:
    csrf = logged_in(client)
    for value in ("600\r\nX-Injected: yes", "600\nSet-Cookie: a=b", "600 ", "6e2", "-600", "600; reboot",
                  "9" * 7, "０６００"):
        r = send(client, csrf, value=value)
        assert r.status_code == 400, value
        assert "x-injected" not in r.headers and "a=b" not in r.headers.get("set-cookie", "")
    for name in ("set_interval_s\r\nX-Injected: yes", "id", "reboot\n", ""):
        r = send(client, csrf, command=name)
        assert r.status_code == 400 and "x-injected" not in r.headers
    assert send(client, csrf, value="5").status_code == 400  # below the codec's 10 s: the bridge would reject it
    only_this_was_published(site, client, csrf)


def test_a_command_for_an_unknown_device_is_refused(site: Site, client: TestClient) -> None:
    csrf = logged_in(client)
    assert send(client, csrf, dev=UNKNOWN).status_code == 404  # a well-formed id the portal never heard of
    for dev in (CITY.upper(), "..%2f..%2fx", "70b3d57ed0de000"):  # not an id: no POST route takes it
        assert send(client, csrf, dev=dev).status_code == 405, dev
    assert client.get(f"/en/fleet/node/{UNKNOWN}").status_code == 404
    assert client.get(f"/api/v1/fleet/nodes/{UNKNOWN}").status_code == 404
    assert client.get("/api/v1/fleet/commands/fleet-nothere").status_code == 404
    only_this_was_published(site, client, csrf)


def test_public_pages_never_show_fleet_data(site: Site, client: TestClient) -> None:
    texts = [client.get(u).text for u in (f"/api/v1/nodes/{CITY}", f"/en/node/{CITY}", "/api/v1/nodes", "/en/",
                                          f"/api/v1/observations.csv?node={CITY}",
                                          "/api/v1/latest?quantity=firmware",
                                          "/api/v1/latest?quantity=config_error")]
    for t in texts:
        assert "wifi_ssid" not in t and "1.4.2" not in t
    latest = {s["quantity"] for s in client.get(f"/api/v1/nodes/{CITY}").json()["node"]["latest"]}
    assert latest == {"temperature", "battery_voltage"}  # no firmware, interval_s, config_error …
    assert all(n["value"] is None for n in client.get("/api/v1/latest?quantity=firmware").json()["nodes"])
    assert HIDDEN not in client.get("/api/v1/nodes").text
    assert client.get(f"/api/v1/nodes/{HIDDEN}").status_code == 404


def test_session_cookies_are_httponly_strict_and_secure_off_loopback(site: Site, client: TestClient,
                                                                     tmp_path: Path) -> None:
    r = login(client)
    cookie = r.headers["set-cookie"]
    assert re.search(r"trosmart_fleet=[^;]+;.*HttpOnly", cookie, re.I) and "samesite=strict" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http on 127.0.0.1 (documented)
    d = fleet_doc()
    d["portal"].update(base_url="https://sensoren.troisdorf.de", state_dir=str(tmp_path / "s2"))
    cfg = config.parse(d)
    from portal.fleet.routes import FleetRoutes

    fr = FleetRoutes(cfg, site.portal.storage, site.portal.fleet_store, None)
    assert fr.secure and fr.session_cookie == "__Host-trosmart_fleet"
    d["portal"].update(base_url="", host="192.0.2.10")
    assert FleetRoutes(config.parse(d), site.portal.storage, site.portal.fleet_store, None).secure


def test_fleet_pages_keep_the_strict_csp(site: Site, client: TestClient) -> None:
    logged_in(client)
    for url in ("/en/fleet/login", "/en/fleet/", f"/de/fleet/node/{CITY}"):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "'unsafe-inline'" not in r.headers["content-security-policy"]
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text) and " style=" not in r.text
    assert client.delete("/en/fleet/").status_code == 405  # POST only where a form posts


def test_fleet_api_highlights_and_agrees_with_the_node_api(site: Site, client: TestClient) -> None:
    """Not an attack: the same site's figures on both backends, overview against node page."""
    from .helpers import MAKER

    logged_in(client)
    nodes = client.get("/api/v1/fleet/nodes").json()["nodes"]
    assert [n["dev_eui"] for n in nodes] == [HIDDEN, MAKER, CITY]
    by = {n["dev_eui"]: n for n in nodes}
    assert by[HIDDEN]["silent"] and not by[HIDDEN]["public"] and by[HIDDEN]["failed_sensors"] == ["sht41"]
    assert by[HIDDEN]["sensor_errors"] == {"sht41": 12} and by[HIDDEN]["rssi"] == -119.0
    assert by[MAKER]["battery_fast"] and by[MAKER]["battery_slope"] == pytest.approx(-0.3, abs=0.01)
    assert not by[CITY]["highlighted"] and by[CITY]["config_errors"] == ["wifi_ssid"]
    # lost 0 → 7 while frames 1 (or 2: the oldest row may just have left the window) → 144
    assert by[CITY]["loss_24h"] == pytest.approx(7 / 150, abs=5e-4)
    for dev, n in by.items():
        one = client.get(f"/api/v1/fleet/nodes/{dev}").json()["node"]
        assert one == n
    de = client.get("/de/fleet/").text  # the German page
    assert "Braucht einen Besuch (2)" in de and "still seit mehr als 3 Intervallen (10 min)" in de
    assert re.search(r"Batterie fällt um 0,(29|30)\d V/Tag", de) and "nicht öffentlich" in de
