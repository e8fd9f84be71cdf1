"""Fixtures for the MAC tests: firmware/lib on CPython with the host AES backend, lora-packet
under node, and the MAC's cross-check glue (lw_ops.py) on the MicroPython Unix port."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _missing
from trosmart_tools.codec_js.node import find_node
from trosmart_tools.errors import ToolError
from trosmart_tools.lorawan import FIRMWARE_LIB, load
from trosmart_tools.mpy import MicroPythonBatch, find_micropython

HERE = Path(__file__).resolve().parent
JS = HERE / "js"

load("lorawan_frames")  # firmware/lib on sys.path, host AES installed
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))


def node_batch(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Answers of harness.js (lora-packet) to ``requests``, one node process."""
    if not (JS / "node_modules" / "lora-packet").exists():
        _missing("lora-packet", ToolError("run 'make setup' (npm ci in tests/lorawan/js)"))
    try:
        node = find_node()
    except ToolError as e:
        _missing("node", e)
    out = subprocess.run([node, str(JS / "harness.js")], input="".join(json.dumps(r) + "\n" for r in requests),
                         capture_output=True, text=True, timeout=300, check=True).stdout
    return [json.loads(line) for line in out.split("\n") if line]


def mpy_batch(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Answers of lw_ops.py on the MicroPython Unix port."""
    try:
        find_micropython()
    except ToolError as e:
        _missing("micropython", e)
    return MicroPythonBatch(HERE / "mpy_lorawan_driver.py", path=[FIRMWARE_LIB, HERE]).call_many(requests)


@pytest.fixture
def ops() -> Any:
    import lw_ops

    return lw_ops
