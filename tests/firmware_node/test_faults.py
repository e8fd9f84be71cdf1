"""Node fault handling (issue 11, firmware side), executed by the MicroPython Unix port
(mpy_faults.py): one interpreter run serves every test; each pytest case checks one verdict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .test_units import MPY_PATH, run_verdicts

SCRIPT = Path(__file__).parent / "mpy_faults.py"
NAMES = sorted(set(re.findall(r"^def (test_\w+)\(", SCRIPT.read_text(), re.M)))


@pytest.fixture(scope="module")
def verdicts(micropython: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return run_verdicts(SCRIPT, MPY_PATH, tmp_path_factory.mktemp("flash"))


def test_every_test_reported(verdicts: dict[str, dict]) -> None:
    assert sorted(verdicts) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_on_micropython(verdicts: dict[str, dict], name: str) -> None:
    assert name in verdicts, f"{name} did not run"
    assert verdicts[name]["ok"], verdicts[name].get("error")
