"""Node fault handling (issue 11, firmware side), executed by the MicroPython Unix port
(mpy_faults.py): one interpreter run serves every test; each pytest case checks one verdict
(tests/mpy_verdicts.py)."""

from __future__ import annotations

from pathlib import Path

from ..mpy_verdicts import script_tests
from .test_units import MPY_PATH

SCRIPT = Path(__file__).parent / "mpy_faults.py"

verdicts, test_every_test_reported, test_on_micropython = script_tests(SCRIPT, MPY_PATH)
