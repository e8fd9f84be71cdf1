"""The demo's moving parts, started in order and stopped in reverse, nothing left running.

mosquitto (tools/broker.py) ← simulated ChirpStack (virtual_lab/network_server.py) ← three
RAK3172 emulators on ptys ← three virtual boards running the real firmware on the MicroPython
Unix port (virtual_lab/board_runner.py, flashed with mpremote); the bridge (``trosmart
bridge``, a child process) reads the ChirpStack events and writes SenML to the city topics on
the same broker.

Sensors: every node has the BME280 and the battery divider; the air-quality node an SDS011
(PM2.5/PM10), the water-level node an A02YYUW ultrasonic gauge 3 m above the gauge's zero
(water_level = 3 m - distance), the parking node an A02YYUW on a car park ceiling 2.5 m above
the bay (occupied when the echo is nearer than 1.8 m); the water-level node also a DS18B20
probe in the river on its 1-Wire bus (water_temperature). A fourth node reads a water meter:
its reed contact's pulses (10 L each) wake it from deep sleep, and it reports the meter's own
index in m3 (firmware/lib/pulse_meter.py).
"""

from __future__ import annotations

import math
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from ..broker import Mosquitto, find_mosquitto, free_port
from ..errors import ToolError
from ..virtual_lab.board.ds18b20_sim import make_rom
from ..virtual_lab.board_runner import VirtualNode
from ..virtual_lab.lorawan_server import LoRaWANServer
from ..virtual_lab.network_server import SimNetworkServer
from ..virtual_lab.rak3172_emulator import NetworkLike, Rak3172Emulator
from ..virtual_lab.scenario import Scenario
from .state import DemoState, NodeRow
from .watch import Watcher

PREFIX = "trosmart/v1"
BRIDGE_STOP_TIMEOUT_S = 15.0
BRIDGE_START_TIMEOUT_S = 20.0
DAY_S = 3 * 3600  # the scenario's "day": a full temperature cycle in 3 virtual hours (3 real minutes)
SCENARIO_S = 48 * 3600
APPEUI = "0000000000000000"
DEMO_APPKEY = "2b7e151628aed2a6abf7158809cf4f3c"  # a well-known test key: demo nodes only


WATER_MOUNT_MM = 3000  # the water-level gauge hangs 3 m above the gauge's zero
PARKING_MOUNT_MM = 2500  # the parking sensor looks down from a 2.5 m car park ceiling
PARKING_THRESHOLD_MM = 1800  # an echo nearer than this is a car's roof
METER_START_M3 = 1234  # the water meter's reading when the node was fitted
METER_PULSE_S = 300  # a 10 L pulse every 5 virtual minutes on average


@dataclass(frozen=True)
class Profile:
    name: str
    profile: str
    deveui: str
    quantities: tuple[str, ...]
    seed: int
    uart_sensor: str | None = None  # the simulator on the board's UART1
    sensor_config: tuple[tuple[str, object], ...] = ()  # node config keys for that sensor
    parts: tuple[tuple[str, object], ...] = ()  # more simulated parts for the board file


PROFILES = (
    Profile("air quality", "air_quality", "70b3d57ed0de0001",
            ("temperature", "humidity", "pressure", "pm2_5", "pm10", "battery_voltage"), 1,
            "sds011", (("uart_sensor", "sds011"),)),
    Profile("water level", "water_level", "70b3d57ed0de0002",
            ("water_level", "water_temperature", "battery_voltage"), 2,
            "a02yyuw", (("uart_sensor", "a02yyuw"), ("a02yyuw_as", "water_level"),
                        ("a02yyuw_mount_mm", WATER_MOUNT_MM),
                        ("sensors", ["bme280", "battery", "ds18b20"]), ("ds18b20_as", ["water_temperature"])),
            (("onewire", {"probes": [{"rom": make_rom(0).hex(), "signal": "water_temperature"}]}),)),
    Profile("parking", "parking", "70b3d57ed0de0003", ("occupancy", "battery_voltage"), 3,
            "a02yyuw", (("uart_sensor", "a02yyuw"), ("a02yyuw_as", "occupancy"),
                        ("a02yyuw_mount_mm", PARKING_MOUNT_MM),
                        ("a02yyuw_threshold_mm", PARKING_THRESHOLD_MM))),
    Profile("water meter", "water_meter", "70b3d57ed0de0004", ("volume_index", "battery_voltage"), 4,
            None, (("sensors", ["meter", "battery"]), ("meter_as", "volume_index"),
                   ("meter_pulses_per_unit", 100), ("meter_start_index", METER_START_M3)),
            (("meter", {"pin": 25}),)),
)

# nodes on a bare LoRa radio: the firmware's own LoRaWAN MAC (docs/lorawan.md) on the virtual
# Heltec V3 profile, a simulated SX1262 talking to the simulated gateway/network/join server
MAC_PROFILES = (
    Profile("heltec v3 (MAC)", "heltec_v3_mac", "70b3d57ed0de0005",
            ("temperature", "humidity", "pressure", "battery_voltage"), 5),
)


def lively_scenario(seed: int) -> Scenario:
    """Sensor values for a demo node: a day's temperature and humidity curve squeezed into DAY_S so
    it shows within minutes, slow pressure drift, and a battery visibly draining (4.15 V -> 3.6 V);
    PM with two rush hours a "day", a river rising after rain and falling, and a parking bay
    taken and freed (the ultrasonic distance the A02YYUW sees)."""
    rng = random.Random(seed)
    phase = rng.uniform(0, 2 * math.pi)
    temp, hum, pres, bat, pm25, pm10, dist = [], [], [], [], [], [], []
    car = False
    for t in range(0, SCENARIO_S + 1, 300):
        day = math.sin(2 * math.pi * t / DAY_S + phase)
        temp.append([t, round(13 + 8 * day + rng.uniform(-0.3, 0.3), 2)])
        hum.append([t, round(min(100.0, 62 - 18 * day + rng.uniform(-1, 1)), 1)])
        pres.append([t, round(1012 + 6 * math.sin(2 * math.pi * t / (5 * DAY_S) + seed), 2)])
        bat.append([t, round(max(3.6, 4.15 - 0.55 * t / (8 * 3600)), 3)])
        rush = math.sin(4 * math.pi * t / DAY_S + phase) ** 8  # two traffic peaks a "day"
        p = 6 + 28 * rush + rng.uniform(0, 3)
        pm25.append([t, round(p, 1)])
        pm10.append([t, round(p * 1.7 + rng.uniform(0, 4), 1)])
        if seed == 2:  # the river: 0.9 m base, a tide-like swing and a flood wave every "day"
            wave = math.sin(2 * math.pi * t / DAY_S + phase)
            level = 0.9 + 0.2 * math.sin(2 * math.pi * t / (DAY_S / 3)) + 1.0 * max(0.0, wave) ** 3
            dist.append([t, round(WATER_MOUNT_MM / 1000 - level + rng.uniform(-0.005, 0.005), 3)])
        else:  # the parking bay: a car comes or goes now and then
            if rng.random() < 0.25:
                car = not car
            dist.append([t, round(rng.uniform(0.95, 1.25) if car else PARKING_MOUNT_MM / 1000, 3)])
    # the river's temperature follows the air's slowly; the water meter's pulses come faster by
    # "day" (a household's use) than by "night"
    water = [[t, round(9 + 0.3 * (v - 13), 2)] for t, v in temp]
    pulses, n = [], 0.0
    for t in range(0, SCENARIO_S + 1, 300):
        pulses.append([t, round(n, 3)])
        n += 300 / METER_PULSE_S * (1.5 + math.sin(2 * math.pi * t / DAY_S + phase))
    return Scenario({"name": f"demo node {seed}", "events": [],
                     "signals": {"temperature": temp, "humidity": hum, "pressure": pres, "battery_voltage": bat,
                                 "pm2_5": pm25, "pm10": pm10, "distance": dist, "water_temperature": water,
                                 "meter_pulses": pulses}})


def mosquitto_version() -> str:
    try:
        r = subprocess.run([find_mosquitto(), "-h"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired, ToolError):
        return "mosquitto"
    first = (r.stdout or r.stderr).splitlines()[:1]
    return first[0].strip() if first else "mosquitto"  # "mosquitto version 2.0.11"


def bridge_toml(state_dir: Path, host: str, port: int, metrics_port: int) -> str:
    return f"""# written by trosmart demo: one local mosquitto is both the LNS broker and the city broker
[bridge]
state_dir = "{state_dir}"
prefix = "{PREFIX}"
downlink_min_interval_s = 1

[metrics]
host = "127.0.0.1"
port = {metrics_port}

[city]
host = "{host}"
port = {port}
protocol = "5"
client_id = "trosmart-demo-bridge-city"

[[source]]
name = "simulated-chirpstack"
lns = "chirpstack"
host = "{host}"
port = {port}
protocol = "5"
client_id = "trosmart-demo-bridge-src"
"""


class Fleet:
    """Start/stop every part of the demo; ``state`` is what the view shows."""

    def __init__(self, workdir: Path, *, speedup: float, interval_s: int, log: Path | None = None) -> None:
        self.workdir = workdir
        self.speedup = speedup
        self.interval_s = interval_s
        self.broker: Mosquitto | None = None
        self.ns: SimNetworkServer | None = None
        self.bridge: subprocess.Popen[bytes] | None = None
        self.watcher: Watcher | None = None
        self.emulators: list[Rak3172Emulator] = []
        self.nodes: list[VirtualNode] = []
        self.lorawan: LoRaWANServer | None = None
        self.state = DemoState(
            [NodeRow(p.name, p.profile, p.deveui, list(p.quantities)) for p in PROFILES + MAC_PROFILES],
            PREFIX, "starting", speedup)
        self._log_path = log or workdir / "demo.log"
        self._log = open(self._log_path, "a", buffering=1)  # noqa: SIM115 - closed in stop()
        self._stopped = False
        self._bridge_log: BinaryIO | None = None

    def note(self, text: str) -> None:
        self._log.write(text + "\n")

    # ---- start, in dependency order ------------------------------------------------------------
    def start(self, progress: Callable[[str], None] = print) -> None:
        progress("demo: starting mosquitto on 127.0.0.1")
        self.broker = Mosquitto().start()
        host, port = self.broker.host, self.broker.port
        self.state.broker = f"{mosquitto_version()} on {host}:{port}"
        progress(f"demo: broker {self.state.broker} (LNS topics and city topics)")
        self.watcher = Watcher(host, port, self.state).start()
        self.ns = SimNetworkServer(host, port)
        self.ns.start()
        progress("demo: starting the bridge (trosmart bridge)")
        self._start_bridge(host, port)
        progress(f"demo: flashing {len(PROFILES)} virtual boards with mpremote (real firmware, MicroPython Unix port)")
        self._make_nodes()
        progress(f"demo: and {len(MAC_PROFILES)} Heltec V3 board(s) on the LoRaWAN MAC (simulated SX1262)")
        self._make_mac_nodes()
        self._flash_all()
        for n in self.nodes:
            n.start()
        self.state.started = time.time()
        with self.state.lock:
            self.state.log("nodes powered on: joining through the emulated RAK3172 modems")

    def _start_bridge(self, host: str, port: int) -> None:
        conf = self.workdir / "bridge.toml"
        conf.write_text(bridge_toml(self.workdir / "bridge-state", host, port, free_port()))
        cmd = [sys.executable, "-m", "trosmart_tools.cli", "bridge", "--config", str(conf)]  # = trosmart bridge
        self._bridge_log = open(self.workdir / "bridge.log", "ab")  # noqa: SIM115 - closed in stop()
        self.bridge = subprocess.Popen(cmd, stdout=self._bridge_log, stderr=self._bridge_log,
                                       stdin=subprocess.DEVNULL)

    def _make_nodes(self) -> None:
        scale = 1.0 / self.speedup  # board_runner/emulator: real seconds per virtual second
        for p in PROFILES:
            assert self.ns is not None
            # cast: SimNetworkServer.uplink spells out NetworkLike's **kw (same call, stricter type)
            emu = Rak3172Emulator(p.deveui, network=cast(NetworkLike, self.ns), time_scale=scale, seed=p.seed)
            self.emulators.append(emu)
            pty = emu.start()
            scen = lively_scenario(p.seed).save(self.workdir / f"scenario-{p.seed}.json")
            config = {"interval_s": self.interval_s, "quantities": list(p.quantities), "status_every": 12,
                      **dict(p.sensor_config)}
            secrets = {"deveui": p.deveui, "appeui": APPEUI, "appkey": DEMO_APPKEY}
            node = VirtualNode(self.workdir / p.profile, uart_pty=pty, config=config, secrets=secrets,
                               scenario=scen, time_scale=scale, uart_sensor=p.uart_sensor,
                               log=self._node_log(p.name), parts=dict(p.parts))
            self.nodes.append(node)

    def _make_mac_nodes(self) -> None:
        assert self.ns is not None
        self.lorawan = LoRaWANServer(rx_delay_s=5, events=self.ns)  # RX1 after 5 s, as TTS sets it
        gw_port = self.lorawan.serve_udp()
        scale = 1.0 / self.speedup
        for p in MAC_PROFILES:
            self.lorawan.register(bytes.fromhex(p.deveui), bytes.fromhex(APPEUI), bytes.fromhex(DEMO_APPKEY))
            scen = lively_scenario(p.seed).save(self.workdir / f"scenario-{p.seed}.json")
            config = {"board": "virtual_heltec_v3", "interval_s": self.interval_s, "quantities": list(p.quantities),
                      "status_every": 12, "data_rate": 5}
            secrets = {"deveui": p.deveui, "appeui": APPEUI, "appkey": DEMO_APPKEY}
            self.nodes.append(VirtualNode(self.workdir / p.profile, uart_pty="/dev/null", config=config,
                                          secrets=secrets, scenario=scen, time_scale=scale,
                                          log=self._node_log(p.name),
                                          board_extra={"lora_gateway": ["127.0.0.1", gw_port]}))

    def _node_log(self, name: str) -> Callable[[str], None]:
        def log(line: str) -> None:
            self._log.write(f"{name}: {line}\n")

        return log

    def _flash_all(self) -> None:
        errors: list[str] = []

        def flash(n: VirtualNode) -> None:
            try:
                n.flash_firmware()
            except ToolError as e:
                errors.append(str(e))

        threads = [threading.Thread(target=flash, args=(n,)) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise ToolError(errors[0])

    def poll(self) -> None:
        """Copy the modems' airtime accounts into the view; notice a bridge that died."""
        with self.state.lock:
            for emu, row in zip(self.emulators, self.state.rows, strict=False):
                row.airtime_ms = emu.airtime_ms_total
        if self.bridge is not None and self.bridge.poll() is not None:
            tail = (self.workdir / "bridge.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise ToolError(f"the bridge exited with status {self.bridge.returncode}: " + " | ".join(tail))

    # ---- stop, in reverse order; every child process waited for --------------------------------
    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for n in self.nodes:
            n.stop()
        for e in self.emulators:
            e.stop()
        if self.lorawan is not None:
            self.lorawan.close()
        if self.bridge is not None and self.bridge.poll() is None:
            self.bridge.send_signal(signal.SIGTERM)  # drains in-flight work, keeps the outbox
            try:
                self.bridge.wait(BRIDGE_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.bridge.kill()
                self.bridge.wait()
        if self.ns is not None:
            self.ns.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self.broker is not None:
            self.broker.close()
        if self._bridge_log is not None:
            self._bridge_log.close()
        self._log.close()


def default_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="trosmart-demo-"))
