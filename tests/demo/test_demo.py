"""``trosmart demo`` end to end: readings reach the city topics, and stopping it (by
``--duration``, Ctrl-C to the process group, SIGHUP of a closed terminal, or SIGTERM) leaves no process behind.

Every wait is for the condition it checks, with a deadline generous enough for a loaded CI
machine: the demo runs until every node's measurement has reached the city, then is stopped."""

from __future__ import annotations

import html
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from trosmart_tools.demo.fleet import MAC_PROFILES, PROFILES

CITY_RX = r"\] (?P<name>[^:]+): city trosmart/v1/(?P<eui>[0-9a-f]{16})/senml: (?P<recs>.*)$"
ARGS = ["--lines", "--time-scale", "120", "--interval", "60"]
# four boards flash in parallel (mpremote) before the nodes power on; the duration counts from
# the start, flashing included
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
# five nodes (four RAK3172, one on the MAC) each get a measurement out; under load (8 engineers
# on 2 CPUs) boots and first cycles take minutes, not the seconds they take on an idle machine
CITY_TIMEOUT_S = 400.0
# a quantity only the profile's measurement frames carry (status packs carry the battery too)
MEASURED = {p.deveui: p.quantities[0] + "=" for p in PROFILES + MAC_PROFILES}


class Demo:
    """``trosmart demo`` in its own session, its output collected line by line."""

    def __init__(self, *args: str) -> None:
        cli = Path(sys.executable).parent / "trosmart"
        self.proc = subprocess.Popen([str(cli), "demo", *ARGS, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def city(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with self._cond:
            for ln in self.lines:
                m = re.search(CITY_RX, ln)
                if m:
                    out.setdefault(m["eui"], []).append(m["recs"])
        return out

    def wait_city(self, devices: int, timeout_s: float = START_TIMEOUT_S) -> dict[str, list[str]]:
        """Until ``devices`` devices have a measurement (not only a status) on their senml topic."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                got = self.city()
                measured = [eui for eui, packs in got.items() if any(MEASURED[eui] in p for p in packs)]
                if len(measured) >= devices:
                    return got
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError("SenML of %d devices within %.0f s; output tail:\n%s"
                                         % (devices, timeout_s, "\n".join(self.lines[-15:])))
                self._cond.wait(min(left, 1.0))

    def wait_line(self, text: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not any(text in ln for ln in self.lines):
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, f"no {text!r} in {self.lines[-10:]}"
                self._cond.wait(min(left, 1.0))

    def processes(self) -> list[str]:
        """Command lines of every process in the demo's session (the demo's pid is the sid)."""
        found = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue  # exited meanwhile
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) == self.proc.pid and fields[0] != "Z":
                found.append(cmd)
        return found

    def wait_exit(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        rc = self.proc.wait(timeout_s)
        self._reader.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _no_orphans(demo: Demo) -> None:
    # the session leader is gone; a child it left behind would still carry its session id
    deadline = time.monotonic() + 5
    while demo.processes():
        assert time.monotonic() < deadline, f"left running: {demo.processes()}"
        time.sleep(0.1)  # processes reparented to init exit asynchronously; nothing to wait on


def _fleet_login(lines: list[str]) -> str:
    """Log in to the demo's fleet view with the account and password file it printed; the page."""
    said = re.compile(r"fleet view on (\S+) \(account (\w+), its password is in (\S+)\)")
    m = next(m for ln in lines if (m := said.search(ln)))
    url, account, pw_file = m[1], m[2], Path(m[3])
    assert pw_file.stat().st_mode & 0o777 == 0o600
    password = pw_file.read_text().strip()
    assert all(password not in ln for ln in lines), "the password is never printed"
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    with opener.open(url, timeout=10) as r:  # redirected to the login form
        form = r.read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, form[:300]
    body = urllib.parse.urlencode({"csrf": html.unescape(csrf[1]), "name": account, "password": password,
                                   "next": urllib.parse.urlsplit(url).path}).encode()
    with opener.open(url.replace("/fleet/", "/fleet/login"), data=body, timeout=30) as r:
        page = r.read().decode()
    assert f'id="account">{account}<' in page, page[:300]
    return page


@pytest.mark.usefixtures("micropython")
def test_demo_readings_reach_the_city_topics_and_nothing_is_left_running() -> None:
    demo = Demo()
    try:
        city = demo.wait_city(len(PROFILES) + len(MAC_PROFILES), CITY_TIMEOUT_S)
        running = demo.processes()
        assert any("mosquitto" in c for c in running), running
        assert any(" bridge --config " in c for c in running), running
        assert any(" portal --config " in c for c in running), running
        portal_url = next(m[1] for ln in demo.lines if (m := re.search(r"portal on (http://127\.0\.0\.1:\d+/)", ln)))
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # the portal stores what the bridge publishes: every node appears in its API
            with urllib.request.urlopen(portal_url + "api/v1/nodes", timeout=5) as r:
                nodes = json.load(r)["nodes"]
            if nodes and all(n["latest"] for n in nodes):  # every node the demo portal shows
                break
            assert time.monotonic() < deadline, nodes
            time.sleep(0.5)  # polling another process's store: it offers no event to wait on
        fleet_page = _fleet_login(demo.lines)
        assert all(n["id"] in fleet_page for n in nodes), "the fleet view lists every demo node"
        demo.proc.send_signal(signal.SIGTERM)  # what a service manager sends
        rc = demo.wait_exit()
    finally:
        demo.kill()
    assert rc == 0, demo.lines[-10:]
    assert set(city) == {p.deveui for p in PROFILES + MAC_PROFILES}  # the Heltec V3 on the MAC too
    for recs in city.values():  # every profile carries the battery voltage of the demo scenario
        bat = [float(m) for r in recs for m in re.findall(r"battery_voltage=([\d.]+)", r)]
        assert bat and all(3.8 <= v <= 4.2 for v in bat), recs
    air = city[PROFILES[0].deveui]
    assert any(re.search(r"temperature=-?[\d.]+", r) for r in air), air
    # the UART sensors measure (SDS011, A02YYUW as water level and as parking occupancy)
    assert any(re.search(r"pm2_5=[\d.]+, pm10=[\d.]+", r) for r in air), air
    water = city[PROFILES[1].deveui]
    assert any(re.search(r"water_level=[\d.]+", r) for r in water), water
    assert all("water_level=invalid" not in r for r in water), water
    # the DS18B20 in the river (1-Wire): 9 degC + 0.3 x (air - 13 degC) in the demo scenario
    wt = [float(m) for r in water for m in re.findall(r"water_temperature=(-?[\d.]+)", r)]
    assert wt and all(5.0 <= v <= 13.0 for v in wt), water
    parking = city[PROFILES[2].deveui]
    assert any(re.search(r"occupancy=(True|False)", r) for r in parking), parking
    meter = city[PROFILES[3].deveui]  # the water meter's own index, from 1234 m3 on
    idx = [float(m) for r in meter for m in re.findall(r"volume_index=([\d.]+)", r)]
    assert idx and all(1234.0 <= v < 1300.0 for v in idx) and idx == sorted(idx), meter
    summary = demo.lines[-1]
    m = re.search(r"demo: (\d+) uplinks, (\d+) SenML packs", summary)
    assert m and int(m[2]) >= len(PROFILES), summary
    _no_orphans(demo)


@pytest.mark.usefixtures("micropython")
@pytest.mark.parametrize("how", ["ctrl-c", "sighup", "duration"])  # SIGTERM: the test above
def test_demo_stops_cleanly_on_a_signal(how: str) -> None:
    demo = Demo(*(["--duration", "1"] if how == "duration" else []))
    try:
        if how == "ctrl-c":
            demo.wait_city(1)
            os.killpg(demo.proc.pid, signal.SIGINT)  # what a terminal sends the foreground group
        elif how == "sighup":
            demo.wait_city(1)
            os.killpg(demo.proc.pid, signal.SIGHUP)  # a closed terminal: mosquitto gets it too
        rc = demo.wait_exit(START_TIMEOUT_S + STOP_TIMEOUT_S)  # --duration counts from the start
    finally:
        demo.kill()
    assert rc == 0, demo.lines[-10:]
    assert "everything stopped" in demo.lines[-1]
    _no_orphans(demo)


@pytest.mark.usefixtures("micropython")
def test_ctrl_c_while_starting_stops_cleanly() -> None:
    demo = Demo()
    try:
        demo.wait_line(f"flashing {len(PROFILES)} virtual boards")  # mid-start: mpremote and socat are running
        os.killpg(demo.proc.pid, signal.SIGINT)
        rc = demo.wait_exit()
    finally:
        demo.kill()
    assert rc in (0, 130), demo.lines[-10:]  # 130: interrupted before the view started
    assert "everything stopped" in demo.lines[-1]
    _no_orphans(demo)
