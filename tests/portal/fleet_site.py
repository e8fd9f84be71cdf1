"""A portal with the fleet view on a real mosquitto, its storage on either backend, filled
with nodes (public and private), their ``meta`` and status frames; a collector on the
command topic sees what the portal publishes. The HTTP side is driven in-process (Starlette's
test client) or by the portal's own server (browser tests)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import payload_codec
from portal import config
from portal.service import Portal
from portal.storage import Pack
from tests.bridge import harness
from trosmart_tools.broker import Mosquitto

from .fleet_helpers import fleet_doc, meta, status_pack
from .helpers import CITY, HIDDEN, MAKER, pack

PREFIX = "trosmart/v1"
MIN = 60_000
HOUR = 3_600_000


def site_doc(tmp: Path, broker_port: int, backend: str, dsn_env: str | None, **fleet: Any) -> dict[str, Any]:
    d = fleet_doc(**fleet)
    d["portal"].update(state_dir=str(tmp / "portal-state"), port=0)
    d["mqtt"] = {"port": broker_port, "client_id": f"portal-{tmp.name}", "reconnect_max_s": 2}
    if backend == "postgresql":
        d["storage"] = {"backend": "postgresql", "dsn_env": dsn_env}
    return d


def fill(p: Portal, now_ms: int) -> None:
    """CITY: healthy, reporting every 10 minutes, firmware 1.4.2 with a bad config key.
    HIDDEN (private): silent for 2 hours (> 3 × 10 min), a failed sensor.
    MAKER: reporting, battery falling 0.3 V/day over 24 h."""
    packs: list[Pack] = []
    metas: list[tuple[str, dict[str, Any]]] = []
    for i in range(24 * 6):
        t = now_ms - (24 * 6 - i) * 10 * MIN
        packs.append(pack(CITY, t, temperature=20.0, battery_voltage=3.9))
        packs.append(pack(MAKER, t, temperature=18.0, battery_voltage=3.9 - 0.3 * (i * 10 * MIN) / (24 * HOUR)))
        metas.append((CITY, meta(CITY, t, i, frames=i + 1, lost=i // 20)))
        metas.append((MAKER, meta(MAKER, t, i, frames=i + 1)))
        if t < now_ms - 2 * HOUR:
            packs.append(pack(HIDDEN, t, temperature=5.0, battery_voltage=3.6))
            metas.append((HIDDEN, meta(HIDDEN, t, i, frames=i + 1, rssi=-119.0, snr=-12.5)))
    packs.append(status_pack(CITY, now_ms - 30 * MIN, {"firmware": "1.4.2", "interval_s": 600,
                                                       "config_errors": ["wifi_ssid"], "battery_voltage": 3.9}))
    packs.append(status_pack(HIDDEN, now_ms - 3 * HOUR, {"firmware": "1.3.0", "interval_s": 600,
                                                         "failed_sensors": ["sht41"], "sensor_errors": {"sht41": 12}}))
    p.storage.ingest(packs, now_ms=now_ms)
    for dev, m in metas:  # the bridge's meta carries the firmware of the node's status frames
        p.storage.put_meta(dev, {**m, "firmware": "1.3.0" if dev == HIDDEN else "1.4.2", "interval_s": 600}, now_ms)
    p.fleet_ingest.handle(metas, packs, now_ms)


class Site:
    def __init__(self, portal: Portal, commands: harness.Collector, now_ms: int) -> None:
        self.portal = portal
        self.commands = commands
        self.now_ms = now_ms

    def published(self) -> list[Any]:
        return self.commands.on("/command")


@pytest.fixture
def site(mosquitto: Mosquitto, tmp_path: Path, backend: str, request: pytest.FixtureRequest,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield from make_site(mosquitto, tmp_path, backend, request, monkeypatch)


def make_site(mosquitto: Mosquitto, tmp_path: Path, backend: str, request: pytest.FixtureRequest,
              monkeypatch: pytest.MonkeyPatch, **fleet: Any) -> Iterator[Site]:
    dsn_env = None
    if backend == "postgresql":
        monkeypatch.setenv("PORTAL_TEST_DSN", request.getfixturevalue("pg_dsn"))
        dsn_env = "PORTAL_TEST_DSN"
    portal = Portal(config.parse(site_doc(tmp_path, mosquitto.port, backend, dsn_env, **fleet)))
    assert portal.ingest is not None
    now_ms = int(time.time() * 1000)
    fill(portal, now_ms)
    portal.ingest.start()
    col = harness.Collector(mosquitto.port, topic=f"{PREFIX}/+/command", client_id=f"cmd-{tmp_path.name}",
                            persistent=False)
    try:
        harness.wait_until(lambda: portal.ingest is not None and portal.ingest.connected, 15, "portal connected")
        yield Site(portal, col, now_ms)
    finally:
        col.close()
        portal.stop()


def status_frame(**status: Any) -> bytes:
    return payload_codec.encode_status(status)
