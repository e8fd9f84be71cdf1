"""Driver tests import the device code flat, as the board does (firmware/lib on sys.path)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "firmware" / "lib"
MPY = Path(__file__).resolve().parent / "mpy"
for p in (str(LIB), str(MPY)):
    if p not in sys.path:
        sys.path.insert(0, p)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "time_scale(s): real seconds per simulated second for the emulator")
