"""Node firmware on the virtual board: free heap and awake time per cycle.

1,000 cycles in one MicroPython process (light sleep keeps RAM, so a leak would show) under a
fixed -X heapsize, talking to the RAK3172 emulator, network server and a real mosquitto; then
deep-sleep wakes (one process per wake, as on an ESP32) for the awake time including boot.
No baseline is named in issue 5; the figures are reported for regressions.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from pathlib import Path

from tests.firmware_node.test_virtual_board import HEAPSIZE, RAMP
from tests.firmware_node.virtual_lab import Lab
from trosmart_tools.broker import Mosquitto
from trosmart_tools.virtual_lab.board_runner import VirtualNode
from trosmart_tools.virtual_lab.scenario import Scenario

CYCLES = 1000
WAKES = 30
NODE_ONLY_HEAP = "96k"
CYCLE_RX = r"node: cycle (\d+) awake_ms=(\d+) free=(\d+)"


def _pct(xs: list[int], p: float) -> int:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def _node_cycle_only(work: Path) -> None:
    """Heap of the node cycle + codec without the modem driver and the board module."""
    import shutil
    import subprocess

    from trosmart_tools.device.stage import compile_mpy, stage_firmware
    from trosmart_tools.mpy import find_micropython

    img = stage_firmware(work / "node-only", {}, None)
    shutil.copy(Path(__file__).parent / "mpy_node_heap.py", img / "lib" / "mpy_node_heap.py")
    compile_mpy(img / "lib")
    (work / "node-only-flash").mkdir()
    r = subprocess.run([find_micropython(), "-X", f"heapsize={NODE_ONLY_HEAP}", "-c", "import mpy_node_heap",
                        str(work / "node-only-flash"), str(CYCLES)],
                       env={"MICROPYPATH": f".frozen:{img / 'lib'}"}, capture_output=True, text=True,
                       timeout=300, cwd=work / "node-only-flash")  # not the repo: no codec sources
    lines = r.stdout.split()
    if r.returncode != 0 or "counter" not in lines:
        raise RuntimeError(f"node-only heap run failed: {r.stdout[-300:]} {r.stderr[-500:]}")
    free = [int(x) for x in lines[: lines.index("counter")]]
    print(f"node cycle + codec only (doubles for modem and board), -X heapsize={NODE_ONLY_HEAP}, "
          f"{len(free)} cycles: free after cycle 1 {free[0]} B, after cycle 2 {free[1]} B, "
          f"min {min(free)} B, growth after cycle 2: {free[1] - min(free[1:])} B")


def run(args: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="trosmart-bench-fw-"))
    node = VirtualNode(work / "image", uart_pty="/dev/null", config={}, secrets=None)
    t0 = time.perf_counter()
    from tests.firmware_node.virtual_lab import SECRETS

    node.secrets = SECRETS
    node.flash_firmware()
    print(f"flash through mpremote (socat pty, resume, fs cp): {time.perf_counter() - t0:.1f} s, "
          f"{sum(p.stat().st_size for p in node.flash.rglob('*') if p.is_file())} B on flash")
    _node_cycle_only(work)
    scen = Scenario(RAMP).save(work / "scenario.json")
    with Mosquitto() as broker:
        lab = Lab(broker, node.flash, work / "light", scenario=scen, heapsize=HEAPSIZE,
                  time_scale=0.001,
                  config={"interval_s": 10, "sleep_mode": "light", "status_every": 100})
        lab.start()
        t0 = time.perf_counter()
        try:
            lines = lab.node.wait_for(CYCLE_RX, count=CYCLES, timeout_s=900, fail_on=r"Error")
        finally:
            lab.close()
        wall = time.perf_counter() - t0
        awake = [int(m.group(2)) for m in lines]
        free = [int(m.group(3)) for m in lines]
        print(f"{CYCLES} cycles in one process, -X heapsize={HEAPSIZE}: {wall:.1f} s wall, "
              f"boots {lab.node.boots}")
        print(f"  free heap after each cycle (after gc): first {free[0]} B, min {min(free)} B, "
              f"max {max(free)} B, last {free[-1]} B (growth after cycle 1: {free[1] - min(free[1:])} B)")
        print(f"  awake per cycle: median {statistics.median(awake):.0f} ms, p95 {_pct(awake, 0.95)} ms, "
              f"max {max(awake)} ms")
        lab = Lab(broker, node.flash, work / "deep", scenario=scen, heapsize=HEAPSIZE,
                  time_scale=0.001, config={"interval_s": 10, "status_every": 0})
        lab.start()
        try:
            lines = lab.node.wait_for(CYCLE_RX, count=WAKES, timeout_s=300, fail_on=r"Error")
            boots = len(lab.node.boots)
            per_boot = list(lab.node.boot_ms[1:])
        finally:
            lab.close()
        awake = [int(m.group(2)) for m in lines]
        print(f"{WAKES} deep-sleep wakes (one process each, {boots} boots): cycle awake median "
              f"{statistics.median(awake):.0f} ms, max {max(awake)} ms; whole wake incl. process start "
              f"and imports: median {statistics.median(per_boot):.0f} ms, max {max(per_boot)} ms")
    sample_lines = [ln for ln in lab.node.console if re.search(r"node: sample", ln)]
    print(f"  uplinks logged in deep-sleep run: {len(sample_lines)}")
