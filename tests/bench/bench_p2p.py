"""P2P workshop mode: the raw-radio backend against the RAK3172 P2P path, measured in the same run
(issue 15; docs/p2p.md §4a "RAM").

- heap taken by importing each backend's P2P modules (.mpy): p2p_link + lora_p2p + lorawan_store
  (the counter's persistence; lorawan_session is loaded for Store.load and dropped after it) vs
  p2p_link + rak3172 + rak3172_p2p + lorawan_store;
  the `lora` driver itself is not on the host (a real board adds it, docs/lorawan.md "RAM")
- free heap after each cycle, light-sleep mode, the real firmware on the virtual board in
  network = "p2p": the virtual Heltec V3 (lora_p2p on the simulated SX1262, on the shared air)
  vs the DevKit (RAK3172 emulator in P2P mode)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.bench.bench_lorawan import _import_cost
from trosmart_tools.virtual_lab import Rak3172Emulator
from trosmart_tools.virtual_lab.board_runner import VirtualNode, stage_firmware
from trosmart_tools.virtual_lab.p2p_air import Air

CYCLES = 12
HEAPSIZE = "256k"  # both paths in one heap large enough for either; the difference is the figure
TIME_SCALE = 0.001
CYCLE_RX = r"node: cycle (\d+) awake_ms=(\d+) free=(\d+)"
CONFIG = {"interval_s": 10, "sleep_mode": "light", "status_every": 100, "network": "p2p",
          "p2p_freq_hz": 868100000, "p2p_sf": 7, "p2p_bw_khz": 125}
SECRETS = {"deveui": "70B3D57ED00000C3", "p2p_key": "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"}


def _free(node: VirtualNode) -> list[int]:
    node.flash_firmware()
    node.start()
    try:
        lines = node.wait_for(CYCLE_RX, count=CYCLES, timeout_s=600, fail_on=r"Traceback|MemoryError")
    finally:
        node.stop()
    return [int(m.group(3)) for m in lines]


def run(args: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="trosmart-bench-p2p-"))
    img = stage_firmware(work / "img", {}, None)
    lib = img / "lib"
    store = _import_cost(lib, "lorawan_store")
    raw = _import_cost(lib, "p2p_link, lora_p2p, lorawan_store")
    rak = _import_cost(lib, "p2p_link, rak3172, rak3172_p2p, lorawan_store")
    print(f"heap taken by importing the P2P backend (.mpy, -X heapsize={HEAPSIZE}): raw radio (p2p_link + "
          f"lora_p2p) {raw} B vs RAK3172 (p2p_link + rak3172 + rak3172_p2p) {rak} B: ratio {raw / rak:.2f}; "
          f"both include the counter's persistence (lorawan_store) {store} B")
    air = Air()
    port = air.serve_udp()
    emu = Rak3172Emulator("70B3D57ED00000C3", air=air, time_scale=TIME_SCALE)
    emu.start()
    try:
        rak_free = _free(VirtualNode(work / "rak", uart_pty=emu.path, config=CONFIG, secrets=SECRETS,
                                     time_scale=TIME_SCALE, heapsize=HEAPSIZE))
        raw_free = _free(VirtualNode(work / "raw", uart_pty="/dev/null", secrets=SECRETS, time_scale=TIME_SCALE,
                                     heapsize=HEAPSIZE, config={**CONFIG, "board": "virtual_heltec_v3"},
                                     board_extra={"lora_air": ["127.0.0.1", port]}))
        # the raw-radio path at the node heap tests' heap (the RAK3172 P2P path does not boot there)
        small = _free(VirtualNode(work / "raw176", uart_pty="/dev/null", secrets=SECRETS, time_scale=TIME_SCALE,
                                  heapsize="176k", config={**CONFIG, "board": "virtual_heltec_v3"},
                                  board_extra={"lora_air": ["127.0.0.1", port]}))
    finally:
        emu.stop()
        air.close()
    heap = int(HEAPSIZE.rstrip("k")) * 1024
    print(f"{CYCLES} light-sleep P2P cycles each, -X heapsize={HEAPSIZE}, time_scale {TIME_SCALE}:")
    print(f"  free heap after a cycle: raw radio min {min(raw_free)} B / last {raw_free[-1]} B vs RAK3172 min "
          f"{min(rak_free)} B / last {rak_free[-1]} B (ratio of free {min(raw_free) / min(rak_free):.2f})")
    print(f"  heap in use at the fullest cycle: raw radio {heap - min(raw_free)} B vs RAK3172 "
          f"{heap - min(rak_free)} B: ratio {(heap - min(raw_free)) / (heap - min(rak_free)):.2f} "
          f"(the node heap tests' heap is 176k = {176 * 1024} B)")
    print(f"  at -X heapsize=176k: raw radio min free after a cycle {min(small)} B over {len(small)} cycles")
    print(f"  packets on the air: {len(air.sent)}")
