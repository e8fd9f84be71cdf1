"""RAK3172 driver and emulator figures: driver RAM and parse rate on MicroPython, AT round
trip over the emulator's pty, uplinks per second through emulator + network server + mosquitto.

No baseline is named in issue 5 for these; they are reported for regressions.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from trosmart_tools.broker import Mosquitto
from trosmart_tools.mpy import run as mpy_run
from trosmart_tools.virtual_lab import HostUart, Rak3172Emulator, SimNetworkServer

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "firmware" / "lib"
MPY = ROOT / "tests" / "firmware_driver" / "mpy"


def run(args: list[str]) -> None:
    r = mpy_run([str(MPY / "rak_bench.py")], path=[LIB, MPY])
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-500:])
    f = json.loads(r.stdout.splitlines()[-1])
    print(f"MicroPython: import rak3172 (from source) {f['import_heap_b']} B heap, "
          f"one RAK3172() {f['instance_heap_b']} B")
    print(f"MicroPython: parse_event of a 24-byte downlink {f['parse_us']:.1f} us; "
          f"line reader {f['read_kb_s']:.0f} kB/s ({f['lines']} lines)")

    sys.path.insert(0, str(LIB))
    import rak3172

    with Mosquitto() as broker:
        ns = SimNetworkServer(broker.host, broker.port)
        ns.start()
        emu = Rak3172Emulator("70B3D57ED0000B01", network=ns, time_scale=0.0005, seed=1)
        uart = HostUart(emu.start())
        # the emulator prints TX_DONE and RX in one write: 10 ms of the 200 ms grace suffice here
        m = rak3172.RAK3172(uart, rx_grace_ms=10)
        m.configure_otaa("70B3D57ED0000B01", "0000000000000000", "2B7E151628AED2A6ABF7158809CF4F3C")
        rtt = []
        for _ in range(300):
            t = time.perf_counter()
            m.query("NJS")
            rtt.append((time.perf_counter() - t) * 1000)
        print(f"CPython driver -> pty -> emulator: AT+NJS=? round trip median {statistics.median(rtt):.2f} ms, "
              f"p95 {sorted(rtt)[int(len(rtt) * 0.95)]:.2f} ms")
        m.join()
        t = time.perf_counter()
        n = 100
        for i in range(n):
            m.send(1, bytes([i]) * 10)
        dt = time.perf_counter() - t
        print(f"uplinks through emulator + network server + mosquitto (time_scale 0.0005): "
              f"{n / dt:.0f} uplinks/s; emulator airtime {emu.airtime_ms_total:.0f} ms, fcnt_up {emu.fcnt_up}")
        uart.close()
        emu.stop()
        ns.stop()
