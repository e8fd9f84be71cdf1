"""Per-device metadata for the retained ``meta`` topic (no I/O).

Packet loss counts gaps in the uplink frame counter: a counter that jumps from n to
n+k lost k-1 frames; a counter that goes backwards means a new session (rejoin or
reset), so counting restarts from it.
"""

from __future__ import annotations

from typing import Any

from .model import Uplink

FCNT_MAX_GAP = 16384  # LoRaWAN 1.0.x MAX_FCNT_GAP: a larger jump is a new session


def fold(s: dict[str, Any], up: Uplink) -> None:
    """Fold one uplink into a device's meta document (``DeviceState.meta``), in place."""
    s["dev_eui"] = up.dev_eui
    s["lns"] = up.lns
    if up.device_name:
        s["name"] = up.device_name
    s["last_seen"] = round(up.received_at, 3)
    s["time_source"] = up.time_source
    rx = up.receptions
    best = rx[0] if len(rx) == 1 else up.best_reception()
    if best is not None:
        s["gateway"] = best.gateway
        s["rssi"] = best.rssi
        s["snr"] = best.snr
        s["gateways"] = len(rx)
    if up.dr is not None:
        s["dr"] = up.dr
    if up.frequency is not None:
        s["frequency"] = up.frequency
    if up.f_port is not None:
        s["f_port"] = up.f_port
    if up.spreading_factor is not None:
        s["spreading_factor"] = up.spreading_factor
    tags = up.tags
    if tags is not None:
        if tags:
            s["tags"] = tags
        elif "tags" in s:
            del s["tags"]
    if up.location is not None:
        set_location(s, up.location, up.lns)
    frames = int(s.get("frames", 0)) + 1
    lost = int(s.get("lost", 0))
    last = s.get("f_cnt")
    f_cnt = up.f_cnt
    if f_cnt is not None:
        if last.__class__ is int:
            if last < f_cnt <= last + FCNT_MAX_GAP:
                lost += f_cnt - last - 1
            elif f_cnt <= last:
                s["sessions"] = int(s.get("sessions", 1)) + 1
        s["f_cnt"] = f_cnt
    s["frames"] = frames
    s["lost"] = lost
    s["packet_loss"] = round(lost / (frames + lost), 4) if lost else 0.0


def set_location(s: dict[str, Any], loc: dict[str, Any], lns: str) -> None:
    """A position from the network server (lns_meta.py); ``{}`` (it says it knows none) removes
    one it gave before, never one from another network server."""
    if loc:
        s["location"] = loc
    else:
        old = s.get("location")
        if isinstance(old, dict) and str(old.get("source", "")).startswith(f"{lns}:"):
            del s["location"]


def join(s: dict[str, Any], at: float) -> None:
    """A join (OTAA join-accept) starts a new session. A device with a frame counter had a
    session before, so ``sessions`` + 1 and the old counter is forgotten: the new session's
    first counter is then neither loss nor a second session. The same join delivered twice
    (a redelivery) changes nothing."""
    at = round(at, 3)
    if s.get("joined_at") == at:
        return
    if "f_cnt" in s:
        s["sessions"] = int(s.get("sessions", 1)) + 1
        del s["f_cnt"]
    s["joined_at"] = at


def public(state: dict[str, Any]) -> dict[str, Any]:
    """The meta document published on the city topic (internal keys removed)."""
    return {k: v for k, v in state.items() if not k.startswith("_")}
