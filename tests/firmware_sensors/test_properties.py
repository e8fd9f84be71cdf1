"""Property tests (hypothesis) of the UART sensor drivers on MicroPython: any reading the parts
can send comes back exactly, through the byte frames and through the simulators; random byte
noise never crashes a driver and never invents a reading that no valid frame carried."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trosmart_tools.mpy import MicroPythonBatch

from .frames import (
    HERE,
    MODE_ACK,
    MPY_PATH,
    SLEEP_ACK,
    WORK_ACK,
    a02_frame,
    a02_valid_windows,
    sds_data,
    sds_valid_windows,
)

SETTINGS = settings(max_examples=5, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
MODES = ("distance", "water_level", "occupancy")


def _call(tmp_path: Path, reqs: list[dict]) -> list[dict]:
    flash = tmp_path / "flash"
    flash.mkdir(exist_ok=True)
    return MicroPythonBatch(HERE / "mpy_sensors.py", path=list(MPY_PATH), heapsize="256k",
                            args=[str(flash)]).call_many(reqs)


def _expect_a02(mm: int, mode: str, mount: int, threshold: int) -> dict:
    if mode == "distance":
        return {"distance": mm / 1000}
    if mode == "water_level":
        return {"water_level": max(mount - mm, 0) / 1000}
    return {"occupancy": mm < threshold}


tenths = st.integers(0, 9999)
readings = st.lists(st.tuples(tenths, tenths), min_size=10, max_size=25)


@SETTINGS
@given(readings=readings)
def test_sds011_any_reading_round_trips(micropython: str, tmp_path: Path, readings: list) -> None:
    reqs = []
    for a, b in readings:
        reqs.append({"op": "sds011", "script": [WORK_ACK.hex(), MODE_ACK.hex(), sds_data(a, b).hex(),
                                                SLEEP_ACK.hex()]})
        reqs.append({"op": "sds011_sim", "pm": [a / 10, b / 10]})
    answers = _call(tmp_path, reqs)
    for (a, b), frame, sim in zip(readings, answers[0::2], answers[1::2], strict=True):
        want = {"pm2_5": a / 10, "pm10": b / 10}
        assert frame["values"] == want
        assert sim["reads"] == [{"values": want}]


@SETTINGS
@given(cases=st.lists(st.tuples(st.integers(30, 4500), st.sampled_from(MODES), st.integers(30, 16000),
                                st.integers(30, 4500)), min_size=6, max_size=12))  # a sim read waits ~100 ms
def test_a02yyuw_any_distance_round_trips(micropython: str, tmp_path: Path, cases: list) -> None:
    reqs = []
    for mm, mode, mount, thr in cases:
        reqs.append({"op": "a02yyuw", "stream": a02_frame(mm).hex(), "as": mode, "mount": mount,
                     "threshold": thr})
        reqs.append({"op": "a02yyuw_sim", "m": mm / 1000, "as": mode, "mount": mount, "threshold": thr})
    answers = _call(tmp_path, reqs)
    for (mm, mode, mount, thr), frame, sim in zip(cases, answers[0::2], answers[1::2], strict=True):
        want = _expect_a02(mm, mode, mount, thr)
        assert frame["values"] == want
        assert sim["values"] == want


noise = st.binary(min_size=0, max_size=40)


@SETTINGS
@given(cases=st.lists(st.tuples(noise, st.booleans(), st.integers(30, 4500)), min_size=8, max_size=16))
def test_a02yyuw_noise_never_invents_a_reading(micropython: str, tmp_path: Path, cases: list) -> None:
    reqs = [{"op": "a02yyuw", "stream": (junk + (a02_frame(mm) if good else b"")).hex()}
            for junk, good, mm in cases]
    for (junk, good, mm), ans in zip(cases, _call(tmp_path, reqs), strict=True):
        stream = junk + (a02_frame(mm) if good else b"")
        valid = a02_valid_windows(stream)
        if "values" in ans:
            assert round(ans["values"]["distance"] * 1000) in valid
        else:  # a typed SensorError: never another exception (the driver script would crash)
            assert ans["error"].startswith("a02yyuw: ")
            assert not good or not 30 <= mm <= 4500 or valid - {mm}, (ans, stream.hex())


@SETTINGS
@given(cases=st.lists(st.tuples(noise, st.booleans(), tenths, tenths), min_size=8, max_size=16))
def test_sds011_noise_never_invents_a_reading(micropython: str, tmp_path: Path, cases: list) -> None:
    reqs = []
    for junk, good, a, b in cases:
        data = junk + (sds_data(a, b) if good else b"")
        reqs.append({"op": "sds011", "script": [WORK_ACK.hex(), MODE_ACK.hex(), data.hex(), SLEEP_ACK.hex()]})
    for (junk, good, a, b), ans in zip(cases, _call(tmp_path, reqs), strict=True):
        valid = sds_valid_windows(junk + (sds_data(a, b) if good else b""))
        if "values" in ans:
            got = (round(ans["values"]["pm2_5"] * 10), round(ans["values"]["pm10"] * 10))
            assert got in valid
        else:
            assert ans["error"].startswith("sds011: ")
            assert not good, ans  # a good frame after noise is always found
