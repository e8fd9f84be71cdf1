"""Which nodes are public, under which name, where, and whose (docs/portal.md §Nodes).

Sources, first wins: the ``[[node]]`` tables of portal.toml, then what the network server
passed on in the node's ``meta`` (docs/bridge.md §3): its ``location`` and four tags,
``portal_public``, ``portal_name``, ``portal_owner`` and ``portal_exact_position`` (TTS
attributes ``portal-public`` … arrive with ``_``). No other tag is ever shown: tags are free
text in the network server and may name a person (``owner``, ``email``, ``address``).
A private maker's node shows its position snapped to the centre of a ~100 m grid cell unless
its owner opted in (``exact_position = true``); the owner's name of a private node is never
shown, nor is the network server's device name (it may name a person).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

DEVEUI_RE = re.compile(r"[0-9a-f]{16}\Z")
GRID_M = 100.0
M_PER_DEG_LAT = 111_320.0  # mean metres per degree of latitude (spherical Earth)
OWNERS = ("city", "private")


@dataclass(frozen=True)
class NodeEntry:
    dev_eui: str
    public: bool | None = None
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    owner: str | None = None  # "city" or "private"
    owner_name: str | None = None  # shown for city nodes only
    exact_position: bool | None = None
    description: str | None = None


@dataclass(frozen=True)
class PublicNode:
    """What public pages and downloads may show about a node."""

    dev_eui: str
    name: str
    lat: float | None
    lon: float | None
    position_exact: bool
    owner: str  # "city" or "private"
    owner_name: str  # "" for private nodes
    description: str


_NODE_KEYS: dict[str, Any] = {"dev_eui": str, "public": bool, "name": str, "lat": (int, float), "lon": (int, float),
              "owner": str, "owner_name": str, "exact_position": bool, "description": str}


def parse_node(t: Any, where: str) -> NodeEntry:
    if not isinstance(t, dict):
        raise ConfigError(f"[{where}] must be a table")
    for k, v in t.items():
        want = _NODE_KEYS.get(k)
        if want is None:
            raise ConfigError(f"[{where}] has unknown key {k!r} (allowed: {', '.join(sorted(_NODE_KEYS))})")
        if (isinstance(v, bool) and want is not bool) or not isinstance(v, want):
            raise ConfigError(f"[{where}] {k} has the wrong type ({type(v).__name__})")
    dev = str(t.get("dev_eui", "")).lower()
    if not DEVEUI_RE.match(dev):
        raise ConfigError(f"[{where}] dev_eui must be 16 hex digits, got {t.get('dev_eui')!r}")
    lat, lon = t.get("lat"), t.get("lon")
    if (lat is None) != (lon is None):
        raise ConfigError(f"[{where}] lat and lon go together")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"[{where}] lat/lon {lat}, {lon} is not a position")
    owner = t.get("owner")
    if owner is not None and owner not in OWNERS:
        raise ConfigError(f"[{where}] owner must be one of {OWNERS}, got {owner!r}")
    for k in ("name", "owner_name", "description"):
        if len(t.get(k, "")) > 200:
            raise ConfigError(f"[{where}] {k} is longer than 200 characters")
    return NodeEntry(dev, t.get("public"), t.get("name"), None if lat is None else float(lat),
                     None if lon is None else float(lon), owner, t.get("owner_name"), t.get("exact_position"),
                     t.get("description"))


def coarsen(lat: float, lon: float, grid_m: float = GRID_M) -> tuple[float, float]:
    """The centre of the grid cell (``grid_m`` on a side) that holds the position."""
    dlat = grid_m / M_PER_DEG_LAT
    clat = (math.floor(lat / dlat) + 0.5) * dlat
    dlon = grid_m / (M_PER_DEG_LAT * max(math.cos(math.radians(clat)), 0.01))
    clon = (math.floor(lon / dlon) + 0.5) * dlon
    return round(clat, 6), round(clon, 6)


def _tag_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "yes", "1", "false", "no", "0"):
        return v.lower() in ("true", "yes", "1")
    return None


def _printable(v: Any) -> str | None:
    """A display text from ``meta`` (the bridge cleans tags, docs/bridge.md §3, but anyone who
    may publish on the city topics could write ``meta``): printable characters only, 200 at most."""
    if not isinstance(v, str):
        return None
    text = "".join(c if c.isprintable() else " " for c in v[:800]).strip()[:200]
    return text or None


def _meta_location(meta: dict[str, Any]) -> tuple[float, float] | None:
    loc = meta.get("location")
    if not isinstance(loc, dict):
        return None
    lat, lon = loc.get("latitude", loc.get("lat")), loc.get("longitude", loc.get("lon"))
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (lat, lon)):
        return None
    flat, flon = float(lat), float(lon)  # type: ignore[arg-type]  # checked just above
    return (flat, flon) if -90 <= flat <= 90 and -180 <= flon <= 180 else None


def public_view(dev_eui: str, entry: NodeEntry | None, meta: dict[str, Any], *,
                unlisted_public: bool = False) -> PublicNode | None:
    """The node as the public sees it, or None if it is not public."""
    tags = meta.get("tags") if isinstance(meta.get("tags"), dict) else {}
    assert isinstance(tags, dict)
    e = entry or NodeEntry(dev_eui)
    public = e.public if e.public is not None else _tag_bool(tags.get("portal_public"))
    if not (public if public is not None else unlisted_public):
        return None
    owner = e.owner or (tags.get("portal_owner") if tags.get("portal_owner") in OWNERS else None) or "private"
    exact = e.exact_position if e.exact_position is not None else bool(_tag_bool(tags.get("portal_exact_position")))
    pos = (e.lat, e.lon) if e.lat is not None and e.lon is not None else _meta_location(meta)
    tag_name = _printable(tags.get("portal_name"))
    name = e.name or tag_name or (_printable(meta.get("name")) if owner == "city" else None) \
        or f"TroSmart {dev_eui[-4:]}"
    lat = lon = None
    if pos is not None:
        lat, lon = pos if (exact or owner == "city") else coarsen(*pos)
    return PublicNode(dev_eui, str(name)[:200], lat, lon, bool(exact or owner == "city") and pos is not None,
                      owner, (e.owner_name or "") if owner == "city" else "", e.description or "")
