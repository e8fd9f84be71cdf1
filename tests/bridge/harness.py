"""Test harness: a city-side collector, an LNS-side publisher, and the bridge in-process or as
a subprocess (for ``kill -9``). Every wait is on a condition with a deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bridge import config
from bridge.service import Bridge
from trosmart_tools.broker import free_port

REPO = Path(__file__).resolve().parents[2]
PREFIX = "trosmart/v1"


def _client(client_id: str = "", persistent: bool = False) -> paho.Client:
    return paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)


def _connect(c: paho.Client, port: int, persistent: bool) -> None:
    props = None
    if persistent:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
    c.connect("127.0.0.1", port, keepalive=10, clean_start=not persistent, properties=props)


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str,
               cond: threading.Condition | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        if cond is not None:
            with cond:
                cond.wait(min(left, 0.2))
        else:
            time.sleep(0.02)  # polling a condition another process changes


class Collector:
    """Subscribes on the city broker (persistent session, QoS 1) and records everything."""

    def __init__(self, port: int, topic: str = PREFIX + "/#", client_id: str = "city-collector",
                 persistent: bool = True) -> None:
        self.cond = threading.Condition()
        self.messages: list[tuple[str, bytes, bool]] = []
        self._counts: dict[str, tuple[int, int]] = {}
        self._keys: list[tuple[str, float]] = []
        self._parsed = 0
        self._unique: set[tuple[str, float]] = set()
        self.connected = threading.Event()
        self.c = _client(client_id)
        self.c.on_message = self._msg
        self.c.on_connect = lambda c, u, f, rc, p: (c.subscribe(topic, 1), self.connected.set())
        self.c.reconnect_delay_set(0.1, 0.5)
        _connect(self.c, port, persistent)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise AssertionError("collector did not connect")

    def _msg(self, _c: Any, _u: Any, m: paho.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((m.topic, bytes(m.payload), bool(m.retain)))
            self.cond.notify_all()

    def on(self, suffix: str) -> list[Any]:
        with self.cond:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith(suffix)]

    def count(self, suffix: str) -> int:
        """Messages whose topic ends with suffix (counted incrementally: waits call this often)."""
        with self.cond:
            done, n = self._counts.get(suffix, (0, 0))
            n += sum(1 for t, _, _ in self.messages[done:] if t.endswith(suffix))
            self._counts[suffix] = (len(self.messages), n)
            return n

    def wait_for(self, suffix: str, n: int = 1, timeout_s: float = 20) -> list[Any]:
        wait_until(lambda: self.count(suffix) >= n, timeout_s, f"{n} x {suffix}", self.cond)
        return self.on(suffix)

    def senml_keys(self) -> list[tuple[str, float]]:
        """(base name, base time) of every SenML pack received: one per uplink."""
        with self.cond:
            for t, p, _ in self.messages[self._parsed:]:
                if t.endswith("/senml"):
                    pack = json.loads(p)
                    key = (pack[0]["bn"], pack[0]["bt"])
                    self._keys.append(key)
                    self._unique.add(key)
            self._parsed = len(self.messages)
            return list(self._keys)

    def unique_senml(self) -> int:
        """Distinct SenML packs so far (incremental: waits call this often)."""
        self.senml_keys()
        with self.cond:
            return len(self._unique)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


class Publisher:
    """Plays the network server: publishes at QoS 1 and knows which messages the broker accepted."""

    def __init__(self, port: int, client_id: str = "fake-lns") -> None:
        self.c = _client(client_id)
        self.c.reconnect_delay_set(0.1, 0.5)
        self.c.max_inflight_messages_set(100)
        self.connected = threading.Event()
        self.c.on_connect = lambda c, u, f, rc, p: self.connected.set()
        _connect(self.c, port, persistent=True)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise AssertionError("publisher did not connect")
        self.infos: list[paho.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.infos.append(self.c.publish(topic, payload, qos=qos))

    def accepted(self) -> int:
        return sum(1 for i in self.infos if i.is_published())

    def wait_all(self, timeout_s: float = 60) -> None:
        wait_until(lambda: self.accepted() == len(self.infos), timeout_s,
                   f"PUBACK for {len(self.infos)} uplinks")

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def bridge_doc(state_dir: Path, src_port: int, city_port: int, **bridge: Any) -> dict[str, Any]:
    srcs = bridge.pop("sources", None) or [{"name": "cs", "lns": "chirpstack", "port": src_port}]
    for s in srcs:
        s.setdefault("reconnect_max_s", 2)
    dec = bridge.pop("decode", {})
    return {
        "bridge": {"state_dir": str(state_dir), "prefix": PREFIX, "downlink_min_interval_s": 0,
                   "retained_delay_s": 0.1, **bridge},
        "metrics": {"port": bridge.pop("metrics_port", 0)} if "metrics_port" in bridge else {"port": 0},
        "decode": dec,
        "city": {"port": city_port, "client_id": f"bridge-city-{state_dir.name}",
                 "reconnect_max_s": 2},
        "source": srcs,
    }


def start_bridge(doc: dict[str, Any]) -> Bridge:
    b = Bridge(config.parse(doc)).start()
    wait_until(lambda: b.health()[0], 15, "bridge connections up")
    return b


def _toml(doc: dict[str, Any]) -> str:
    lines = []

    def val(v: Any) -> str:
        return json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")

    for table in ("bridge", "metrics", "city"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {val(v)}" for k, v in doc[table].items()]
    for k, v in doc.get("decode", {}).items():
        lines.append("[decode]" if not isinstance(v, dict) else f"[decode.{k}]")
        lines += [f"{k} = {val(v)}"] if not isinstance(v, dict) else \
            [f"{json.dumps(kk)} = {val(vv)}" for kk, vv in v.items()]
    for s in doc["source"]:
        lines.append("[[source]]")
        lines += [f"{k} = {val(v)}" for k, v in s.items()]
    return "\n".join(lines) + "\n"


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class BridgeProcess:
    """``python -m bridge`` as a subprocess: started, health-checked, killed with SIGKILL."""

    def __init__(self, doc: dict[str, Any], workdir: Path) -> None:
        self.port = free_port()
        doc = {**doc, "metrics": {"port": self.port}}
        self.path = workdir / "bridge.toml"
        self.path.write_text(_toml(doc))
        self.log = workdir / "bridge.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(self.path)],
                                         stdout=log, stderr=log, env=env, cwd=REPO)
        wait_until(self.healthy, 20, "bridge process healthy")
        return self

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"bridge exited with {self.proc.returncode}; see {self.log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
            return str(r.read().decode())

    def worker_pid(self) -> int:
        """The worker process (bridge/worker.py), the bridge process's one child."""
        assert self.proc is not None
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        assert len(kids) == 1, f"expected one worker process, found {kids}"
        return int(kids[0])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, with_worker: bool = False) -> int:
        """SIGTERM to the bridge; ``with_worker``: to its worker process too, as systemd does
        to every process of a unit."""
        assert self.proc is not None
        worker = self.worker_pid() if with_worker else None
        self.proc.terminate()
        if worker is not None:
            os.kill(worker, signal.SIGTERM)
        return self.proc.wait(30)

    def close(self) -> None:
        """Kill the process if a failed test left it running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
