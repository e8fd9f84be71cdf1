"""The SDS011 and A02YYUW drivers on the real MicroPython Unix port: byte-exact transcripts
(good, bad checksum, garbage, timeout), the virtual board's simulators, and the node keeping
on when the UART sensor fails. One interpreter run answers every request (mpy_sensors.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trosmart_tools.mpy import MicroPythonBatch

from .frames import (
    DOC_QUERY,
    DOC_QUERY_MODE,
    DOC_REPLY,
    DOC_SLEEP,
    DOC_WORK,
    HERE,
    MODE_ACK,
    MPY_PATH,
    SLEEP_ACK,
    WORK_ACK,
    a02_frame,
    sds_data,
)

NOISE = bytes.fromhex("00aa13c0ffab55aac5") + bytes(range(0x30, 0x40))


def _sds(*chunks: bytes, **kw: object) -> dict:
    return {"op": "sds011", "script": [c.hex() for c in chunks], **kw}


def _a02(stream: bytes, **kw: object) -> dict:
    return {"op": "a02yyuw", "stream": stream.hex(), **kw}


REQUESTS: dict[str, dict] = {
    "sds_doc": _sds(WORK_ACK, MODE_ACK, bytes.fromhex(DOC_REPLY), SLEEP_ACK),
    "sds_no_sleep": _sds(MODE_ACK, sds_data(55, 98), sleep=False),
    "sds_active_in_flight": _sds(sds_data(1, 2) + WORK_ACK, MODE_ACK, sds_data(77, 140), SLEEP_ACK,
                                 first=sds_data(3, 4).hex()),
    "sds_bad_checksum": _sds(WORK_ACK, MODE_ACK, sds_data(77, 140, bad=True), SLEEP_ACK),
    "sds_bad_then_good": _sds(WORK_ACK, MODE_ACK, sds_data(77, 140, bad=True) + sds_data(78, 141), SLEEP_ACK),
    "sds_garbage_then_good": _sds(WORK_ACK, MODE_ACK, NOISE + sds_data(250, 400), SLEEP_ACK),
    "sds_garbage_only": _sds(WORK_ACK, MODE_ACK, NOISE, SLEEP_ACK),
    "sds_timeout": _sds(),
    "sds_over_range": _sds(WORK_ACK, MODE_ACK, sds_data(10000, 200), SLEEP_ACK),
    "a02_distance": _a02(a02_frame(1953), stale=(a02_frame(400) + a02_frame(401)).hex()),
    "a02_water": _a02(a02_frame(1953), **{"as": "water_level", "mount": 3000}),
    "a02_water_dry": _a02(a02_frame(3100), **{"as": "water_level", "mount": 3000}),
    "a02_car": _a02(a02_frame(1100), **{"as": "occupancy", "threshold": 1800}),
    "a02_no_car": _a02(a02_frame(2500), **{"as": "occupancy", "threshold": 1800}),
    "a02_bad_then_good": _a02(a02_frame(800, bad=True) + a02_frame(801)),
    "a02_bad_only": _a02(a02_frame(800, bad=True) * 3),
    "a02_garbage_then_good": _a02(bytes.fromhex("0155aa") + a02_frame(1234)),
    "a02_timeout": _a02(b""),
    "a02_too_near": _a02(a02_frame(20)),
    "a02_too_far": _a02(a02_frame(4600)),
    "sim_sds": {"op": "sds011_sim", "pm": [12.3, 45.6], "reads": 3},
    "sim_sds_badsum": {"op": "sds011_sim", "pm": [12.3, 45.6], "cond": "badsum"},
    "sim_sds_garbage": {"op": "sds011_sim", "pm": [999.9, 0.0], "cond": "garbage"},
    "sim_sds_removed": {"op": "sds011_sim", "pm": [1.0, 2.0], "cond": "removed"},
    "sim_a02": {"op": "a02yyuw_sim", "m": 1.234, "as": "water_level", "mount": 2000},
    "sim_a02_car": {"op": "a02yyuw_sim", "m": 1.2, "as": "occupancy", "threshold": 1800},
    "sim_a02_badsum": {"op": "a02yyuw_sim", "m": 1.0, "cond": "badsum"},
    "sim_a02_garbage": {"op": "a02yyuw_sim", "m": 0.5, "cond": "garbage"},
    "sim_a02_removed": {"op": "a02yyuw_sim", "m": 0.5, "cond": "removed"},
    "node_sds_fails": {"op": "node", "uart_sensor": "sds011", "fail": True},
    "node_sds_ok": {"op": "node", "uart_sensor": "sds011", "fail": False},
    "node_a02_ok": {"op": "node", "uart_sensor": "a02yyuw", "fail": False},
}


@pytest.fixture(scope="module")
def ans(micropython: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    flash: Path = tmp_path_factory.mktemp("flash")
    names = list(REQUESTS)
    batch = MicroPythonBatch(HERE / "mpy_sensors.py", path=list(MPY_PATH), heapsize="256k", args=[str(flash)])
    return dict(zip(names, batch.call_many([REQUESTS[n] for n in names]), strict=True))


def test_sds011_datasheet_transcript(ans: dict[str, dict]) -> None:
    a = ans["sds_doc"]
    assert a["values"] == {"pm2_5": 123.6, "pm10": 261.8}
    # wake, query reporting mode (once per boot), query data, sleep: the document's own bytes
    assert a["written"] == [DOC_WORK, DOC_QUERY_MODE, DOC_QUERY, DOC_SLEEP]
    assert ans["sds_no_sleep"]["values"] == {"pm2_5": 5.5, "pm10": 9.8}
    assert ans["sds_no_sleep"]["written"] == [DOC_QUERY_MODE, DOC_QUERY]


def test_sds011_skips_active_mode_reports(ans: dict[str, dict]) -> None:
    a = ans["sds_active_in_flight"]  # factory default: a C0 report every second until query mode
    assert a["values"] == {"pm2_5": 7.7, "pm10": 14.0} and a["bad"] == 0


def test_sds011_bad_checksum_resyncs_or_fails(ans: dict[str, dict]) -> None:
    a = ans["sds_bad_checksum"]
    assert "bad frame" in a["error"] and a["bad"] == 1
    assert a["written"][-1] == DOC_SLEEP  # the fan is put to sleep after a failed read too
    b = ans["sds_bad_then_good"]
    assert b["values"] == {"pm2_5": 7.8, "pm10": 14.1} and b["bad"] == 1


def test_sds011_garbage_and_timeout(ans: dict[str, dict]) -> None:
    assert ans["sds_garbage_then_good"]["values"] == {"pm2_5": 25.0, "pm10": 40.0}
    assert "no valid reply" in ans["sds_garbage_only"]["error"]
    t = ans["sds_timeout"]
    assert t["error"] == "sds011: no answer in 50 ms"
    assert t["written"] == [DOC_WORK]  # nobody on the line: no sleep command, no second wait
    assert "999.9" in ans["sds_over_range"]["error"]


def test_a02yyuw_frames_and_quantities(ans: dict[str, dict]) -> None:
    d = ans["a02_distance"]
    assert d["values"] == {"distance": 1.953} and d["left"] == 0  # stale frames were dropped
    assert ans["a02_water"]["values"] == {"water_level": 1.047}
    assert ans["a02_water_dry"]["values"] == {"water_level": 0.0}
    assert ans["a02_car"]["values"] == {"occupancy": True}
    assert ans["a02_no_car"]["values"] == {"occupancy": False}


def test_a02yyuw_bad_checksum_garbage_timeout_range(ans: dict[str, dict]) -> None:
    assert ans["a02_bad_then_good"]["values"] == {"distance": 0.801}
    assert ans["a02_bad_then_good"]["bad"] == 1
    assert "3 bad frame" in ans["a02_bad_only"]["error"]
    assert ans["a02_garbage_then_good"]["values"] == {"distance": 1.234}
    assert ans["a02_timeout"]["error"] == "a02yyuw: no data in 50 ms"
    assert "outside 30..4500" in ans["a02_too_near"]["error"]
    assert "outside 30..4500" in ans["a02_too_far"]["error"]


def test_drivers_against_simulators(ans: dict[str, dict]) -> None:
    s = ans["sim_sds"]
    assert s["reads"] == [{"values": {"pm2_5": 12.3, "pm10": 45.6}}] * 3
    assert s["awake"] is False and s["query_mode"] is True  # left asleep, in query mode
    assert "bad frame" in ans["sim_sds_badsum"]["reads"][0]["error"]
    assert ans["sim_sds_garbage"]["reads"] == [{"values": {"pm2_5": 999.9, "pm10": 0.0}}]
    assert "no answer" in ans["sim_sds_removed"]["reads"][0]["error"]
    assert ans["sim_a02"]["values"] == {"water_level": 0.766}
    assert ans["sim_a02_car"]["values"] == {"occupancy": True}
    assert "bad frame" in ans["sim_a02_badsum"]["error"]
    assert ans["sim_a02_garbage"]["values"] == {"distance": 0.5}
    assert "no data" in ans["sim_a02_removed"]["error"]


def test_node_keeps_sending_when_the_uart_sensor_fails(ans: dict[str, dict]) -> None:
    a = ans["node_sds_fails"]
    assert a["measurements"] == [{"pm2_5": None, "pm10": None, "battery_voltage": 3.87}]
    assert a["last_status"]["failed_sensors"] == ["sds011"]
    assert a["last_status"]["sensor_errors"]["sds011"] == a["uart_errors"] >= 1
    ok = ans["node_sds_ok"]
    assert ok["measurements"] == [{"pm2_5": 12.5, "pm10": 20.1, "battery_voltage": 3.87}]
    assert ok["last_status"]["failed_sensors"] == [] and ok["uart_errors"] == 0
    assert ans["node_a02_ok"]["measurements"] == [{"water_level": 1.234, "battery_voltage": 3.87}]
