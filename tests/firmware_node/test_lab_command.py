"""``trosmart lab`` on a real broker: two virtual nodes, their uplinks printed decoded."""

from __future__ import annotations

import re
import subprocess
import sys

from trosmart_tools.broker import Mosquitto


def test_lab_runs_two_nodes_on_a_broker(mosquitto: Mosquitto, micropython: str, tmp_path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "trosmart_tools.cli", "lab", "--nodes", "2", "--duration", "4",
         "--broker", f"{mosquitto.host}:{mosquitto.port}", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "[70b3d57ed0000100] node: joined" in r.stdout  # node consoles are shown too
    devs = set(re.findall(r"^(70b3d57ed0\w{6}) fCnt \d+: \{\"temperature\"", r.stdout, re.M))
    assert devs == {"70b3d57ed0000100", "70b3d57ed0000101"}, r.stdout[-2000:]
    # keys stay on the nodes' flash, 0600, and never reach the console
    for i in (0, 1):
        sp = tmp_path / f"node{i}" / "flash" / "secrets.json"
        assert sp.stat().st_mode & 0o777 == 0o600
        key = re.search(r'"appkey": "(\w+)"', sp.read_text()).group(1)
        assert key not in r.stdout and key not in r.stderr


def test_lab_rejects_bad_arguments() -> None:
    r = subprocess.run([sys.executable, "-m", "trosmart_tools.cli", "lab", "--interval", "5"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--interval must be 10..86400" in r.stderr
