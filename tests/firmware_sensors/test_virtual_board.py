"""End to end on the virtual board: the real firmware with an SDS011 and an A02YYUW (water level)
on the simulated UART1, RAK3172 emulator, ChirpStack events on a real mosquitto; a bad-checksum
glitch, a burst of line noise and a removal along the way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import payload_codec
from trosmart_tools.virtual_lab.scenario import Scenario

from ..firmware_node.test_virtual_board import image, make_lab  # noqa: F401 - pytest fixtures
from ..firmware_node.virtual_lab import DEVEUI, SECRETS, Lab

BATTERY = {"battery_voltage": [[0, 4.1], [3600, 3.7]]}
PM = {"signals": {"pm2_5": [[0, 5.0], [600, 55.0]], "pm10": [[0, 9.0], [600, 99.0]], **BATTERY},
      # windows longer than the ~70 s between samples, so each holds at least one
      "events": [{"sensor": "sds011", "kind": "badsum", "at_s": 50, "until_s": 130},
                 {"sensor": "sds011", "kind": "garbage", "at_s": 135, "until_s": 215},
                 {"sensor": "sds011", "kind": "removed", "at_s": 225}]}
WATER = {"signals": {"distance": [[0, 2.5], [600, 1.3]], **BATTERY}, "events": []}
MOUNT_MM = 3000
WARM_S = 30  # the SDS011's default warm-up (sds011_warmup_s, docs/references.md §S.5)
WATER_EUI = "70b3d57ed0005678"


def _ups(lab: Lab, fport: int, eui: str, n: int) -> list[dict]:
    """The uplinks of one device once at least ``n`` arrived (the broker may lag the log)."""
    def mine() -> list[dict]:
        return [u for u in lab.events.of("up", fport) if u["deviceInfo"]["devEui"] == eui]

    lab.events.wait(lambda k, b: len(mine()) >= n, 10.0, f"{n} uplinks of {eui} on fPort {fport}")
    return mine()


def _values(frame: bytes) -> dict:
    return payload_codec.decode(frame)["samples"][0]["values"]


def test_pm_and_water_level_reach_the_network(make_lab, tmp_path: Path) -> None:  # noqa: F811
    # two nodes at once; each its own scenario file (make_lab writes one shared path)
    pm = make_lab({"interval_s": 60, "uart_sensor": "sds011",
                   "quantities": ["pm2_5", "pm10", "battery_voltage"]})
    pm.node.scenario = str(Scenario(PM).save(tmp_path / "pm.json"))
    pm.node.uart_sensor = "sds011"
    water = make_lab({"interval_s": 60, "uart_sensor": "a02yyuw", "a02yyuw_as": "water_level",
                      "a02yyuw_mount_mm": MOUNT_MM, "quantities": ["water_level", "battery_voltage"]})
    water.node.scenario = str(Scenario(WATER).save(tmp_path / "water.json"))
    water.node.uart_sensor = "a02yyuw"
    # both labs publish on one broker: the water node gets a DevEUI of its own
    (water.node.flash / "secrets.json").write_text(json.dumps(dict(SECRETS, deveui=WATER_EUI)))
    pm.start()
    water.start()
    pm.node.wait_for(r"node: sample \d+ at (2[4-9]|[3-9])\d{5} ", count=2, timeout_s=60)
    water.node.wait_for(r"node: sample", count=3, timeout_s=30)

    sc = Scenario(PM)
    samples = pm.samples()
    def bad(t: float) -> bool:  # bad checksums, then no sensor
        return 50 < t < 130 or t > 225

    valid_in_noise = 0
    for _, at_ms, frame in samples:
        v = _values(frame)
        t = at_ms / 1000
        if v["pm2_5"] is None:
            # the invalid marker: the wake failed (no warm-up, read at t) or the query after it
            assert v["pm10"] is None and (bad(t) or bad(t + WARM_S)), (t, v)
            lo, hi = sorted((sc.value("battery_voltage", t), sc.value("battery_voltage", t + WARM_S + 2)))
            assert lo - 0.006 <= v["battery_voltage"] <= hi + 0.006, (t, v)
            continue
        tr = t + WARM_S  # woken, warmed up for 30 s, then every sensor is read
        # including the noise burst: resynchronised (read within 2 s after the warm-up)
        assert not (bad(tr) and bad(tr + 2)), (t, v)
        assert v["pm2_5"] == pytest.approx(sc.value("pm2_5", tr), abs=0.11), (t, v)
        assert v["pm10"] == pytest.approx(sc.value("pm10", tr), abs=0.11), (t, v)
        assert v["battery_voltage"] == pytest.approx(sc.value("battery_voltage", tr), abs=0.006)
        valid_in_noise += 135 < tr < 215
    times = [s[1] / 1000 + WARM_S for s in samples]
    # a frame the duty cycle held back after a status frame rides in a batch (its own time: read)
    times += [t_ms / 1000 for t_ms, _ in pm.batch_samples()]
    valid_in_noise += sum(1 for t_ms, v in pm.batch_samples()
                          if v["pm2_5"] is not None and 135 < t_ms / 1000 < 215)
    assert any(50 < t < 130 for t in times) and valid_in_noise, times
    _ups(pm, payload_codec.MEASUREMENT, DEVEUI, len(samples))
    failed = [u["decoded"]["status"]["failed_sensors"] for u in _ups(pm, payload_codec.STATUS, DEVEUI, 4)]
    assert failed == [[], ["sds011"], [], ["sds011"]], failed  # glitch, back, removed

    wsc = Scenario(WATER)
    wsamples = water.samples()
    ups = _ups(water, payload_codec.MEASUREMENT, WATER_EUI, len(wsamples))
    ups = [u for u in ups if not bytes.fromhex(_hex(u))[0] & 0x10]  # live frames (no store batches)
    assert [u["decoded"]["samples"][0]["values"] for u in ups[:len(wsamples)]] == [
        _values(f) for _, _, f in wsamples]
    for _, at_ms, frame in wsamples:
        want = (MOUNT_MM - wsc.value("distance", at_ms / 1000) * 1000) / 1000
        assert _values(frame)["water_level"] == pytest.approx(want, abs=0.003), at_ms


def _hex(u: dict) -> str:
    import base64

    return base64.b64decode(u["data"]).hex()
