"""Per-device metadata for the retained ``meta`` topic (pure).

Packet loss counts gaps in the uplink frame counter: a counter that jumps from n to
n+k lost k-1 frames; a counter that goes backwards means a new session (rejoin or
reset), so counting restarts from it.
"""

from __future__ import annotations

from typing import Any

from .model import Uplink

FCNT_MAX_GAP = 16384  # LoRaWAN 1.0.x MAX_FCNT_GAP: a larger jump is a new session


def update(state: dict[str, Any], up: Uplink) -> dict[str, Any]:
    """A copy of the device state (a JSON-able dict) with one uplink folded in."""
    s = dict(state)
    fold(s, up)
    return s


def fold(s: dict[str, Any], up: Uplink) -> None:
    """Fold one uplink into the device state in place."""
    s["dev_eui"] = up.dev_eui
    s["lns"] = up.lns
    if up.device_name:
        s["name"] = up.device_name
    s["last_seen"] = round(up.received_at, 3)
    best = up.best_reception()
    if best is not None:
        s["gateway"] = best.gateway
        s["rssi"] = best.rssi
        s["snr"] = best.snr
        s["gateways"] = len(up.receptions)
    for key, v in (("dr", up.dr), ("frequency", up.frequency), ("f_port", up.f_port),
                   ("spreading_factor", up.spreading_factor)):
        if v is not None:
            s[key] = v
    frames = int(s.get("frames", 0))
    lost = int(s.get("lost", 0))
    last = s.get("f_cnt")
    if up.f_cnt is not None:
        if isinstance(last, int) and last < up.f_cnt <= last + FCNT_MAX_GAP:
            lost += up.f_cnt - last - 1
        elif isinstance(last, int) and up.f_cnt <= last:
            s["sessions"] = int(s.get("sessions", 1)) + 1
        s["f_cnt"] = up.f_cnt
    frames += 1
    s["frames"] = frames
    s["lost"] = lost
    s["packet_loss"] = round(lost / (frames + lost), 4) if frames + lost else 0.0


def public(state: dict[str, Any]) -> dict[str, Any]:
    """The meta document published on the city topic (internal keys removed)."""
    return {k: v for k, v in state.items() if not k.startswith("_")}
