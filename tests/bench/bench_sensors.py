"""Sensor drivers (issue 13): per driver, the heap its import takes and the heap and time per read
on the MicroPython Unix port (one process per driver, a bus that itself never allocates), then
the awake time per deep-sleep cycle of a virtual-board node with that sensor; each against the
BME280 driver measured in the same run (the baseline issue 13 names). Also the cost of one
meter-pulse wake (docs/firmware.md "Utility meters").
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import tempfile
from pathlib import Path

from tests.firmware_node.virtual_lab import SECRETS, Lab
from trosmart_tools.broker import Mosquitto
from trosmart_tools.mpy import REPO_ROOT, find_micropython, micropypath
from trosmart_tools.virtual_lab.board.ds18b20_sim import make_rom
from trosmart_tools.virtual_lab.board_runner import VirtualNode
from trosmart_tools.virtual_lab.scenario import Scenario

HERE = Path(__file__).parent
DRIVERS = ("bme280", "bmp280", "sht4x", "scd4x", "sps30", "sps30_uart", "pms5003", "ds18b20", "battery", "sds011",
           "a02yyuw", "meter")
READS = 200
WAKES = 8
CYCLE_RX = r"node: cycle \d+ awake_ms=(\d+) free=\d+ warmup_ms=(\d+)"
# node configs: the sensor alone next to the battery divider (the BME280 node is the baseline)
NODES: dict[str, tuple[dict, dict]] = {
    "bme280": ({"sensors": ["bme280", "battery"]}, {}),
    "sht4x": ({"sensors": ["sht4x", "battery"], "bme280_address": 0x76}, {"i2c": [{"type": "sht4x", "address": 0x44}]}),
    "scd4x (single shot)": ({"sensors": ["scd4x", "battery"], "scd4x_mode": "single_shot"},
                            {"i2c": [{"type": "scd4x", "address": 0x62}]}),
    "sps30": ({"sensors": ["sps30", "battery"]}, {"i2c": [{"type": "sps30", "address": 0x69}]}),
    "sps30 (UART)": ({"sensors": ["battery"], "uart_sensor": "sps30"}, {"uart_sim": {"1": "sps30"}}),
    "pms5003": ({"sensors": ["battery"], "uart_sensor": "pms5003"}, {"uart_sim": {"1": "pms5003"}}),
    "sds011": ({"sensors": ["battery"], "uart_sensor": "sds011"}, {"uart_sim": {"1": "sds011"}}),
    "ds18b20": ({"sensors": ["ds18b20", "battery"]},
                {"onewire": {"probes": [{"rom": make_rom(0).hex(), "signal": "water_temperature"}]}}),
    "meter": ({"sensors": ["meter", "battery"]}, {"meter": {"pin": 25}}),
}
QUANTITIES = {"bme280": ["temperature", "battery_voltage"], "sht4x": ["temperature", "battery_voltage"],
              "scd4x (single shot)": ["co2", "battery_voltage"], "sps30": ["pm2_5", "battery_voltage"],
              "sps30 (UART)": ["pm2_5", "battery_voltage"],
              "pms5003": ["pm2_5", "battery_voltage"], "sds011": ["pm2_5", "battery_voltage"],
              "ds18b20": ["water_temperature", "battery_voltage"], "meter": ["volume_index", "battery_voltage"]}


def _driver(name: str) -> dict:
    path = micropypath(REPO_ROOT, REPO_ROOT / "firmware" / "lib", REPO_ROOT / "tools" / "virtual_lab" / "board",
                       REPO_ROOT / "tests" / "firmware_sensors", REPO_ROOT / "tests" / "firmware_node")
    r = subprocess.run([find_micropython(), "-X", "heapsize=256k", str(HERE / "mpy_sensor_bench.py"), name, str(READS)],
                       env={"MICROPYPATH": path}, capture_output=True, text=True, timeout=300)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not line:
        raise RuntimeError(f"{name}: {r.stdout[-300:]} {r.stderr[-300:]}")
    return json.loads(line[-1])


def _ratio(x: float, base: float) -> str:
    return f"{x / base:.2f}x" if base else "-"


def run(args: list[str]) -> None:
    rows = [_driver(n) for n in DRIVERS]
    base = rows[0]
    print(f"MicroPython Unix port, {READS} reads per driver, one float result = {base['float_bytes']} B; "
          "ratios against the BME280 driver")
    print(f"{'driver':10} {'heap at import':>16} {'heap per read':>20} {'time per read':>22}")
    for r in rows:
        print(f"{r['driver']:10} {r['import_heap']:>8} B {_ratio(r['import_heap'], base['import_heap']):>6} "
              f"{r['heap_per_read']:>8.1f} B {_ratio(r['heap_per_read'], base['heap_per_read']):>6} "
              f"(floats {r['float_results'] * r['float_bytes']:>3} B) "
              f"{r['us_per_read']:>9.0f} us {_ratio(r['us_per_read'], base['us_per_read']):>6}")
    work = Path(tempfile.mkdtemp(prefix="trosmart-bench-sensors-"))
    image = VirtualNode(work / "image", uart_pty="/dev/null", config={}, secrets=SECRETS)
    image.flash_firmware()
    scen = Scenario({"signals": {"meter_pulses": [[0, 0], [100000, 2000]]}, "events": []}).save(work / "s.json")
    results: dict[str, tuple[float, float, float]] = {}
    pulse_wakes: list[int] = []
    with Mosquitto() as broker:
        for name, (cfg, parts) in NODES.items():
            config = {"interval_s": 60, "status_every": 0, "quantities": QUANTITIES[name], **cfg}
            lab = Lab(broker, image.flash, work / re.sub(r"\W", "_", name), config=config, scenario=scen,
                      time_scale=0.001)
            lab.node.parts = parts
            lab.start()
            try:
                lines = lab.node.wait_for(CYCLE_RX, count=WAKES + 1, timeout_s=300, fail_on="Traceback")
            finally:
                lab.close()
            awake = [int(m.group(1)) for m in lines[1:]]  # after the join cycle
            warm = [int(m.group(2)) for m in lines[1:]]
            wakes = [ms for c, ms in zip(lab.node.boots[1:], lab.node.boot_ms[1:], strict=False) if c == 4]
            results[name] = (statistics.median(awake), statistics.median(warm), statistics.median(wakes))
            if name == "meter":
                cycles = len(lines)
                pulse_wakes = sorted(wakes)[: max(1, len(wakes) - cycles)]  # the short ones
    b = results["bme280"]
    print(f"\nvirtual board, deep sleep, {WAKES} cycles per node (sensor + battery divider); awake_ms as the "
          "node logs it (the warm-up included), and the whole wake incl. process start and imports")
    print(f"{'node':22} {'awake per cycle':>22} {'of it warm-up':>14} {'whole wake (real)':>24}")
    for name, (a, w, wake) in results.items():
        print(f"{name:22} {a:>10.0f} ms {_ratio(a, b[0]):>8} {w:>11.0f} ms {wake:>12.0f} ms {_ratio(wake, b[2]):>8}")
    if pulse_wakes:
        print(f"meter pulse wake (count, sleep on; no node cycle): median {statistics.median(pulse_wakes):.0f} ms "
              f"real on the virtual board, {len(pulse_wakes)} wakes; BME280 node's whole wake {b[2]:.0f} ms")
