"""The demo view renders decoded values with units, the invalid marker, airtime, battery and the
SenML that landed; piped, it prints each event once."""

from __future__ import annotations

import io
import re

from trosmart_tools.demo.state import DemoState, NodeRow
from trosmart_tools.demo.view import Screen, render

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _state() -> DemoState:
    row = NodeRow("air quality", "air_quality", "70b3d57ed0de0001",
                  ["temperature", "humidity", "pressure", "pm2_5", "pm10", "battery_voltage"])
    st = DemoState([row], "trosmart/v1", "mosquitto version 2.0.11 on 127.0.0.1:1883", 60.0)
    st.started = 1000.0
    decoded = {"kind": "measurement", "samples": [{"offset_s": 0, "values": {
        "temperature": 21.5, "humidity": 40.0, "pressure": 1000.0, "pm2_5": None, "pm10": None,
        "battery_voltage": 3.9}}]}
    st.on_join("70B3D57ED0DE0001")
    st.on_uplink("70b3d57ed0de0001", 1, 7, decoded)
    row.last_uplink = 1010.0
    st.on_senml("70b3d57ed0de0001", [{"bn": "urn:dev:deveui:70b3d57ed0de0001", "n": "temperature", "u": "Cel",
                                      "v": 21.5}, {"n": "pm2_5", "vs": "invalid"}])
    row.city_at = 1010.0
    row.airtime_ms = 720.0
    return st


def test_render_shows_values_units_airtime_battery_and_city_senml() -> None:
    lines = [ANSI.sub("", ln) for ln in render(_state(), width=200, now=1070.0)]
    text = "\n".join(lines)
    assert "≈01:10:00 virtual (×60)" in lines[0] and "mosquitto version 2.0.11" in lines[0]
    row = next(ln for ln in lines if ln.startswith("air quality"))
    assert "00:60:00 ago" not in row and "01:00:00 ago" in row  # 60 real s at ×60
    assert re.search(r"\b7\s+1\s+0\.72 s \(2% of 1%/h\)\s+3\.90 V$", row), row
    assert ("temperature 21.5 Cel · humidity 40 %RH · pressure 1000 hPa · pm2_5 — · pm10 — · "
            "battery_voltage 3.9 V") in text
    assert "city: trosmart/v1/70b3d57ed0de0001/senml #1 (01:00:00 ago): temperature=21.5 Cel, pm2_5=invalid" in text
    assert "1 SenML packs, 0 dead letters" in text


def test_render_clips_to_the_terminal_width() -> None:
    for ln in render(_state(), width=40, now=1070.0):
        assert len(ANSI.sub("", ln)) <= 40


def test_piped_output_prints_each_event_once() -> None:
    st = _state()
    out = io.StringIO()
    screen = Screen(st, out, tty=False)
    screen.open()
    screen.draw()
    screen.draw()
    st.on_deadletter("undecodable frame")
    screen.close()
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert [ln.split("] ", 1)[1] for ln in lines] == [
        "air quality: joined",
        "air quality: uplink fCnt 7: battery_voltage 3.9, humidity 40, pm10 —, pm2_5 —, pressure 1000, "
        "temperature 21.5",
        "air quality: city trosmart/v1/70b3d57ed0de0001/senml: temperature=21.5, pm2_5=invalid",
        "bridge dead letter: undecodable frame",
    ]
