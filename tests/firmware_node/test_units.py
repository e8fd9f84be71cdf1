"""Node firmware unit tests, executed by the MicroPython Unix port (mpy_units.py).

One interpreter run serves every test; each pytest case checks one test's verdict
(tests/mpy_verdicts.py).
"""

from __future__ import annotations

from pathlib import Path

from trosmart_tools.mpy import REPO_ROOT

from ..mpy_verdicts import script_tests

HERE = Path(__file__).parent
SCRIPT = HERE / "mpy_units.py"
MPY_PATH = [REPO_ROOT / "firmware" / "lib", REPO_ROOT / "tools" / "virtual_lab" / "board"]

verdicts, test_every_test_reported, test_on_micropython = script_tests(SCRIPT, MPY_PATH)
