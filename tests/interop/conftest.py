"""Fixtures for the interop tests: the generated codec under one long-lived node process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _missing
from trosmart_tools.codec_js.generate import render
from trosmart_tools.codec_js.node import HARNESS, find_node
from trosmart_tools.errors import ToolError

LPP_FPORT = 99  # an fPort outside the TroSmart plan, exported as Cayenne LPP in these tests


class NodeSession:
    """One node process; ``call`` sends a request line and waits for its answer line."""

    def __init__(self, codec: Path) -> None:
        self.proc = subprocess.Popen(
            [find_node(), str(HARNESS), str(codec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def call(self, fn: str, inp: dict[str, Any], recv_time: str | None = None) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"fn": fn, "input": inp, "recvTime": recv_time}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()  # blocks until node answers or exits
        if not line:
            raise RuntimeError("node exited: " + (self.proc.stderr.read() if self.proc.stderr else ""))
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def codec_js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("codec") / "index.js"
    path.write_text(render((LPP_FPORT,)), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def node(codec_js: Path) -> Iterator[NodeSession]:
    try:
        find_node()
    except ToolError as e:
        _missing("node", e)
    s = NodeSession(codec_js)
    try:
        yield s
    finally:
        s.close()
