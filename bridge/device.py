"""One device's state in the worker: what its ``meta`` topic shows, and what the bridge keeps
for itself (where its downlinks go, its announced layouts, its latest values, the Home
Assistant configs sent, the retained topics waiting). Stored as one JSON object per device
(the ``devices`` table), in the same form as before this was a type: the public keys, plus
``_route``, ``_layouts``, ``_latest``, ``_ha``, ``_model``, ``_samples``, ``_retained`` and
``_seen``, so that a state database
written by either version is read by the other.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, frozen=True)
class Route:
    """Where a device's downlinks go: the source (connection) of its last uplink, that
    source's network server, and the downlink topic on its broker."""

    source: str
    lns: str
    down_topic: str | None


@dataclass(slots=True)
class DeviceState:
    meta: dict[str, Any] = field(default_factory=dict)  # the published meta document (meta.py)
    route: Route | None = None
    layouts: dict[str, Any] = field(default_factory=dict)  # layout id -> announced layout
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # quantity -> latest value
    # Home Assistant: what was announced ({"q": quantity -> [mode, object id, kind, unit],
    # "sig": the device signature}, homeassistant.Discovery); {} before the first config
    ha: dict[str, Any] = field(default_factory=dict)
    model: str | None = None  # the profile or layout the node sends (HA's device model)
    samples: int | None = None  # samples per measurement frame (HA's expire_after)
    retained: list[str] | None = None  # quantities whose topics wait (with meta); None: nothing
    seen: bytearray = field(default_factory=bytearray)  # (second, digest) of recent samples (samples.py)

    def to_json(self) -> dict[str, Any]:
        doc = dict(self.meta)
        if self.route is not None:
            doc["_route"] = {"source": self.route.source, "lns": self.route.lns,
                             "down_topic": self.route.down_topic}
        if self.layouts:
            doc["_layouts"] = self.layouts
        if self.latest:
            doc["_latest"] = self.latest
        if self.ha:
            doc["_ha"] = self.ha
        if self.model is not None:
            doc["_model"], doc["_samples"] = self.model, self.samples
        if self.retained is not None:
            doc["_retained"] = self.retained
        if self.seen:
            doc["_seen"] = base64.b64encode(self.seen).decode()
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DeviceState:
        route = doc.get("_route")
        return cls(
            meta={k: v for k, v in doc.items() if not k.startswith("_")},
            route=Route(str(route["source"]), str(route.get("lns", "chirpstack")), route.get("down_topic"))
            if isinstance(route, dict) and "source" in route else None,
            layouts=dict(doc.get("_layouts") or {}),
            latest=dict(doc.get("_latest") or {}),
            ha=dict(doc["_ha"]) if isinstance(doc.get("_ha"), dict) else {},  # a list: an older bridge's
            model=doc["_model"] if isinstance(doc.get("_model"), str) else None,
            samples=doc["_samples"] if isinstance(doc.get("_samples"), int) else None,
            retained=list(doc["_retained"]) if isinstance(doc.get("_retained"), list) else None,
            seen=_seen(doc.get("_seen")),
        )


def _seen(v: Any) -> bytearray:
    """The remembered samples of a saved state; anything unreadable is forgotten (the cost:
    a repeat may be published once more)."""
    if not isinstance(v, str):
        return bytearray()
    try:
        b = bytearray(base64.b64decode(v, validate=True))
    except (binascii.Error, ValueError):
        return bytearray()
    return b if len(b) % 8 == 0 else bytearray()
