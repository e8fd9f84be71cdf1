"""What the demo view shows, collected from the broker: LNS uplinks per node and SenML on the city topics.

Pure bookkeeping, fed by the MQTT callbacks (watch.py) and read by the view (view.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class NodeRow:
    name: str  # "air quality", "water level", "parking"
    profile: str  # payload_codec profile name
    deveui: str
    quantities: list[str]
    values: dict[str, Any] = field(default_factory=dict)  # latest decoded measurement
    last_uplink: float | None = None  # wall time
    last_fport: int = 0
    fcnt: int | None = None
    uplinks: int = 0
    statuses: int = 0
    last_status: dict[str, Any] = field(default_factory=dict)
    airtime_ms: float = 0.0  # the modem's own account (emulator)
    joined: bool = False
    city_packs: int = 0  # SenML packs the bridge published for this node
    city_last: list[dict[str, Any]] = field(default_factory=list)
    city_at: float | None = None

    @property
    def battery(self) -> float | None:
        v = self.values.get("battery_voltage")
        if v is None:
            v = self.last_status.get("battery_voltage")
        return float(v) if v is not None else None


@dataclass
class Event:
    at: float
    text: str


class DemoState:
    def __init__(self, rows: list[NodeRow], prefix: str, broker: str, time_scale: float) -> None:
        self.rows = rows
        self.prefix = prefix
        self.broker = broker
        self.time_scale = time_scale
        self.started = time.time()
        self.lock = threading.Lock()
        self.events: list[Event] = []  # everything that happened, oldest first
        self.city_messages = 0
        self.deadletters = 0
        self.changed = threading.Event()

    def row(self, deveui: str) -> NodeRow | None:
        for r in self.rows:
            if r.deveui == deveui.lower():
                return r
        return None

    def virtual_s(self, wall: float | None = None) -> float:
        """Approximate virtual time: the nodes sleep ``time_scale`` times faster than real time."""
        return ((wall or time.time()) - self.started) * self.time_scale

    def log(self, text: str) -> None:
        self.events.append(Event(time.time(), text))
        self.changed.set()

    # ---- fed by watch.py (under self.lock) ---------------------------------------------------
    def on_join(self, deveui: str) -> None:
        r = self.row(deveui)
        if r is not None:
            r.joined = True
            self.log(f"{r.name}: joined")

    def on_uplink(self, deveui: str, fport: int, fcnt: int | None, decoded: dict[str, Any]) -> None:
        r = self.row(deveui)
        if r is None:
            return
        r.last_uplink = time.time()
        r.last_fport = fport
        r.fcnt = fcnt
        r.uplinks += 1
        kind = decoded.get("kind")
        if kind == "measurement":
            r.values = dict(decoded["samples"][-1]["values"])
            self.log(f"{r.name}: uplink fCnt {fcnt}: " + format_values(r.values))
        elif kind == "status":
            r.statuses += 1
            r.last_status = dict(decoded.get("status", {}))
            self.log(f"{r.name}: status fCnt {fcnt}: reset {r.last_status.get('reset_cause')}, "
                     f"interval {r.last_status.get('interval_s')} s")
        else:
            self.log(f"{r.name}: uplink fPort {fport} ({kind})")

    def on_senml(self, deveui: str, pack: list[dict[str, Any]]) -> None:
        self.city_messages += 1
        r = self.row(deveui)
        if r is None:
            return
        r.city_packs += 1
        r.city_last = pack
        r.city_at = time.time()
        recs = ", ".join(f"{rec.get('n')}={rec.get('v', rec.get('vb', rec.get('vs')))}" for rec in pack)
        self.log(f"{r.name}: city {self.prefix}/{deveui}/senml: {recs}")

    def on_deadletter(self, reason: str) -> None:
        self.deadletters += 1
        self.log(f"bridge dead letter: {reason}")


def format_value(q: str, v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "taken" if v else "free"
    if isinstance(v, float):
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return str(v)


def format_values(values: dict[str, Any]) -> str:
    return ", ".join(f"{q} {format_value(q, v)}" for q, v in sorted(values.items()))
