"""The LoRaWAN MAC backend against the RAK3172 path, measured in the same run (issue 14).

- heap taken by importing the backend (.mpy, -X heapsize as the node benchmark): lorawan_modem and
  the MAC modules vs rak3172
- free heap after each cycle and awake time per cycle, light-sleep mode, the real firmware on the
  virtual board: the Heltec V3 profile (MAC, simulated SX1262, simulated LoRaWAN server) vs the
  DevKit profile (RAK3172 emulator); the virtual board scales sleeps (RX delays included) by
  time_scale, so awake ms are real processing time plus scaled waits
- airtime per uplink: PHYPayloads the simulated gateway heard (time on air from §J) vs the RAK3172
  emulator's own airtime account
- flash writes per day at a 10-minute interval: the MAC's records (counted on the rig's flash) and
  the node's counter file (one write per node_state._RESERVE samples)
- ``BENCH_ARGS="lorawan minheap"`` instead: the smallest -X heapsize (bisected, to MINHEAP_STEP KiB)
  in which each path joins and runs MINHEAP_CYCLES light-sleep cycles. With MICROPYTHON pointing at
  a Unix port built with firmware/manifest.py frozen in, both benchmarks measure the frozen case
  (the board's path starts with .frozen); docs/lorawan.md "RAM" says how those ports were built.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from payload_codec.airtime import EU868, time_on_air_us
from tests.firmware_node.test_virtual_board import RAMP
from tests.firmware_node.virtual_lab import SECRETS, Lab
from trosmart_tools.broker import Mosquitto
from trosmart_tools.errors import ToolError
from trosmart_tools.mpy import find_micropython
from trosmart_tools.virtual_lab import SimNetworkServer
from trosmart_tools.virtual_lab.board_runner import VirtualNode, stage_firmware
from trosmart_tools.virtual_lab.lorawan_server import LoRaWANServer
from trosmart_tools.virtual_lab.scenario import Scenario

CYCLES = 40
# neither path runs in the node benchmark's old 144k on the 64-bit port any more (BENCH_ARGS="lorawan
# minheap": about 169k and 192k), so both run in the same larger heap and the difference is what the MAC costs
HEAPSIZE = "192k"
TIME_SCALE = 0.001
CYCLE_RX = r"node: cycle (\d+) awake_ms=(\d+) free=(\d+)"
CONFIG = {"interval_s": 10, "sleep_mode": "light", "status_every": 100, "data_rate": 5}
UPLINKS_PER_DAY = 24 * 6
# BENCH_ARGS="lorawan minheap": a heap "runs" a path when a join and this many cycles complete with
# no MemoryError, traceback or failed send
MINHEAP_CYCLES = 10
MINHEAP_STEP = 2  # KiB
MINHEAP_TIMEOUT_S = 120
FAIL_RX = r"Traceback|MemoryError|send failed|firmware stopped"
MAC_MODULES = ("lorawan_crypto", "lorawan_frames", "lorawan_session", "lorawan_eu868", "lorawan_store", "lorawan_mac",
               "lorawan_modem", "lorawan_maccmd", "lorawan_join")


def _import_cost(lib: Path, modules: str) -> int:
    code = f"import gc\ngc.collect()\na = gc.mem_free()\nimport {modules}\ngc.collect()\nprint(a - gc.mem_free())"
    r = subprocess.run([find_micropython(), "-X", f"heapsize={HEAPSIZE}", "-c", code],
                       env={"MICROPYPATH": f".frozen:{lib}"}, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"import {modules}: {r.stdout[-300:]} {r.stderr[-300:]}")
    return int(r.stdout.split()[-1])


def _cycles(node: VirtualNode, count: int) -> tuple[list[int], list[int]]:
    if count == CYCLES:
        lines = node.wait_for(CYCLE_RX, count=count, timeout_s=900, fail_on=r"Traceback")
    else:  # a heap trial: any sign of a short heap fails it
        lines = node.wait_for(CYCLE_RX, count=count, timeout_s=MINHEAP_TIMEOUT_S, fail_on=FAIL_RX)
    return [int(m.group(3)) for m in lines], [int(m.group(2)) for m in lines]


def _flash_writes_per_day() -> tuple[int, int]:
    import sys

    sys.path.append(str(Path(__file__).resolve().parents[1] / "lorawan"))  # rig.py, as tests/lorawan does
    from tests.lorawan.sim import APP_KEY, DEV_EUI, JOIN_EUI, Node

    server = LoRaWANServer()
    server.register(DEV_EUI, JOIN_EUI, APP_KEY)
    n = Node(server)
    n.join()
    before = n.flash.writes
    for _ in range(UPLINKS_PER_DAY):
        n.up()
    return n.flash.writes - before, n.store.every


def _rak_run(broker: Mosquitto, image: Path, work: Path, scen: Path, heapsize: str,
             cycles: int) -> tuple[list[int], list[int], float, int]:
    """The DevKit profile (RAK3172 emulator): free heap and awake ms per cycle, airtime, uplinks."""
    lab = Lab(broker, image, work, scenario=scen, heapsize=heapsize, time_scale=TIME_SCALE, config=CONFIG)
    lab.start()
    try:
        free, awake = _cycles(lab.node, cycles)
        return free, awake, lab.emulator.airtime_ms_total, len(lab.events.of("up"))
    finally:
        lab.close()


def _mac_run(broker: Mosquitto, work: Path, scen: Path, heapsize: str,
             cycles: int) -> tuple[list[int], list[int], list[dict]]:
    """The Heltec V3 profile (MAC, simulated SX1262 and LoRaWAN server): free, awake, uplinks."""
    events = SimNetworkServer(broker.host, broker.port)
    events.start()
    server = LoRaWANServer(events=events)
    server.register(bytes.fromhex(SECRETS["deveui"]), bytes.fromhex(SECRETS["appeui"]),
                    bytes.fromhex(SECRETS["appkey"]))
    gw = server.serve_udp()
    node = VirtualNode(work, uart_pty="/dev/null", config={**CONFIG, "board": "virtual_heltec_v3"},
                       secrets=SECRETS, scenario=scen, time_scale=TIME_SCALE, heapsize=heapsize,
                       board_extra={"lora_gateway": ["127.0.0.1", gw]})
    node.flash_firmware()
    node.start()
    try:
        free, awake = _cycles(node, cycles)
        return free, awake, server.uplinks
    finally:
        node.stop()
        server.close()
        events.stop()


def _runs_in(attempt: Callable[[str], object], kib: int) -> bool:
    try:
        attempt(f"{kib}k")
    except ToolError:  # MemoryError, a traceback, or not all cycles within the deadline
        return False
    return True


def _smallest_heap(attempt: Callable[[str], object], lo: int = 16, hi: int = 320) -> int:
    """The smallest -X heapsize (KiB, to MINHEAP_STEP) in which ``attempt`` runs its cycles."""
    if not _runs_in(attempt, hi):
        raise RuntimeError(f"does not run even in {hi}k")
    while hi - lo > MINHEAP_STEP:
        mid = (lo + hi) // 2
        if _runs_in(attempt, mid):
            hi = mid
        else:
            lo = mid
    return hi


def _minheap(work: Path, scen: Path) -> None:
    """``BENCH_ARGS="lorawan minheap"``: bisect the smallest heap of both paths (MICROPYTHON picks
    the Unix port: a build with firmware/manifest.py frozen in runs the frozen case)."""
    image = VirtualNode(work / "image", uart_pty="/dev/null", config={}, secrets=SECRETS)
    image.flash_firmware()
    runs = iter(range(10**6))
    with Mosquitto() as broker:
        rak = _smallest_heap(lambda h: _rak_run(broker, image.flash, work / f"rak{next(runs)}", scen, h,
                                                MINHEAP_CYCLES))
        mac = _smallest_heap(lambda h: _mac_run(broker, work / f"mac{next(runs)}", scen, h, MINHEAP_CYCLES))
    mp = find_micropython()
    print(f"smallest heap for a join + {MINHEAP_CYCLES} light-sleep cycles ({mp}, to {MINHEAP_STEP} KiB): "
          f"MAC {mac}k vs RAK3172 {rak}k: MAC needs {mac - rak} KiB more (ratio {mac / rak:.2f}); "
          f"the node benchmark's heap is 144k")


def run(args: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="trosmart-bench-lorawan-"))
    scen = Scenario(RAMP).save(work / "scenario.json")
    if "minheap" in args:
        _minheap(work, scen)
        return
    img = stage_firmware(work / "img", {}, None)
    rak = _import_cost(img / "lib", "rak3172")
    mac = _import_cost(img / "lib", "lorawan_modem, lorawan_store")
    print(f"heap taken by importing the backend (.mpy, -X heapsize={HEAPSIZE}): MAC (lorawan_modem + MAC "
          f"modules) {mac} B vs rak3172 {rak} B: ratio {mac / rak:.2f}")
    # where it goes: each module over the ones it imports (in import order, so each counts once);
    # lorawan_maccmd loads on the first MAC command, lorawan_join for a join only
    done: list[str] = []
    parts = []
    for m in MAC_MODULES:
        before = _import_cost(img / "lib", ", ".join(done)) if done else 0
        done.append(m)
        parts.append(f"{m} {_import_cost(img / 'lib', ', '.join(done)) - before}")
    print("  by module: " + ", ".join(parts) + " B")
    image = VirtualNode(work / "image", uart_pty="/dev/null", config={}, secrets=SECRETS)
    image.flash_firmware()
    with Mosquitto() as broker:
        t0 = time.perf_counter()
        rak_free, rak_awake, rak_air, rak_ups = _rak_run(broker, image.flash, work / "rak", scen, HEAPSIZE, CYCLES)
        rak_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        mac_free, mac_awake, ups = _mac_run(broker, work / "mac", scen, HEAPSIZE, CYCLES)
        mac_wall = time.perf_counter() - t0
    mac_air = [time_on_air_us(len(u["phy"]), EU868[u["dr"]][0], EU868[u["dr"]][1]) / 1000 for u in ups]
    print(f"{CYCLES} light-sleep cycles each, -X heapsize={HEAPSIZE}, time_scale {TIME_SCALE}:")
    print(f"  free heap after a cycle: MAC min {min(mac_free)} B / last {mac_free[-1]} B vs RAK3172 min "
          f"{min(rak_free)} B / last {rak_free[-1]} B: MAC uses {min(rak_free) - min(mac_free)} B more "
          f"(ratio of free {min(mac_free) / min(rak_free):.2f})")
    heap = int(HEAPSIZE.rstrip("k")) * 1024
    print(f"  heap in use at the fullest cycle: MAC {heap - min(mac_free)} B vs RAK3172 {heap - min(rak_free)} B "
          f"(the node benchmark's heap is 144k = {144 * 1024} B)")
    mac_med, rak_med = statistics.median(mac_awake), statistics.median(rak_awake)
    print(f"  awake per cycle (median): MAC {mac_med:.0f} ms vs RAK3172 {rak_med:.0f} ms: ratio "
          f"{mac_med / max(1, rak_med):.2f} (wall {mac_wall:.0f} s vs {rak_wall:.0f} s)")
    if ups and rak_ups:
        print(f"  airtime per uplink: MAC {statistics.mean(mac_air):.1f} ms ({len(ups)} uplinks, PHY "
              f"{statistics.mean(len(u['phy']) for u in ups):.1f} B) vs RAK3172 {rak_air / rak_ups:.1f} ms "
              f"({rak_ups} uplinks): ratio {statistics.mean(mac_air) / (rak_air / rak_ups):.2f}")
    writes, every = _flash_writes_per_day()
    print(f"flash writes per day at a 10-minute interval ({UPLINKS_PER_DAY} uplinks): MAC records {writes} "
          f"(one per {every} uplinks; a join adds 2, a power loss none) + the node's counter file "
          f"{UPLINKS_PER_DAY / 64:.2f} (one per 64 samples, both backends)")
