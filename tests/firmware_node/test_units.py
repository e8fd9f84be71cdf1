"""Node firmware unit tests, executed by the MicroPython Unix port (mpy_units.py).

One interpreter run serves every test; each pytest case checks one test's verdict.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from trosmart_tools.mpy import REPO_ROOT, run

HERE = Path(__file__).parent
SCRIPT = HERE / "mpy_units.py"
NAMES = sorted(set(re.findall(r"^def (test_\w+)\(", SCRIPT.read_text(), re.M)))
MPY_PATH = [REPO_ROOT / "firmware" / "lib", REPO_ROOT / "tools" / "virtual_lab" / "board"]


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
