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
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from payload_codec.airtime import EU868, time_on_air_us
from tests.firmware_node.test_virtual_board import RAMP
from tests.firmware_node.virtual_lab import SECRETS, Lab
from trosmart_tools.broker import Mosquitto
from trosmart_tools.mpy import find_micropython
from trosmart_tools.virtual_lab import SimNetworkServer
from trosmart_tools.virtual_lab.board_runner import VirtualNode, stage_firmware
from trosmart_tools.virtual_lab.lorawan_server import LoRaWANServer
from trosmart_tools.virtual_lab.scenario import Scenario

CYCLES = 40
# the RAK3172 path runs in 144k (the node benchmark's heap); the MAC path needs more (MemoryError at 160k),
# so both run in the same larger heap here and the difference is what the MAC costs
HEAPSIZE = "192k"
TIME_SCALE = 0.001
CYCLE_RX = r"node: cycle (\d+) awake_ms=(\d+) free=(\d+)"
CONFIG = {"interval_s": 10, "sleep_mode": "light", "status_every": 100, "data_rate": 5}
UPLINKS_PER_DAY = 24 * 6
MAC_MODULES = ("lorawan_crypto", "lorawan_frames", "lorawan_session", "lorawan_eu868", "lorawan_store", "lorawan_mac",
               "lorawan_modem", "lorawan_maccmd", "lorawan_join")


def _import_cost(lib: Path, modules: str) -> int:
    code = f"import gc\ngc.collect()\na = gc.mem_free()\nimport {modules}\ngc.collect()\nprint(a - gc.mem_free())"
    r = subprocess.run([find_micropython(), "-X", f"heapsize={HEAPSIZE}", "-c", code],
                       env={"MICROPYPATH": f".frozen:{lib}"}, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"import {modules}: {r.stdout[-300:]} {r.stderr[-300:]}")
    return int(r.stdout.split()[-1])


def _cycles(node: VirtualNode) -> tuple[list[int], list[int]]:
    lines = node.wait_for(CYCLE_RX, count=CYCLES, timeout_s=900, fail_on=r"Traceback")
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


def run(args: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="trosmart-bench-lorawan-"))
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
    scen = Scenario(RAMP).save(work / "scenario.json")
    image = VirtualNode(work / "image", uart_pty="/dev/null", config={}, secrets=SECRETS)
    image.flash_firmware()
    with Mosquitto() as broker:
        lab = Lab(broker, image.flash, work / "rak", scenario=scen, heapsize=HEAPSIZE, time_scale=TIME_SCALE,
                  config=CONFIG)
        lab.start()
        t0 = time.perf_counter()
        try:
            rak_free, rak_awake = _cycles(lab.node)
            rak_air = lab.emulator.airtime_ms_total
            rak_ups = len(lab.events.of("up"))
        finally:
            lab.close()
        rak_wall = time.perf_counter() - t0
        events = SimNetworkServer(broker.host, broker.port)
        events.start()
        server = LoRaWANServer(events=events)
        server.register(bytes.fromhex(SECRETS["deveui"]), bytes.fromhex(SECRETS["appeui"]),
                        bytes.fromhex(SECRETS["appkey"]))
        gw = server.serve_udp()
        node = VirtualNode(work / "mac", uart_pty="/dev/null", config={**CONFIG, "board": "virtual_heltec_v3"},
                           secrets=SECRETS, scenario=scen, time_scale=TIME_SCALE, heapsize=HEAPSIZE,
                           board_extra={"lora_gateway": ["127.0.0.1", gw]})
        node.flash_firmware()
        node.start()
        t0 = time.perf_counter()
        try:
            mac_free, mac_awake = _cycles(node)
        finally:
            node.stop()
            server.close()
            events.stop()
        mac_wall = time.perf_counter() - t0
    ups = server.uplinks
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
