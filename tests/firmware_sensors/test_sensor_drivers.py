"""The BMP280/BME280, SHT4x, SCD4x, SPS30 (I2C and UART), PMS5003, DS18B20, battery, SDS011
warm-up drivers and the pulse meter on the real MicroPython Unix port (mpy_drivers.py):
datasheet worked examples, values across each range from the simulators, every failure path,
and the read path's heap. One interpreter run, one pytest case per verdict
(tests/mpy_verdicts.py)."""

from __future__ import annotations

from pathlib import Path

from trosmart_tools.mpy import REPO_ROOT

from ..mpy_verdicts import script_tests

HERE = Path(__file__).parent
SCRIPT = HERE / "mpy_drivers.py"
MPY_PATH = [REPO_ROOT / "firmware" / "lib", REPO_ROOT / "tools" / "virtual_lab" / "board",
            REPO_ROOT / "tests" / "firmware_node"]

verdicts, test_every_test_reported, test_on_micropython = script_tests(SCRIPT, MPY_PATH)
