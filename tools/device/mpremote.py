"""The one serial transport: mpremote's command line, driven as a subprocess.

mpremote's Python API is internal and changed at 1.24 (docs/references.md §Q.B), so we drive
its CLI (``mpremote connect PORT resume CMD + CMD …``): every operation is one chained call,
which costs one connection and one raw-REPL entry. ``resume`` skips the soft reset (on the Unix
port a soft reset would end the REPL process; on an ESP32 mpremote still interrupts main.py).
"could not enter raw repl" (micropython#16142) is retried with a bounded back-off, as mpflash
does. mpremote's failures are mapped to the typed errors of errors.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import DeviceError, NoPort, NotABoard, PackageIndexUnreachable, PortBusy, Unplugged

TIMEOUT_S = 180.0
RAW_REPL_BACKOFF_S = (0.5, 1.0, 2.0)  # three retries after the first attempt
MARKER = "@@TROSMART "  # prefix of a JSON line printed by code we run on the board


def find_mpremote() -> str:
    """mpremote beside this Python (the venv), then on PATH."""
    beside = Path(sys.executable).parent / "mpremote"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpremote")
    if not found:
        raise DeviceError("mpremote not found: run 'make setup' or 'pip install mpremote'")
    return found


def chain(*commands: Sequence[str]) -> list[str]:
    """mpremote arguments for several commands: each ends with '+'."""
    out: list[str] = []
    for c in commands:
        if out:
            out.append("+")
        out.extend(c)
    return out


def _classify(port: str, existed: bool, text: str) -> DeviceError | None:
    """The typed error for mpremote's stderr; None when it is worth a retry."""
    low = text.lower()
    if "could not enter raw repl" in low:
        return None
    if "failed to access" in low and os.path.exists(port):
        return PortBusy(f"{port} is in use by another program (a serial monitor?): close it and retry")
    if not os.path.exists(port):
        return Unplugged(f"{port} went away: plug the board in again and rerun the same command")
    if "input/output error" in low or "device disconnected" in low or "device reports readiness" in low:
        return Unplugged(f"lost the connection to {port}: plug the board in again and rerun the same command")
    if "is damaged" in low:
        return DeviceError(f"a file arrived damaged on {port}: rerun the same command (nothing damaged was "
                           "put in place)")
    fetch = re.search(r"mpremote: (.+) requesting (\S+)", text)
    if fetch:  # mip on the host: URLError or an HTTP status (docs/references.md §Q.B)
        return PackageIndexUnreachable(f"mip could not download {fetch.group(2)} ({fetch.group(1)})")
    last = [ln for ln in text.strip().splitlines() if ln.strip()]
    msg = last[-1] if last else "no output"
    return DeviceError(f"mpremote on {port} failed ({msg})")


def run(port: str, args: Sequence[str], *, on_line: Callable[[str], None] | None = None,
        timeout_s: float = TIMEOUT_S, retries: Sequence[float] = RAW_REPL_BACKOFF_S) -> str:
    """Run ``mpremote connect PORT resume ARGS`` and return its stdout.

    ``on_line`` sees each stdout line as it arrives (progress). Raises a DeviceError subclass;
    NotABoard when the raw REPL cannot be entered after every retry.
    """
    existed = os.path.exists(port)
    if not existed:
        raise NoPort(f"no serial port {port}: check the cable, then 'mpremote connect list' for the name")
    cmd = [find_mpremote(), "connect", port, "resume", *args]
    attempts = [0.0, *retries]
    for i, pause in enumerate(attempts):
        if pause:
            time.sleep(pause)  # back-off before retrying the raw REPL, not a synchronisation
        out, err, rc, timed_out = _run_once(cmd, on_line, timeout_s)
        if rc == 0:
            return out
        if timed_out:  # mpremote waits for ever on a silent port (its serial timeout is None)
            if not os.path.exists(port):
                raise Unplugged(f"{port} went away: plug the board in again and rerun the same command")
            raise NotABoard(f"nothing answered on {port} within {timeout_s:.0f} s: is it a TroSmart node "
                            "running MicroPython? Check the port, press EN (reset) and retry")
        failure = _classify(port, existed, err + out)
        if failure is not None:
            raise failure
        if i == len(attempts) - 1:
            break
    raise NotABoard(f"no MicroPython REPL answers on {port} (tried {len(attempts)} times): is it a "
                    "TroSmart node? Press EN (reset) and retry, or flash MicroPython with --firmware")


def _run_once(cmd: list[str], on_line: Callable[[str], None] | None,
              timeout_s: float) -> tuple[str, str, int, bool]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    timed_out = threading.Event()

    def _expire() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout_s, _expire)
    timer.start()
    err_chunks: list[str] = []
    drain = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read() if proc.stderr else ""),
                             daemon=True)
    drain.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\r\n"))
        rc = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        drain.join(timeout=10)
    return "".join(lines), "".join(err_chunks), rc, timed_out.is_set()


def results(stdout: str) -> list[object]:
    """The JSON values the board printed after MARKER, in order."""
    import json

    out: list[object] = []
    for line in stdout.splitlines():
        i = line.find(MARKER)
        if i >= 0:
            try:
                out.append(json.loads(line[i + len(MARKER):]))
            except ValueError:  # serial noise or a board that is not ours: never a traceback
                raise DeviceError(f"the board sent an unreadable answer ({line[i:i + 80]!r}): reset it "
                                  "and retry") from None
    return out
