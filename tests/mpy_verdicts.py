"""One home for the tests that run a MicroPython test script on the Unix port: the script's
test_* functions each print one JSON verdict line (tests/firmware_node/mpy_units.py
run_tests); one interpreter run serves a whole module and each pytest case checks one verdict.

    verdicts, test_every_test_reported, test_on_micropython = script_tests(SCRIPT, MPY_PATH)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trosmart_tools.mpy import run


def run_verdicts(script: Path, path: list[Path], flash: Path) -> dict[str, dict]:
    """Run a MicroPython test script (one JSON verdict line per test_* function) once."""
    r = run([str(script), str(flash)], path=path, heapsize="256k", timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            out[d["name"]] = d
    assert out, f"micropython printed no verdicts: {r.stderr[-2000:]}"
    return out


def script_tests(script: Path, path: list[Path]) -> tuple[Any, Callable[..., None], Callable[..., None]]:
    """The module fixture and the two test functions for one MicroPython test script."""
    names = sorted(set(re.findall(r"^def (test_\w+)\(", script.read_text(), re.M)))

    @pytest.fixture(scope="module")
    def verdicts(micropython: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
        return run_verdicts(script, path, tmp_path_factory.mktemp("flash"))

    def test_every_test_reported(verdicts: dict[str, dict]) -> None:
        assert sorted(verdicts) == names

    @pytest.mark.parametrize("name", names)
    def test_on_micropython(verdicts: dict[str, dict], name: str) -> None:
        v = verdicts.get(name)
        assert v is not None, f"{name} did not run"
        assert v["ok"], v.get("error")

    return verdicts, test_every_test_reported, test_on_micropython
