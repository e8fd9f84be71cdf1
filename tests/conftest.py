"""Shared fixtures: a real mosquitto on 127.0.0.1 and the MicroPython Unix port.

In CI (CI=true) nothing may be skipped for a missing tool: the fixtures fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from trosmart_tools.broker import Mosquitto
from trosmart_tools.errors import ToolError
from trosmart_tools.mpy import find_micropython

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(what: str, err: Exception) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI: {err}")
    pytest.skip(f"{what} not available: {err}")


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A fresh broker per test (127.0.0.1, free port, stopped afterwards)."""
    try:
        broker = Mosquitto().start()
    except ToolError as e:
        _missing("mosquitto", e)
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def micropython() -> str:
    """Path of the MicroPython Unix port interpreter."""
    try:
        return find_micropython()
    except ToolError as e:
        _missing("micropython", e)
        raise
