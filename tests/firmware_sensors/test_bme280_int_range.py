"""The BME280/BMP280 compensation's integers, checked on CPython with the firmware's own code.

The heap test on the MicroPython Unix port (mpy_drivers.py) cannot see the ESP32's limit: a
64-bit port keeps ints up to 2**62 unboxed, the ESP32 only up to 2**30 (beyond it every result
is a heap-allocated long int). So here every calibration word and ADC word is an int subclass
that records the largest intermediate the driver forms, across the parts' whole range
(docs/firmware.md "Sensor drivers"). The same run checks that the driver's split arithmetic
(_mul_shr, _mul_div) gives the bits of the datasheet's int32 code (BME280 DS rev 1.6 §4.2.3,
§8.2), transcribed below on plain Python ints.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trosmart_tools.mpy import REPO_ROOT

SMALL_INT = 1 << 30  # ESP32 (32-bit word): MP_SMALL_INT_MAX = 2**30 - 1
# BMP280 DS §3.12 worked example, and the simulator's part (tools/virtual_lab/board/bme280_sim.py)
DATASHEET = ((27504, 26435, -1000), (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000), None)


class Tracked(int):
    peak = 0

    @staticmethod
    def of(v: int) -> Tracked:
        Tracked.peak = max(Tracked.peak, abs(v))
        return Tracked(v)


def _wrap(name: str, reflected: bool) -> Any:
    base = getattr(int, name)
    if reflected:
        return lambda self, other: Tracked.of(base(int(other), int(self)))
    return lambda self, other: Tracked.of(base(int(self), int(other)))


for _op in ("add", "sub", "mul", "lshift", "rshift", "floordiv", "and", "mod"):
    setattr(Tracked, f"__{_op}__", _wrap(f"__{_op}__", False))
    setattr(Tracked, f"__r{_op}__", _wrap(f"__{_op}__", True))


@pytest.fixture(scope="module")
def fw() -> Iterator[tuple[Any, Any]]:
    shim = types.ModuleType("micropython")
    shim.const = lambda v: v  # type: ignore[attr-defined]
    saved = dict(sys.modules)
    sys.modules["micropython"] = shim
    sys.path[:0] = [str(REPO_ROOT / "firmware" / "lib"), str(REPO_ROOT / "tools" / "virtual_lab" / "board")]
    try:
        import bme280
        import bme280_sim
        yield bme280, bme280_sim
    finally:
        del sys.path[:2]
        for k in set(sys.modules) - set(saved):
            del sys.modules[k]


def _driver(bme280: Any, t: tuple, p: tuple, h: tuple | None) -> Any:
    d = bme280.BME280.__new__(bme280.BME280)
    d._t1, d._t2, d._t3 = (Tracked(v) for v in t)
    (d._p1, d._p2, d._p3, d._p4, d._p5, d._p6, d._p7, d._p8, d._p9) = (Tracked(v) for v in p)
    d.humidity = h is not None
    d.chip = "bme280" if h else "bmp280"
    if h:
        d._h1, d._h2, d._h3, d._h4, d._h5, d._h6 = (Tracked(v) for v in h)
    d._t_fine = 0
    return d


# --- the datasheet's int32 code, on plain ints (C: >> on signed is arithmetic, / truncates) ---
def ref_t(t: tuple, adc_t: int) -> tuple[int, int]:
    t1, t2, t3 = t
    var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11
    var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14
    t_fine = var1 + var2
    return t_fine, (t_fine * 5 + 128) >> 8


def ref_p(p: tuple, t_fine: int, adc_p: int) -> int:
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = p
    var1 = (t_fine >> 1) - 64000
    var2 = (((var1 >> 2) * (var1 >> 2)) >> 11) * p6
    var2 = var2 + ((var1 * p5) << 1)
    var2 = (var2 >> 2) + (p4 << 16)
    var1 = (((p3 * (((var1 >> 2) * (var1 >> 2)) >> 13)) >> 3) + ((p2 * var1) >> 1)) >> 18
    var1 = ((32768 + var1) * p1) >> 15
    pp = ((1048576 - adc_p) - (var2 >> 12)) * 3125
    pp = (pp << 1) // var1 if pp < 0x80000000 else (pp // var1) * 2
    var1 = (p9 * (((pp >> 3) * (pp >> 3)) >> 13)) >> 12
    var2 = ((pp >> 2) * p8) >> 13
    return pp + ((var1 + var2 + p7) >> 4)


def ref_h(h: tuple, t_fine: int, adc_h: int) -> int:
    h1, h2, h3, h4, h5, h6 = h
    v = t_fine - 76800
    v = (((((adc_h << 14) - (h4 << 20) - (h5 * v)) + 16384) >> 15)
         * (((((((v * h6) >> 10) * (((v * h3) >> 11) + 32768)) >> 10) + 2097152) * h2 + 8192) >> 14))
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * h1) >> 4)
    return min(max(v, 0), 419430400) >> 12


def _parts(sim: Any) -> list[tuple]:
    return [DATASHEET, (sim.T_CAL, sim.P_CAL, sim.H_CAL)]


def _sweep(sim: Any) -> Iterator[tuple[int, int, int]]:
    for tc in (-40.0, -10.0, 0.0, 25.0, 60.0, 85.0):
        for hpa in (300.0, 700.0, 1013.25, 1100.0):
            for rh in (0.0, 50.0, 100.0):
                yield sim.raw_for(tc, hpa, rh)


def test_datasheet_worked_example_in_pa(fw: tuple[Any, Any]) -> None:
    bme280, _ = fw
    d = _driver(bme280, *DATASHEET)
    assert d._temperature(519888) == 2508 and d._t_fine == 128422  # §3.12
    # §3.12 gives 100 653.27 Pa from the double formula; the int32 one (§8.2, 1 Pa steps)
    # gives 100 656 Pa: 0.03 hPa, below the codec's 0.1 hPa step and the part's ±0.12 hPa
    assert d._pressure(415148) == ref_p(DATASHEET[1], 128422, 415148) == 100656


def test_every_intermediate_fits_the_esp32_small_int(fw: tuple[Any, Any]) -> None:
    bme280, sim = fw
    Tracked.peak = 0
    for t, p, h in _parts(sim):
        d = _driver(bme280, t, p, h or sim.H_CAL)
        for adc_t, adc_p, adc_h in _sweep(sim):
            d._temperature(Tracked(adc_t))
            d._pressure(Tracked(adc_p))
            d._humidity(Tracked(adc_h))
    assert 0 < Tracked.peak < SMALL_INT, f"largest intermediate {Tracked.peak} (2**{Tracked.peak.bit_length()})"


def test_int32_pressure_within_6_pa_of_the_double_formula(fw: tuple[Any, Any]) -> None:
    bme280, sim = fw
    d = _driver(bme280, sim.T_CAL, sim.P_CAL, sim.H_CAL)
    worst = 0.0
    for adc_t, adc_p, adc_h in _sweep(sim):
        d._temperature(adc_t)
        worst = max(worst, abs(d._pressure(adc_p) - sim.compensate(adc_t, adc_p, adc_h)[1]))
    assert worst <= 6.0, worst  # measured: 6 Pa at the range corners, 0.06 hPa


@settings(max_examples=300, deadline=None)
@given(tc=st.floats(-40, 85), hpa=st.floats(300, 1100), rh=st.floats(0, 100))
def test_split_arithmetic_gives_the_datasheet_bits(fw: tuple[Any, Any], tc: float, hpa: float, rh: float) -> None:
    bme280, sim = fw
    adc_t, adc_p, adc_h = sim.raw_for(tc, hpa, rh)
    for t, p, h in _parts(sim):
        h = h or sim.H_CAL
        d = _driver(bme280, t, p, h)
        t_fine, temp = ref_t(t, adc_t)
        assert d._temperature(adc_t) == temp and d._t_fine == t_fine
        assert d._pressure(adc_p) == ref_p(p, t_fine, adc_p)
        assert d._humidity(adc_h) == ref_h(h, t_fine, adc_h)
