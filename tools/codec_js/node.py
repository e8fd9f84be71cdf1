"""Run the generated codec under node: one process answers a whole batch of calls."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ToolError
from .generate import render

HARNESS = Path(__file__).with_name("harness.js")


def find_node() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise ToolError("node not found: install Node.js (Debian package nodejs) to run the JS codec")
    return node


class NodeCodec:
    """The generated index.js (or a given file) behind node and harness.js."""

    def __init__(self, codec_path: str | Path | None = None, lpp_fports: tuple[int, ...] = (),
                 es5: bool = False) -> None:
        """``es5`` removes ECMAScript 2015+ built-ins before the codec loads (harness.js)."""
        self.es5 = es5
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if codec_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="trosmart-js-")
            codec_path = Path(self._tmp.name) / "index.js"
            Path(codec_path).write_text(render(lpp_fports), encoding="utf-8")
        self.path = Path(codec_path)

    def call_many(self, requests: list[dict[str, Any]], timeout: float = 300) -> list[Any]:
        """Send every request to one node process; return the answers in order."""
        payload = "".join(json.dumps(r) + "\n" for r in requests)
        proc = subprocess.run(
            [find_node(), str(HARNESS), str(self.path), *(["--es5"] if self.es5 else [])],
            input=payload, capture_output=True, text=True, timeout=timeout,
        )
        lines = proc.stdout.splitlines()
        if proc.returncode != 0 or len(lines) != len(requests):
            raise ToolError(
                f"node exited {proc.returncode} after {len(lines)} of {len(requests)} answers: "
                f"{proc.stderr.strip()[-2000:]}"
            )
        return [json.loads(line) for line in lines]

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> NodeCodec:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
