"""The bridge's discovery loaded by a real Home Assistant 2024.3.3 on the same mosquitto.

One HA, one bridge and one broker for the module (an HA start costs ~10 s). Each test uses
its own devices. What HA makes of the configs is read from its REST API (``/api/states``)
and its log; HA's rules: docs/references.md §T.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import payload_codec
from bridge import homeassistant as bridge_ha
from bridge.service import Bridge
from payload_codec import registry
from tests.bridge import harness, lns
from tests.conftest import IN_CI
from trosmart_tools.broker import Mosquitto
from trosmart_tools.errors import ToolError

from .ha import HomeAssistant

WAIT_S = 90.0  # generous: HA, the bridge and mosquitto share 2 CPUs with other tests
# HA's metric unit system shows these device classes in another unit (util/unit_system.py
# METRIC_SYSTEM: wind speeds except knots become km/h): device class -> (unit, factor)
HA_CONVERTS = {"wind_speed": ("km/h", 3.6)}
EXTRA_LAYOUT = (9, ["no2", "o3", "illuminance", "uv_index", "distance", "solar_radiation",
                    "wind_gust"])  # the registry quantities no profile carries


def _value(q: str, i: int) -> float | bool:
    row = registry.by_name(q)
    if row[7] == registry.BOOL:
        return i % 2 == 0
    lo, hi, mul, div = row[3], row[4], row[5], row[6]
    return (lo + (hi - lo) // (3 + i)) * mul / div  # inside the range, on the resolution


def _eui(n: int) -> str:
    return f"70b3d57ed000{n:04x}"


class Rig:
    def __init__(self, tmp: Path) -> None:
        try:
            self.broker = Mosquitto().start()
        except ToolError as e:
            if IN_CI:
                pytest.fail(f"mosquitto is required in CI: {e}")
            pytest.skip(f"mosquitto not available: {e}")
        try:
            HomeAssistant.python()
        except FileNotFoundError as e:
            self.broker.close()
            if IN_CI:
                pytest.fail(str(e))
            pytest.skip(str(e))
        self.ha = HomeAssistant(tmp / "ha", self.broker.port).start()
        self.bridge: Bridge = harness.start_bridge(harness.bridge_doc(
            tmp / "state", self.broker.port, self.broker.port, home_assistant=True))
        self.pub = harness.Publisher(self.broker.port, client_id="lns-ha")
        self.col = harness.Collector(self.broker.port, topic="homeassistant/+/+/+/config",
                                     client_id="ha-configs")
        self.f_cnt = 0

    def up(self, eui: str, frame: bytes, f_port: int = 1) -> None:
        self.f_cnt += 1
        self.pub.publish(lns.cs_topic(eui), lns.dumps(lns.cs_up(eui, self.f_cnt, frame, f_port=f_port,
                                                                t=1767225600 + self.f_cnt)))

    def entity(self, eui: str, name: str) -> dict[str, Any] | None:
        """The state of a device's entity, found by HA's friendly name '<device> <entity>'."""
        want = f"node-{eui[-4:]} {name}"
        for s in self.ha.states().values():
            if s["attributes"].get("friendly_name") == want:
                return s
        return None

    def wait_state(self, eui: str, name: str, ok: Callable[[str], bool], what: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def check() -> bool:
            s = self.entity(eui, name)
            if s is not None and ok(s["state"]):
                found.append(s)
                return True
            return False

        harness.wait_until(check, WAIT_S, f"{name} of {eui}: {what}")
        return found[-1]

    def close(self) -> None:
        for close in (self.col.close, self.pub.close, self.bridge.stop, self.ha.stop,
                      self.broker.close):
            with contextlib.suppress(Exception):  # the rest must still be closed
                close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    r = Rig(tmp_path_factory.mktemp("ha"))
    try:
        yield r
    finally:
        r.close()


def _number(expected: float) -> Callable[[str], bool]:
    def ok(state: str) -> bool:
        try:
            return abs(float(state) - expected) <= 1e-9 * max(1.0, abs(expected))
        except ValueError:
            return False
    return ok


def _frames() -> list[tuple[str, list[str], list[tuple[bytes, int]]]]:
    """(DevEUI, quantities, [(frame, fPort)]): one device per profile, one for the rest."""
    out = []
    for n, (_pid, _name, qids) in enumerate(registry.PROFILES, start=1):
        names = [registry.by_id(q)[1] for q in qids]
        out.append((_eui(n), names, [(payload_codec.encode({q: _value(q, i) for i, q in
                                                            enumerate(names)}), 1)]))
    lid, names = EXTRA_LAYOUT
    out.append((_eui(0x100), names, [(payload_codec.encode_layout(lid, names), 3),
                                      (payload_codec.encode({q: _value(q, i) for i, q in
                                                             enumerate(names)}, layout=(lid, names)), 1)]))
    return out


def test_every_quantity_appears_with_its_class_unit_and_state_class(rig: Rig) -> None:
    devices = _frames()
    for eui, _names, frames in devices:
        rig.up(eui, payload_codec.encode_status({"firmware": "1.4.2", "interval_s": 600}), 2)
        for frame, port in frames:
            rig.up(eui, frame, port)
    for eui, names, _ in devices:
        for i, q in enumerate(names):
            value = _value(q, i)
            s = bridge_ha.SENSORS[q]
            unit, factor = HA_CONVERTS.get(s.device_class or "", (s.unit, 1.0))
            if isinstance(value, bool):
                st = rig.wait_state(eui, q, lambda v, b=value: v == ("on" if b else "off"), "on/off")
            else:
                st = rig.wait_state(eui, q, _number(value * factor), f"the number {value}")
            attrs = st["attributes"]
            assert attrs.get("device_class") == s.device_class, (eui, q, attrs)
            assert attrs.get("unit_of_measurement") == unit, (eui, q, attrs)
            assert attrs.get("state_class") == (None if isinstance(value, bool) else s.state_class)
        rssi = rig.wait_state(eui, "RSSI", _number(-70), "the best gateway's RSSI")
        assert rssi["attributes"]["device_class"] == "signal_strength"
        assert rssi["attributes"]["unit_of_measurement"] == "dBm"
        rig.wait_state(eui, "Firmware", lambda v: v == "1.4.2", "the status frame's firmware")
        rig.wait_state(eui, "Last seen", lambda v: v.startswith("2026-01-01T00:"), "a UTC time")
    assert rig.ha.warnings() == []


def test_invalid_readings_show_unknown_and_the_next_valid_one_shows_again(rig: Rig) -> None:
    eui = _eui(0x200)
    for temp, door, want_t, want_d in ((23.7, True, _number(23.7), "on"),
                                       (None, None, "unknown", "unknown"),
                                       (24.1, False, _number(24.1), "off")):
        rig.up(eui, payload_codec.encode({"temperature": temp, "door_open": door,
                                          "battery_voltage": 3.55 if temp else None}))
        rig.wait_state(eui, "temperature", want_t if callable(want_t) else want_t.__eq__, str(temp))
        rig.wait_state(eui, "door_open", want_d.__eq__, want_d)
    rig.wait_state(eui, "battery_voltage", _number(3.55), "3.55 after an invalid one")
    assert rig.ha.warnings() == []


def test_a_silent_node_becomes_unavailable_after_expire_after(rig: Rig) -> None:
    eui = _eui(0x300)
    rig.up(eui, payload_codec.encode_status({"firmware": "1.4.2", "interval_s": 2}), 2)
    rig.up(eui, payload_codec.encode({"temperature": 19.5}))  # expire_after = 3 x 2 s
    rig.wait_state(eui, "temperature", "unavailable".__eq__, "unavailable after 6 s of silence")
    rig.up(eui, payload_codec.encode({"temperature": 19.8}))
    rig.wait_state(eui, "temperature", _number(19.8), "back with the next uplink")


def test_home_assistant_restarted_has_every_entity_back(rig: Rig) -> None:
    eui = _eui(0x400)
    rig.up(eui, payload_codec.encode({"temperature": 21.0, "humidity": 40, "pressure": 1001.5,
                                      "battery_voltage": 3.7}))
    for q, v in (("temperature", 21.0), ("humidity", 40.0), ("pressure", 1001.5)):
        rig.wait_state(eui, q, _number(v), str(v))
    before = {e: s["state"] for e, s in rig.ha.states().items()
              if e.startswith(("sensor.node_", "binary_sensor.node_"))}
    topic = f"homeassistant/sensor/trosmart_{eui}/temperature/config"
    sent = rig.col.count(topic)
    rig.ha.stop()
    rig.ha.start()
    for q, v in (("temperature", 21.0), ("humidity", 40.0), ("pressure", 1001.5)):
        rig.wait_state(eui, q, _number(v), f"{v} after the restart")
    after = rig.ha.states()
    assert set(before) <= set(after)
    # HA's birth message made the bridge publish its configs again
    harness.wait_until(lambda: rig.col.count(topic) > sent, WAIT_S,
                       "the configs re-published on homeassistant/status online")
    assert rig.ha.warnings() == []


def test_table_fits_home_assistants_own_unit_and_state_class_rules(rig: Rig) -> None:
    """Every SENSORS entry against HA 2024.3.3's DEVICE_CLASS_UNITS / DEVICE_CLASS_STATE_CLASSES
    (components/sensor/const.py), run in the HA venv: also the quantities HA never saw here."""
    table = {q: list(s) for q, s in {**bridge_ha.SENSORS, **{
        f"unit:{u}": s for u, s in bridge_ha.UNIT_SENSORS.items()}}.items()}
    code = (
        "import json, sys\n"
        "from homeassistant.components.sensor.const import DEVICE_CLASS_UNITS as U, "
        "DEVICE_CLASS_STATE_CLASSES as S, SensorDeviceClass as D\n"
        "from homeassistant.components.binary_sensor import BinarySensorDeviceClass as B\n"
        "bad = []\n"
        "for q, (dc, unit, sc, _diag) in json.load(sys.stdin).items():\n"
        "    if dc in ('door', 'occupancy'):\n"
        "        B(dc); continue\n"
        "    if dc is None: continue\n"
        "    d = D(dc)\n"
        "    if d in U and U[d] is not None and unit not in U[d]: bad.append((q, 'unit', unit))\n"
        "    if d in S and sc is not None and sc not in S[d]: bad.append((q, 'state_class', sc))\n"
        "print(json.dumps(bad))\n")
    out = subprocess.run([str(HomeAssistant.python()), "-c", code], input=json.dumps(table),
                         capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout) == []
