"""The BMP280/BME280, SHT4x, SCD4x, SPS30, PMS5003, DS18B20, battery, SDS011 warm-up drivers
and the pulse meter on the real MicroPython Unix port (mpy_drivers.py): datasheet worked
examples, values across each range from the simulators, every failure path, and the read
path's heap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trosmart_tools.mpy import REPO_ROOT

from ..firmware_node.test_units import run_verdicts

HERE = Path(__file__).parent
SCRIPT = HERE / "mpy_drivers.py"
NAMES = sorted(set(re.findall(r"^def (test_\w+)\(", SCRIPT.read_text(), re.M)))
MPY_PATH = [REPO_ROOT / "firmware" / "lib", REPO_ROOT / "tools" / "virtual_lab" / "board",
            REPO_ROOT / "tests" / "firmware_node"]


@pytest.fixture(scope="module")
def verdicts(micropython: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return run_verdicts(SCRIPT, MPY_PATH, tmp_path_factory.mktemp("flash"))


def test_every_test_reported(verdicts: dict[str, dict]) -> None:
    assert sorted(verdicts) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_on_micropython(verdicts: dict[str, dict], name: str) -> None:
    v = verdicts.get(name)
    assert v is not None, f"{name} did not run"
    assert v["ok"], v.get("error")
