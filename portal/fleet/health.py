"""What the fleet page says about a node, and which nodes it puts at the top (pure; docs/portal.md
§Fleet view).

* **Silent**: nothing heard for more than ``silent_intervals`` (3) uplink periods. The period
  is the node's ``interval_s`` (from its status frames, via ``meta``) times its samples per
  measurement frame (a batching node sends less often), or ``default_interval_s`` (600 s,
  the firmware's default) until a status frame came. The bridge's Home Assistant entities
  turn *unavailable* after the same three periods (docs/bridge.md §3a).
* **Battery falls fast**: the least-squares slope of the hourly mean battery voltage over the
  last ``battery_window_h`` (72 h) is below −``battery_fall_v_per_day`` (0.05 V/day). The fit
  needs at least 3 hourly means spanning at least 12 h. A Li-ion or LiFePO₄ cell run for months
  loses a few mV a day; 0.05 V/day empties its usable ~1 V within three weeks, which means a
  fault (a stuck heater, a radio retrying, a cell failing in the cold) and a visit.
* **Packet loss**: the bridge's count of frame-counter gaps (``lost / (frames + lost)``), over
  the node's life and over the last 24 hours: the growth of ``lost`` and ``frames`` between the
  first and the newest ``meta`` of the window (the bridge's counters only grow; when they went
  back, a bridge whose state was reset, the 24-hour figure is left empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .settings import FleetConfig

DAY_MS = 86_400_000
MIN_POINTS = 3
MIN_SPAN_MS = 12 * 3_600_000


@dataclass
class NodeHealth:
    dev_eui: str
    name: str
    public: bool
    last_seen_ms: int | None
    period_s: int
    silent: bool
    battery_v: float | None
    battery_slope: float | None  # V per day, None without enough readings
    battery_fast: bool
    rssi: float | None
    snr: float | None
    gateway: str | None
    frames: int | None
    lost: int | None
    packet_loss: float | None
    loss_24h: float | None
    firmware: str | None
    interval_s: int | None
    status_t: int | None
    config_errors: list[str] = field(default_factory=list)
    failed_sensors: list[str] = field(default_factory=list)
    sensor_errors: dict[str, int] = field(default_factory=dict)
    invalid_quantities: list[str] = field(default_factory=list)
    silent_intervals: int = 3  # the rule's count of periods (FleetConfig.silent_intervals)

    @property
    def highlighted(self) -> bool:
        return self.silent or self.battery_fast

    def doc(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items()}
        d["highlighted"] = self.highlighted
        return d


def slope_per_day(points: Sequence[tuple[int, float]]) -> float | None:
    """Least-squares slope in V/day of (time ms, volts), or None when too few or too short."""
    if len(points) < MIN_POINTS or points[-1][0] - points[0][0] < MIN_SPAN_MS:
        return None
    n = len(points)
    t0 = points[0][0]
    xs = [(t - t0) / DAY_MS for t, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def recent_loss(rows: Sequence[dict[str, Any]]) -> float | None:
    """Share of frames lost between consecutive meta rows (oldest first) of one node."""
    got = lost = 0
    prev: dict[str, Any] | None = None
    for r in rows:
        f, lo = r.get("frames"), r.get("lost")
        if not isinstance(f, int) or not isinstance(lo, int):
            continue
        if prev is not None and f >= prev["frames"] and lo >= prev["lost"]:
            got += f - prev["frames"]
            lost += lo - prev["lost"]
        prev = {"frames": f, "lost": lo}
    return round(lost / (got + lost), 4) if got + lost else None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def assess(cfg: FleetConfig, *, dev_eui: str, name: str, public: bool, last_seen_ms: int | None,
           meta: dict[str, Any], status: dict[str, Any] | None, status_t: int | None, samples: int | None,
           battery: Sequence[tuple[int, float]], meta_rows: Sequence[dict[str, Any]],
           invalid: Sequence[str], now_ms: int) -> NodeHealth:
    st = status or {}
    interval = _int(meta.get("interval_s")) or _int(st.get("interval_s"))
    period = (interval or cfg.default_interval_s) * (samples if samples and samples > 0 else 1)
    silent = last_seen_ms is None or now_ms - last_seen_ms > cfg.silent_intervals * period * 1000
    slope = slope_per_day(battery)
    return NodeHealth(
        dev_eui=dev_eui, name=name, public=public, last_seen_ms=last_seen_ms, period_s=period, silent=silent,
        battery_v=battery[-1][1] if battery else _num(st.get("battery_voltage")),
        battery_slope=None if slope is None else round(slope, 4),
        battery_fast=slope is not None and slope < -cfg.battery_fall_v_per_day,
        rssi=_num(meta.get("rssi")), snr=_num(meta.get("snr")),
        gateway=meta.get("gateway") if isinstance(meta.get("gateway"), str) else None,
        frames=_int(meta.get("frames")), lost=_int(meta.get("lost")), packet_loss=_num(meta.get("packet_loss")),
        loss_24h=recent_loss(meta_rows),
        firmware=str(meta.get("firmware") or st.get("firmware") or "") or None, interval_s=interval,
        status_t=status_t, config_errors=list(st.get("config_errors", [])),
        failed_sensors=list(st.get("failed_sensors", [])), sensor_errors=dict(st.get("sensor_errors", {})),
        invalid_quantities=sorted(invalid), silent_intervals=cfg.silent_intervals)


def ordered(nodes: Sequence[NodeHealth]) -> list[NodeHealth]:
    """Highlighted nodes first (silent ones, then falling batteries), then by name."""
    return sorted(nodes, key=lambda n: (not n.silent, not n.battery_fast, n.name.lower(), n.dev_eui))
