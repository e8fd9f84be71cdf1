"""``trosmart lab`` on a real broker: two virtual nodes, their uplinks printed decoded; SIGHUP stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from trosmart_tools.broker import Mosquitto


def _session_processes(sid: int) -> list[str]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue  # exited meanwhile
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(cmd)
    return found


def test_lab_runs_two_nodes_on_a_broker_and_a_closed_terminal_stops_it(
        mosquitto: Mosquitto, micropython: str, tmp_path) -> None:
    # runs until both nodes' uplinks were printed (no fixed duration: a loaded machine boots
    # slowly), then gets the SIGHUP a closed terminal sends its whole session
    proc = subprocess.Popen(
        [sys.executable, "-m", "trosmart_tools.cli", "lab", "--nodes", "2",
         "--broker", f"{mosquitto.host}:{mosquitto.port}", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    devs: set[str] = set()
    try:
        deadline = time.monotonic() + 300
        assert proc.stdout is not None
        while devs != {"70b3d57ed0000100", "70b3d57ed0000101"}:
            line = proc.stdout.readline()  # blocks until the lab prints or exits
            assert line and time.monotonic() < deadline, "".join(lines[-30:])
            lines.append(line)
            m = re.match(r"^(70b3d57ed0\w{6}) fCnt \d+: \{\"temperature\"", line)
            if m:
                devs.add(m[1])
        os.killpg(proc.pid, signal.SIGHUP)
        rest, _ = proc.communicate(timeout=60)
        lines.append(rest)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = "".join(lines)
    assert proc.returncode == 0, out[-2000:]
    assert "[70b3d57ed0000100] node: joined" in out  # node consoles are shown too
    deadline = time.monotonic() + 10
    while _session_processes(proc.pid):  # mosquitto children, boards, socat: all gone
        assert time.monotonic() < deadline, _session_processes(proc.pid)
        time.sleep(0.1)  # reparented processes exit asynchronously; nothing to wait on
    # keys stay on the nodes' flash, 0600, and never reach the console
    for i in (0, 1):
        sp = tmp_path / f"node{i}" / "flash" / "secrets.json"
        assert sp.stat().st_mode & 0o777 == 0o600
        key = re.search(r'"appkey": "(\w+)"', sp.read_text()).group(1)
        assert key not in out


def test_lab_rejects_bad_arguments() -> None:
    r = subprocess.run([sys.executable, "-m", "trosmart_tools.cli", "lab", "--interval", "5"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--interval must be 10..86400" in r.stderr
