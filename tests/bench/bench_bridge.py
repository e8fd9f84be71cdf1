"""Bridge benchmark: end-to-end uplinks/s (source broker -> bridge -> city broker, QoS 1, SQLite
outbox on) and p50/p99 latency at a fixed 1,000 uplinks/s, against a Node-RED 4 flow
(mqtt in -> JavaScript decode -> mqtt out, no persistence) on the same mosquitto in the same run.

Load: a raw-socket MQTT 3.1.1 publisher pipelines QoS 1 ChirpStack ``event/up`` messages,
encoded before the clock starts (so the load generator takes little CPU from the contenders);
``mosquitto_sub -F %U`` timestamps the outputs. Each contender starts fresh in every round
with its own client ids, and the bridge's sessions end with the connection: a session left
behind would make mosquitto queue the next contender's load for it.
Latency = receive time - the uplink's ``time`` (the publisher writes its send time there;
both sides copy it to SenML ``bt``). CPU per uplink sums user and system time of the bridge's
two processes (or Node-RED's) over the rate run. Node-RED is installed with npm into
~/.cache/trosmart/node-red (``npm install node-red@4``) when missing.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import payload_codec
from payload_codec import registry
from trosmart_tools.broker import Mosquitto, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
NODE_RED_DIR = Path(os.environ.get("TROSMART_NODE_RED_DIR",
                                   Path.home() / ".cache" / "trosmart" / "node-red"))
N_RATE = 20_000
RATE_FIXED = 1000
LAT_SECONDS = 10
DEVICES = 100
QUANTITIES = ["temperature", "humidity", "pressure", "battery_voltage"]
FRAME = payload_codec.encode({"temperature": 21.4, "humidity": 50, "pressure": 1013.2,
                              "battery_voltage": 3.7})
_BT = re.compile(rb'"bt":\s*([0-9.]+)')


# --- load: a pipelining MQTT 3.1.1 publisher (OASIS MQTT 3.1.1 §3.1, §3.3, §3.4) -------------
def _varlen(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s(x: bytes) -> bytes:
    return struct.pack(">H", len(x)) + x


class RawPublisher:
    def __init__(self, port: int, client_id: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _s(b"MQTT") + b"\x04\x02\x00\x3c" + _s(client_id.encode())
        self.sock.sendall(b"\x10" + _varlen(len(body)) + body)
        if self.sock.recv(4)[:1] != b"\x20":
            raise RuntimeError("no CONNACK")
        self.acked = 0
        self.mid = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            n = len(buf) // 4  # PUBACK is 4 bytes: 0x40 0x02 mid
            self.acked += n
            buf = buf[n * 4:]

    def packet(self, topic: str, payload: bytes) -> bytes:
        """A QoS 1 PUBLISH with the next packet identifier (MQTT 3.1.1 §3.3)."""
        self.mid = self.mid % 65535 + 1
        body = _s(topic.encode()) + struct.pack(">H", self.mid) + payload
        return b"\x32" + _varlen(len(body)) + body

    def publish(self, topic: str, payload: bytes) -> None:
        self.sock.sendall(self.packet(topic, payload))

    def send_all(self, packets: list[bytes], chunk: int = 65536) -> None:
        """Pre-encoded packets in writes of about ``chunk`` bytes: the load generator costs
        the machine little, so the two contenders get its CPUs."""
        out: list[bytes] = []
        size = 0
        for p in packets:
            out.append(p)
            size += len(p)
            if size >= chunk:
                self.sock.sendall(b"".join(out))
                out, size = [], 0
        if out:
            self.sock.sendall(b"".join(out))

    def close(self) -> None:
        self.sock.close()


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09d+00:00" % int((t % 1) * 1e9)


def uplink(i: int, t: float) -> tuple[str, bytes]:
    eui = "70b3d57ed300%04x" % (i % DEVICES)
    doc = {"deduplicationId": f"bench-{i}-{t}", "time": _rfc3339(t),
           "deviceInfo": {"devEui": eui, "deviceName": f"n{i % DEVICES}",
                          "applicationId": "4d7a7c8c-0f0c-4e8e-9b61-6f2f3c1d2e3f"},
           "devAddr": "01fa2b3c", "adr": True, "dr": 5, "fCnt": i, "fPort": 1, "confirmed": False,
           "data": base64.b64encode(FRAME).decode(),
           "rxInfo": [{"gatewayId": "0016c001ff10a230", "rssi": -70, "snr": 9.5}],
           "txInfo": {"frequency": 868300000, "modulation": {"lora": {
               "bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}}}
    return f"application/4d7a7c8c-0f0c-4e8e-9b61-6f2f3c1d2e3f/device/{eui}/event/up", \
        json.dumps(doc).encode()


class Receiver:
    """mosquitto_sub writing receive time (ns) and payload per line to a file (a pipe would
    fill up and stall it)."""

    def __init__(self, port: int, topic: str, count: int) -> None:
        self.out = tempfile.TemporaryFile()  # noqa: SIM115 (closed in wait)
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic,
             "-C", str(count), "-F", "%U %p"], stdout=self.out)
        time.sleep(0.3)  # mosquitto_sub gives no ready signal; its subscribe is sub-millisecond

    def wait(self, timeout_s: float) -> list[tuple[float, float]]:
        self.proc.wait(timeout=timeout_s)
        self.out.seek(0)
        res = []
        for line in self.out.read().splitlines():
            ts, _, payload = line.partition(b" ")
            m = _BT.search(payload)
            if m:
                res.append((float(ts), float(m.group(1))))
        self.out.close()
        return res


def _cpu_s(root: int) -> float:
    """User + system CPU seconds of a process and its descendants so far (/proc, Linux)."""
    total = 0.0
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            continue  # the process ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _rate(broker: Mosquitto, out_topic: str, tag: str) -> float:
    recv = Receiver(broker.port, out_topic, N_RATE)
    pub = RawPublisher(broker.port, f"bench-rate-{tag}")
    t_bt = time.time()  # the rate run's uplinks share one reception time
    packets = [pub.packet(*uplink(i, t_bt)) for i in range(N_RATE)]
    t0 = time.time()
    pub.send_all(packets)
    got = recv.wait(300)
    pub.close()
    if len(got) < N_RATE:
        raise RuntimeError(f"{tag}: only {len(got)} of {N_RATE} outputs")
    return N_RATE / (got[-1][0] - t0)


def _latency(broker: Mosquitto, out_topic: str, tag: str) -> tuple[float, float]:
    n = RATE_FIXED * LAT_SECONDS
    recv = Receiver(broker.port, out_topic, n)
    pub = RawPublisher(broker.port, f"bench-lat-{tag}")
    t0 = time.perf_counter()
    for i in range(n):
        due = t0 + i / RATE_FIXED
        while time.perf_counter() < due:
            time.sleep(0.0005)  # pacing the load at RATE_FIXED
        pub.publish(*uplink(N_RATE + i, time.time()))
    got = recv.wait(300)
    pub.close()
    lat = sorted(r - bt for r, bt in got)
    return lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000


# --- the bridge -------------------------------------------------------------------------------
def _bridge(broker: Mosquitto, work: Path, retained: bool = True) -> subprocess.Popen[bytes]:
    # a persistent session outliving this run would make mosquitto queue the next contender's
    # load for it: sessions end with the connection here (the input is still acknowledged by
    # hand after the commit, as in production)
    state = work / f"state-{retained}"
    cfg = work / "bridge.toml"
    cfg.write_text(f"""[bridge]
state_dir = "{state}"
prefix = "city/v1"
retained_values = {str(retained).lower()}
[metrics]
port = {free_port()}
[city]
port = {broker.port}
client_id = "bench-city-{work.name}"
session_expiry_s = 0
[[source]]
name = "cs"
port = {broker.port}
client_id = "bench-cs-{work.name}"
session_expiry_s = 0
topics = ["application/+/device/+/event/up"]
""")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(work / "bridge.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=log, env=env)
    _warm(broker, "city/v1/+/senml", proc.poll)
    return proc


# --- Node-RED -----------------------------------------------------------------------------------
def _node_red_bin() -> Path:
    exe = NODE_RED_DIR / "node_modules" / ".bin" / "node-red"
    if not exe.exists():
        NODE_RED_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "node-red@4"],
                       cwd=NODE_RED_DIR, check=True, capture_output=True)
    return exe


def _decoder_js() -> str:
    """The same TroSmart single-sample frame decode in JavaScript (profile fields MSB-first)."""
    rows = {r[1]: r for r in registry.QUANTITIES}
    fields = [[q, rows[q][2], rows[q][3], rows[q][5], rows[q][6], registry.field_bits(rows[q])]
              for q in QUANTITIES]
    return """
const F = %s;
const up = msg.payload;
const b = Buffer.from(up.data, 'base64');
let pos = 8, out = [];
function bits(n) { let v = 0; for (let i = 0; i < n; i++, pos++) {
  v = v * 2 + ((b[pos >> 3] >> (7 - (pos & 7))) & 1); } return v; }
for (const [name, unit, lo, mul, div, w] of F) {
  const c = bits(w);
  out.push(c === Math.pow(2, w) - 1 ? {n: name, vs: 'invalid'} : {n: name, u: unit, v: (c + lo) * mul / div});
}
out[0].bn = 'urn:dev:mac:' + up.deviceInfo.devEui + ':';
out[0].bt = Date.parse(up.time) / 1000;
msg.topic = 'nodered/v1/' + up.deviceInfo.devEui + '/senml';
msg.payload = JSON.stringify(out);
return msg;
""" % json.dumps(fields)


def _node_red(broker: Mosquitto, work: Path) -> subprocess.Popen[bytes]:
    exe = _node_red_bin()
    user = work / "nr"
    user.mkdir()
    port = free_port()
    (user / "settings.js").write_text(
        "module.exports = { uiHost: '127.0.0.1', uiPort: %d, flowFile: 'flows.json',"
        " credentialSecret: false, logging: { console: { level: 'warn' } } };\n" % port)
    flow = [
        {"id": "t1", "type": "tab", "label": "bench"},
        {"id": "b1", "type": "mqtt-broker", "name": "b", "broker": "127.0.0.1",
         "port": str(broker.port), "clientid": f"bench-nodered-{work.name}", "autoConnect": True,
         "usetls": False, "protocolVersion": "4", "keepalive": "60", "cleansession": True},
        {"id": "in1", "type": "mqtt in", "z": "t1", "topic": "application/+/device/+/event/up",
         "qos": "1", "datatype": "json", "broker": "b1", "nl": False, "rap": False, "inputs": 0,
         "wires": [["fn1"]]},
        {"id": "fn1", "type": "function", "z": "t1", "func": _decoder_js(), "outputs": 1,
         "wires": [["out1"]]},
        {"id": "out1", "type": "mqtt out", "z": "t1", "topic": "", "qos": "1", "retain": "false",
         "broker": "b1", "wires": []},
    ]
    (user / "flows.json").write_text(json.dumps(flow))
    with open(work / "nodered.log", "wb") as log:
        proc = subprocess.Popen([str(exe), "-u", str(user), "-s", str(user / "settings.js")],
                                stdout=log, stderr=subprocess.STDOUT)
    wait_for_port("127.0.0.1", port, 60)
    _warm(broker, "nodered/v1/+/senml", proc.poll)
    return proc


def _warm(broker: Mosquitto, out_topic: str, poll: Callable[[], int | None]) -> None:
    """Publish until the flow answers: the only readiness signal both have in common."""
    deadline = time.monotonic() + 60
    pub = RawPublisher(broker.port, "bench-warm")
    i = 0
    while time.monotonic() < deadline:
        if poll() is not None:
            raise RuntimeError(f"process exited while warming up for {out_topic}")
        recv = Receiver(broker.port, out_topic, 1)
        pub.publish(*uplink(10_000_000 + i, time.time()))
        i += 1
        try:
            recv.wait(2)
            pub.close()
            return
        except subprocess.TimeoutExpired:
            recv.proc.kill()
            recv.proc.wait()
    raise RuntimeError(f"no output on {out_topic} after 60 s")


def _stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


ROUNDS = 3


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def run(args: list[str]) -> None:
    """Three rounds, the middle one in reverse order, so the VM's drifting speed favours nobody.
    A ratio compares contenders of the same round (minutes apart at most); the figures printed
    are medians over the rounds. Latency is measured once, in round 1."""
    work = Path(tempfile.mkdtemp(prefix="trosmart-bench-bridge-"))
    broker = Mosquitto().start()
    contenders: dict[str, tuple[Callable[[Mosquitto, Path], subprocess.Popen[bytes]], str]] = {
        "bridge": (_bridge, "city/v1/+/senml"),
        "bridge-senml-only": (lambda b, w: _bridge(b, w, retained=False), "city/v1/+/senml"),
        "node-red": (_node_red, "nodered/v1/+/senml"),
    }
    rates: dict[str, list[float]] = {n: [] for n in contenders}
    cpus: dict[str, list[float]] = {n: [] for n in contenders}
    latency: dict[str, tuple[float, float]] = {}
    try:
        for rnd in range(1, ROUNDS + 1):
            order = list(contenders) if rnd % 2 else list(contenders)[::-1]
            for name in order:
                start, topic = contenders[name]
                rundir = work / f"{name}-{rnd}"  # fresh state: no dedupe keys, no flow files
                rundir.mkdir()
                proc = start(broker, rundir)
                try:
                    cpu0 = _cpu_s(proc.pid)
                    rates[name].append(_rate(broker, topic, name))
                    cpus[name].append((_cpu_s(proc.pid) - cpu0) / N_RATE * 1e6)
                    if name not in latency:
                        latency[name] = _latency(broker, topic, name)
                finally:
                    _stop(proc)
                print(f"round {rnd}: {name:17s} {rates[name][-1]:8.0f} uplinks/s, "
                      f"{cpus[name][-1]:4.0f} us CPU per uplink", flush=True)
            print(f"round {rnd}: ratio bridge/node-red "
                  f"{rates['bridge'][-1] / rates['node-red'][-1]:.2f}", flush=True)
        for name in contenders:
            p50, p99 = latency[name]
            print(f"{name:17s} {_median(rates[name]):8.0f} uplinks/s end to end, "
                  f"{_median(cpus[name]):4.0f} us CPU per uplink;  at {RATE_FIXED}/s: "
                  f"p50 {p50:6.1f} ms, p99 {p99:7.1f} ms")

        def ratio(name: str, of: dict[str, list[float]]) -> float:
            return _median([a / b for a, b in zip(of[name], of["node-red"], strict=True)])

        print(f"ratio bridge/node-red: {ratio('bridge', rates):.2f} (median of the rounds' ratios; "
              f"bridge defaults: SQLite outbox synchronous=FULL, dedupe, SenML pack + retained "
              f"values + meta per uplink)")
        print(f"ratio bridge-senml-only/node-red: {ratio('bridge-senml-only', rates):.2f} "
              f"(retained_values=false: SenML pack + meta; Node-RED: one message, no persistence)")
        print(f"CPU per uplink bridge/node-red: {ratio('bridge', cpus):.2f} "
              f"(all processes of each; this machine has {os.cpu_count()} CPUs, shared with "
              f"mosquitto and the load)")
    finally:
        broker.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run(sys.argv[1:])
