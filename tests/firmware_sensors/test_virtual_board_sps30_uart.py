"""End to end on the virtual board: the real firmware with an SPS30 on the sensor UART (SHDLC,
tools/virtual_lab/board/sps30_shdlc_sim.py) next to the BME280, selected by the config's
uart_sensor through the sensor table's one sps30 row; a checksum glitch, then the part removed.
The decoded uplinks match the scenario, the BME280 goes on reporting, and the status frames
name the SPS30 while it fails."""

from __future__ import annotations

from pathlib import Path

import payload_codec
from trosmart_tools.virtual_lab.scenario import Scenario

from ..firmware_node.test_virtual_board import image, make_lab  # noqa: F401 - pytest fixtures

QUANTITIES = ["temperature", "pressure", "pm1", "pm2_5", "pm4", "pm10"]
WARM_S = 10
BAD = (200, 290)  # every answer's checksum wrong
GONE_S = 420
SCENARIO = {
    "signals": {"temperature": [[0, 12.0], [900, 21.0]], "pressure": [[0, 1001.0], [900, 1012.0]],
                "pm1": [[0, 3.0], [900, 12.0]], "pm2_5": [[0, 6.0], [900, 30.0]],
                "pm4": [[0, 7.0], [900, 33.0]], "pm10": [[0, 9.0], [900, 45.0]]},
    "events": [{"sensor": "sps30", "kind": "badsum", "at_s": BAD[0], "until_s": BAD[1]},
               {"sensor": "sps30", "kind": "removed", "at_s": GONE_S}],
}
TOL = {"temperature": 0.06, "pressure": 0.11, "pm1": 0.06, "pm2_5": 0.11, "pm4": 0.1, "pm10": 0.1}


def test_sps30_on_the_uart_reports_and_fails_cleanly(make_lab, tmp_path: Path) -> None:  # noqa: F811
    lab = make_lab({"interval_s": 60, "sensors": ["bme280"], "uart_sensor": "sps30",
                    "sps30_warmup_s": WARM_S, "quantities": QUANTITIES})
    lab.node.scenario = str(Scenario(SCENARIO).save(tmp_path / "sps30.json"))
    lab.node.uart_sensor = "sps30"
    lab.start()
    lab.node.wait_for(r"node: sample \d+ at (4[6-9]|[5-9])\d{5} ", count=1, timeout_s=120)
    sc = Scenario(SCENARIO)
    samples = lab.samples()
    good = bad = 0
    for _, at_ms, frame in samples:
        v = payload_codec.decode(frame)["samples"][0]["values"]
        t = at_ms / 1000
        a, b = sorted((sc.value("temperature", t), sc.value("temperature", t + WARM_S + 2)))
        assert a - TOL["temperature"] <= v["temperature"] <= b + TOL["temperature"], (t, v)
        failing = BAD[0] <= t + WARM_S <= BAD[1] or t + WARM_S >= GONE_S
        if v["pm2_5"] is None:
            assert failing or BAD[0] <= t <= BAD[1], (t, v)  # the warm-up's start failed then
            bad += 1
            continue
        good += 1
        for q in ("pm1", "pm2_5", "pm4", "pm10"):
            a, b = sorted((sc.value(q, t), sc.value(q, t + WARM_S + 2)))
            assert a - TOL[q] <= v[q] <= b + TOL[q], (t, q, v, a, b)
    assert good and bad, (good, bad)
    status = [u["decoded"]["status"] for u in lab.events.of("up", payload_codec.STATUS)]
    assert any(s.get("failed_sensors") == ["sps30"] for s in status), status
    assert any(s.get("failed_sensors") == [] for s in status), status
