"""End to end on the virtual board with the sensor table: one node with a BME280, an SHT4x, an
SPS30 (woken for its warm-up), a DS18B20 on the 1-Wire bus and the battery divider; the decoded
uplinks match the scenario, and when the SHT4x and the SPS30 are removed the others go on
reporting (the BME280 stands in for the SHT4x's temperature and humidity)."""

from __future__ import annotations

import re
from pathlib import Path

import payload_codec
from trosmart_tools.virtual_lab.board.ds18b20_sim import make_rom
from trosmart_tools.virtual_lab.scenario import Scenario

from ..firmware_node.test_virtual_board import image, make_lab  # noqa: F401 - pytest fixtures

QUANTITIES = ["temperature", "humidity", "pressure", "pm1", "pm2_5", "pm4", "pm10", "water_temperature",
              "battery_voltage"]
CONFIG = {"interval_s": 60, "sensors": ["bme280", "sht4x", "sps30", "ds18b20", "battery"],
          "quantities": QUANTITIES, "sps30_warmup_s": 10, "ds18b20_as": ["water_temperature"]}
HW = {"i2c": [{"type": "sht4x", "address": 0x44}, {"type": "sps30", "address": 0x69}],
      "onewire": {"probes": [{"rom": make_rom(0).hex(), "signal": "water_temperature"}]}}
SHT_GONE_S = 300
SPS_GONE_S = 420
SCENARIO = {
    "signals": {
        "temperature": [[0, 12.0], [900, 21.0]], "humidity": [[0, 80.0], [900, 55.0]],
        "pressure": [[0, 1001.0], [900, 1012.0]], "pm1": [[0, 3.0], [900, 12.0]],
        "pm2_5": [[0, 6.0], [900, 30.0]], "pm4": [[0, 7.0], [900, 33.0]], "pm10": [[0, 9.0], [900, 45.0]],
        "water_temperature": [[0, 8.0], [900, 11.5]], "battery_voltage": [[0, 4.1], [900, 3.9]],
    },
    "events": [{"sensor": "sht4x", "kind": "removed", "at_s": SHT_GONE_S},
               {"sensor": "sps30", "kind": "removed", "at_s": SPS_GONE_S}],
}
# half a registry step (the drift over the cycle's awake time is allowed for separately)
TOL = {"temperature": 0.06, "humidity": 0.26, "pressure": 0.06, "pm1": 0.06, "pm2_5": 0.11, "pm4": 0.1,
       "pm10": 0.1, "water_temperature": 0.04, "battery_voltage": 0.006}
WARM_S = 10


def test_mixed_node_reports_every_sensor_and_survives_removals(make_lab, tmp_path: Path) -> None:  # noqa: F811
    lab = make_lab(CONFIG)
    lab.node.scenario = str(Scenario(SCENARIO).save(tmp_path / "mixed.json"))
    lab.node.parts = HW
    lab.start()
    lab.node.wait_for(r"node: sample \d+ at (4[6-9]|[5-9])\d{5} ", count=1, timeout_s=120)
    sc = Scenario(SCENARIO)
    samples = lab.samples()
    assert len(samples) >= 5
    before = after_sht = after_sps = 0
    for _, at_ms, frame in samples:
        v = payload_codec.decode(frame)["samples"][0]["values"]
        assert set(v) == set(QUANTITIES), v
        t = at_ms / 1000
        for q in QUANTITIES:
            if q.startswith("pm") and t + WARM_S > SPS_GONE_S:
                assert v[q] is None, (t, q, v)  # the SPS30 is gone: invalid, the others report
                continue
            # read after the warm-up while the SPS30 is fitted, else right away: the value of
            # some moment of the cycle's awake time (the signals are monotonic)
            a, b = sorted((sc.value(q, t), sc.value(q, t + WARM_S + 2)))
            assert a - TOL[q] <= v[q] <= b + TOL[q], (t, q, v, a, b)
        if t + WARM_S < SHT_GONE_S:
            before += 1
        elif t + WARM_S < SPS_GONE_S:
            after_sht += 1
        else:
            after_sps += 1
    assert before and after_sht and after_sps, (before, after_sht, after_sps)
    # the awake time of each cycle counts the SPS30's warm-up (light sleep) and says so
    cycles = [(int(m.group(1)), int(m.group(2))) for m in
              (re.search(r"awake_ms=(\d+) free=\d+ warmup_ms=(\d+)", ln) for ln in lab.node.console) if m]
    warm = [(a, w) for a, w in cycles if w]
    assert warm and all(w == WARM_S * 1000 and a >= w for a, w in warm), cycles
    assert cycles[-1][1] == 0  # no SPS30 left: no warm-up any more
    status = [u["decoded"]["status"] for u in lab.events.of("up", payload_codec.STATUS)]
    assert any(s.get("failed_sensors") == ["sht4x"] for s in status), status
    assert any(s.get("failed_sensors") == ["sht4x", "sps30"] for s in status), status
