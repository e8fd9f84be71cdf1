"""``trosmart lab``: N virtual nodes running the real firmware, each on its own emulated
RAK3172, a simulated ChirpStack network server, and a broker (embedded or given).

Every node is flashed the way a real board is (mpremote over a pty; board_runner.py), boots
on the MicroPython Unix port and sends through the emulator; the network server publishes
ChirpStack v4 events on the broker, which this command prints decoded.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as pysecrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from payload_codec.downlink import INTERVAL_MAX, INTERVAL_MIN

NAME = "lab"
HELP = "run virtual nodes (real firmware) + RAK3172 emulators + simulated network server"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=int, default=3, help="number of virtual nodes (default 3)")
    p.add_argument("--interval", type=int, default=60, help="measurement interval in virtual s")
    p.add_argument("--time-scale", type=float, default=0.01,
                   help="real seconds per virtual second while nodes sleep (default 0.01)")
    p.add_argument("--scenario", help="scenario JSON (default: a generated day of weather)")
    p.add_argument("--duration", type=float, default=0, help="stop after this many real s (0: Ctrl-C)")
    p.add_argument("--broker", help="host:port of an MQTT broker (default: an embedded mosquitto)")
    p.add_argument("--username", help="broker user; the password comes from $TROSMART_MQTT_PASSWORD")
    p.add_argument("--tls-ca", help="CA file: connect to the broker with TLS")
    p.add_argument("--workdir", help="keep node folders here (default: a temporary folder)")
    p.add_argument("--quiet", action="store_true", help="print decoded uplinks only, no node console")


def _node_secrets(i: int) -> dict[str, str]:
    # per-node keys, generated here and written 0600 to the node's flash; never printed
    return {"deveui": "70b3d57ed0%06x" % (0x100 + i), "appeui": "0000000000000000",
            "appkey": pysecrets.token_hex(16)}


class VirtualLab:
    """Broker (optional) + network server + one emulator and one virtual node per DevEUI."""

    def __init__(self, *, nodes: int, interval: int, time_scale: float, workdir: Path,
                 scenario: Path | None = None, broker: str | None = None,
                 username: str | None = None, password: str | None = None,
                 tls_ca: str | None = None, console: Any = None) -> None:
        from ..errors import ToolError

        if nodes < 1:
            raise ToolError("--nodes must be at least 1")
        if not INTERVAL_MIN <= interval <= INTERVAL_MAX:
            raise ToolError(f"--interval must be {INTERVAL_MIN}..{INTERVAL_MAX} s (the codec's set_interval_s range)")
        if time_scale <= 0:
            raise ToolError("--time-scale must be > 0")
        self.n = nodes
        self.interval = interval
        self.time_scale = time_scale
        self.workdir = workdir
        self.scenario = scenario
        self.broker_arg = broker
        self.username = username
        self.password = password
        self.tls_ca = tls_ca
        self.tls = {"ca_certs": tls_ca} if tls_ca else None
        self.console = console
        self.broker: Any = None
        self.ns: Any = None
        self.emulators: list[Any] = []
        self.nodes: list[Any] = []
        self.host = "127.0.0.1"
        self.port = 0

    def start(self) -> VirtualLab:
        from ..broker import Mosquitto
        from ..errors import ToolError
        from ..secretfile import write_secret
        from ..virtual_lab.board_runner import VirtualNode
        from ..virtual_lab.network_server import SimNetworkServer
        from ..virtual_lab.rak3172_emulator import Rak3172Emulator
        from ..virtual_lab.scenario import demo_scenario

        if self.broker_arg:
            host, _, port = self.broker_arg.rpartition(":")
            if not host or not port.isdigit():
                raise ToolError(f"--broker must be host:port, got {self.broker_arg!r}")
            self.host, self.port = host, int(port)
        else:
            self.broker = Mosquitto(username=self.username, password=self.password).start()
            self.host, self.port = self.broker.host, self.broker.port
        if self.scenario is None:
            self.scenario = demo_scenario().save(self.workdir / "scenario.json")
        self.ns = SimNetworkServer(self.host, self.port, username=self.username,
                                   password=self.password, tls=self.tls)
        self.ns.start()
        image: Path | None = None
        for i in range(self.n):
            sec = _node_secrets(i)
            emu = Rak3172Emulator(sec["deveui"], network=self.ns, time_scale=self.time_scale, seed=i)
            pty = emu.start()
            self.emulators.append(emu)
            node = VirtualNode(self.workdir / f"node{i}", uart_pty=pty,
                               config={"interval_s": self.interval}, secrets=sec,
                               scenario=self.scenario, time_scale=self.time_scale,
                               vclock_start_ms=i * 3 * 3600 * 1000,  # nodes 3 h apart in the day
                               log=self._console_for(sec["deveui"]))
            if image is None:
                node.flash_firmware()  # mpremote over a pty, as a real board
                image = node.flash
            else:
                shutil.copytree(image, node.flash)
                write_secret(node.flash / "secrets.json", json.dumps(sec))
            self.nodes.append(node)
        for node in self.nodes:
            node.start()
        return self

    def _console_for(self, deveui: str) -> Any:
        if self.console is None:
            return None
        return lambda line: self.console(f"[{deveui}] {line}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        for emu in self.emulators:
            emu.stop()
        if self.ns is not None:
            self.ns.stop()
        if self.broker is not None:
            self.broker.close()


def _print_uplinks(lab: VirtualLab, out: Any, stop: threading.Event) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    import payload_codec
    from bridge import chirpstack
    from bridge.errors import InputError
    from bridge.model import Uplink

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        dev = msg.topic.split("/")[3]
        kind = msg.topic.rsplit("/", 1)[1]
        if kind != "up":
            out(f"{dev} {kind}")
            return
        try:
            up = chirpstack.parse(msg.topic, bytes(msg.payload), len(msg.payload))
        except InputError as e:  # the bridge would dead-letter it too
            out(f"{dev}: {e}")
            return
        if not isinstance(up, Uplink):
            return
        try:
            d = payload_codec.decode_uplink(up.f_port or 0, up.data)
        except ValueError as e:
            out(f"{dev} fPort {up.f_port}: undecodable ({e})")
            return
        if d["kind"] == "measurement":
            out(f"{dev} fCnt {up.f_cnt}: {json.dumps(d['samples'][-1]['values'])}")
        else:
            out(f"{dev} fCnt {up.f_cnt}: {d['kind']} {json.dumps(d.get('status', d))}")

    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    if lab.username:
        c.username_pw_set(lab.username, lab.password)
    if lab.tls_ca:
        c.tls_set(ca_certs=lab.tls_ca)
    c.on_message = on_message
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe("application/+/device/+/event/+", qos=1)
    c.connect(lab.host, lab.port)
    c.loop_start()
    return c


def run(args: argparse.Namespace) -> int:
    from ..errors import ToolError
    from ..virtual_lab.scenario import Scenario

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="trosmart-lab-"))
    work.mkdir(parents=True, exist_ok=True)
    scenario = None
    if args.scenario:
        scenario = Scenario.load(args.scenario).save(work / "scenario.json")  # checked copy
    lock = threading.Lock()

    def out(line: str) -> None:
        with lock:
            print(line, flush=True)

    lab = VirtualLab(nodes=args.nodes, interval=args.interval, time_scale=args.time_scale,
                     workdir=work, scenario=scenario, broker=args.broker,
                     username=args.username, password=os.environ.get("TROSMART_MQTT_PASSWORD"),
                     tls_ca=args.tls_ca, console=None if args.quiet else out)
    stop = threading.Event()
    client = None

    def interrupted(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM, or SIGHUP when the terminal closes: as Ctrl-C

    old_handlers = {s: signal.signal(s, interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        lab.start()
        client = _print_uplinks(lab, out, stop)
        out(f"lab: {args.nodes} node(s) on mqtt://{lab.host}:{lab.port}, folders in {work}; "
            "Ctrl-C stops")
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.wait(0.5):  # the main thread only watches the clock and the nodes
            if deadline is not None and time.monotonic() > deadline:
                break
            halted = [n for n in lab.nodes if n.halted]
            if halted:
                raise ToolError(f"a virtual node stopped: {halted[0].halted}")
    except KeyboardInterrupt:
        pass
    finally:
        if client is not None:
            client.loop_stop()
            client.disconnect()
        lab.stop()
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print("lab: stopped", file=sys.stderr)
    return 0
