"""SensorThings entities from the portal's public view (docs/portal.md §SensorThings API).

* Thing = a public node (``@iot.id`` its DevEUI); its Location, its FeatureOfInterest and its
  Sensor share that id. Positions, names and owners are the public view's
  (``portal.registry.public_view``): a private node's position is the centre of its ~100 m
  cell unless the owner opted in, and no owner name or network-server name of a private node
  appears anywhere.
* Datastream = one series (node and quantity), ``@iot.id`` the series id, with its
  ``unitOfMeasurement`` from the SenML unit (docs/references.md §K.4.2).
* ObservedProperty = a quantity, ``@iot.id`` its SenML name.
* Observation = one stored value, ``@iot.id`` ``'{datastream}-{time in ms}'`` (stable: the
  store's primary key).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog, NodeView, rounded
from ..storage import SeriesInfo
from ..timefmt import iso_ms

COLLECTIONS = {"Things": "Thing", "Locations": "Location", "Datastreams": "Datastream", "Sensors": "Sensor",
               "ObservedProperties": "ObservedProperty", "Observations": "Observation",
               "FeaturesOfInterest": "FeatureOfInterest"}
PLURAL = {v: k for k, v in COLLECTIONS.items()}

# navigation property → (target entity type, to-many?)  (docs/references.md §R.F)
NAV: dict[str, dict[str, tuple[str, bool]]] = {
    "Thing": {"Locations": ("Location", True), "Datastreams": ("Datastream", True)},
    "Location": {"Things": ("Thing", True)},
    "Datastream": {"Thing": ("Thing", False), "Sensor": ("Sensor", False),
                   "ObservedProperty": ("ObservedProperty", False), "Observations": ("Observation", True)},
    "Sensor": {"Datastreams": ("Datastream", True)},
    "ObservedProperty": {"Datastreams": ("Datastream", True)},
    "Observation": {"Datastream": ("Datastream", False), "FeatureOfInterest": ("FeatureOfInterest", False)},
    "FeatureOfInterest": {"Observations": ("Observation", True)},
}

OM = "http://www.opengis.net/def/observationType/OGC-OM/2.0/"
OBSERVATION_TYPE = {"n": OM + "OM_Measurement", "b": OM + "OM_TruthObservation", "s": OM + "OM_Observation"}
SENML_UNITS = "https://www.iana.org/assignments/senml/senml.xhtml#senml-units"
UNIT_NAMES = {  # SenML units of the codec registry (payload_codec/registry.py), docs/references.md §K.4.2
    "Cel": "degree Celsius", "%RH": "percent relative humidity", "hPa": "hectopascal",
    "ug/m3": "microgram per cubic metre", "ppm": "parts per million", "dB": "decibel", "lx": "lux",
    "V": "volt", "%EL": "percent of remaining battery energy", "m": "metre", "/100": "percent",
    "m/s": "metre per second", "deg": "degree (angle)", "mm": "millimetre", "count": "count",
    "kWh": "kilowatt hour", "W": "watt", "lat": "degree of latitude", "lon": "degree of longitude",
    "W/m2": "watt per square metre", "m3": "cubic metre",
}


def unit_of_measurement(unit: str) -> dict[str, str | None]:
    if not unit:
        return {"name": None, "symbol": None, "definition": None}  # no unit (an index, a boolean)
    return {"name": UNIT_NAMES.get(unit, unit), "symbol": unit, "definition": SENML_UNITS}


def key_text(key: int | str) -> str:
    """An id as it stands in a URL: ``5`` or ``'70b3d57ed0de0001'`` (quotes doubled)."""
    return str(key) if isinstance(key, int) else "'" + key.replace("'", "''") + "'"


@dataclass(frozen=True)
class ObsScope:
    """Which series an Observations collection covers (always a subset of the public ones)."""

    series: tuple[int, ...]


@dataclass
class Model:
    """One request's snapshot of the public entities."""

    base: str  # absolute URL of the service root without the trailing slash, …/v1.1
    node_page: str  # absolute URL prefix of the portal's node pages
    things: dict[str, NodeView]
    streams: dict[int, tuple[NodeView, SeriesInfo]] = field(default_factory=dict)

    @classmethod
    def load(cls, catalog: Catalog, base: str) -> Model:
        views = catalog.nodes()
        m = cls(base, f"{catalog.cfg.public_url}/en/node/", views)
        for v in views.values():
            for s in v.series:
                m.streams[s.id] = (v, s)
        return m

    # ---- ids ------------------------------------------------------------------------------
    def ids(self, typ: str) -> list[Any]:
        if typ in ("Thing", "Sensor", "FeatureOfInterest"):
            return sorted(self.things)
        if typ == "Location":
            return sorted(d for d, v in self.things.items() if v.node.lat is not None)
        if typ == "Datastream":
            return sorted(self.streams)
        if typ == "ObservedProperty":
            return sorted({s.quantity for _, s in self.streams.values()})
        raise KeyError(typ)

    def exists(self, typ: str, key: Any) -> bool:
        if typ in ("Thing", "Sensor", "FeatureOfInterest"):
            return isinstance(key, str) and key in self.things
        if typ == "Location":
            return isinstance(key, str) and key in self.things and self.things[key].node.lat is not None
        if typ == "Datastream":
            return isinstance(key, int) and key in self.streams
        if typ == "ObservedProperty":
            return isinstance(key, str) and any(s.quantity == key for _, s in self.streams.values())
        raise KeyError(typ)

    def all_series(self) -> ObsScope:
        return ObsScope(tuple(sorted(self.streams)))

    def related(self, typ: str, key: Any, nav: str) -> tuple[str, Any]:
        """('one', id or None) or ('many', list of ids | ObsScope) behind ``nav`` of an entity."""
        _, many = NAV[typ][nav]
        if typ == "Thing" and nav == "Locations":
            return "many", [key] if self.things[key].node.lat is not None else []
        if typ in ("Thing", "Sensor") and nav == "Datastreams":
            return "many", sorted(s.id for s in self.things[key].series)
        if typ == "Location":
            return "many", [key]
        if typ == "Datastream":
            view, s = self.streams[key]
            if nav == "Observations":
                return "many", ObsScope((key,))
            return "one", s.quantity if nav == "ObservedProperty" else view.node.dev_eui
        if typ == "ObservedProperty":
            return "many", sorted(sid for sid, (_, s) in self.streams.items() if s.quantity == key)
        if typ == "FeatureOfInterest":
            return "many", ObsScope(tuple(sorted(s.id for s in self.things[key].series)))
        if typ == "Observation":
            sid = key[0]
            if sid not in self.streams:
                return "one", None
            return "one", sid if nav == "Datastream" else self.streams[sid][1].dev_eui
        raise KeyError((typ, nav, many))

    # ---- documents ------------------------------------------------------------------------
    def link(self, typ: str, key: Any) -> str:
        return f"{self.base}/{PLURAL[typ]}({key_text(key)})"

    def _control(self, typ: str, key: Any, doc_key: Any = None) -> dict[str, Any]:
        self_link = self.link(typ, key)
        out: dict[str, Any] = {"@iot.id": key if doc_key is None else doc_key, "@iot.selfLink": self_link}
        for nav in NAV[typ]:
            out[f"{nav}@iot.navigationLink"] = f"{self_link}/{nav}"
        return out

    def doc(self, typ: str, key: Any) -> dict[str, Any]:
        """The full document of a small entity (not an Observation)."""
        if typ == "Datastream":
            view, s = self.streams[key]
            return {**self._control(typ, key), "name": f"{view.node.name}: {s.quantity}",
                    "description": f"{s.quantity} measured by the TroSmart node {view.node.dev_eui}",
                    "unitOfMeasurement": unit_of_measurement(s.unit), "observationType": OBSERVATION_TYPE[s.kind],
                    "properties": {"quantity": s.quantity, "senml_unit": s.unit or None,
                                   "last_value": rounded(s.last_value()),
                                   "last_time": iso_ms(s.last_t) if s.last_t is not None else None}}
        if typ == "ObservedProperty":
            return {**self._control(typ, key), "name": key, "definition": f"urn:trosmart:quantity:{key}",
                    "description": f"the TroSmart quantity {key} (SenML name)", "properties": {}}
        n = self.things[key].node
        point = None if n.lat is None else {"type": "Point", "coordinates": [n.lon, n.lat]}
        precision = None if n.lat is None else ("exact" if n.position_exact else "grid_100m")
        if typ == "Thing":
            seen = self.things[key].last_seen_ms
            props: dict[str, Any] = {"owner": n.owner, "position_precision": precision,
                                     "last_seen": iso_ms(seen) if seen is not None else None,
                                     "page": self.node_page + n.dev_eui}
            if n.owner == "city" and n.owner_name:
                props["operator"] = n.owner_name
            return {**self._control(typ, key), "name": n.name, "description": n.description or
                    f"TroSmart sensor node {n.dev_eui}", "properties": props}
        where = ("the centre of a ~100 m grid cell around the node (a private node's position is "
                 "rounded)" if precision == "grid_100m" else "the node's position")
        if typ == "Location":
            return {**self._control(typ, key), "name": n.name, "description": where,
                    "encodingType": "application/geo+json", "location": point,
                    "properties": {"precision": precision}}
        if typ == "FeatureOfInterest":
            return {**self._control(typ, key), "name": n.name, "description": f"observed at {where}"
                    if point else "a node without a known position", "encodingType": "application/geo+json",
                    "feature": point, "properties": {"precision": precision}}
        if typ == "Sensor":
            return {**self._control(typ, key), "name": f"TroSmart node {n.dev_eui}",
                    "description": "the sensors of a TroSmart LoRaWAN node; the node page lists its quantities",
                    "encodingType": "text/html", "metadata": self.node_page + n.dev_eui, "properties": {}}
        raise KeyError(typ)

    @staticmethod
    def filter_names(typ: str) -> tuple[str, ...]:
        """The names ``filter_values`` has for every entity of a type (checked even when a
        collection is empty, so a bad name is an error whatever the data)."""
        extra = {"Datastream": ("observationType", "unitOfMeasurement/symbol", "unitOfMeasurement/name",
                                "Thing/@iot.id", "Sensor/@iot.id", "ObservedProperty/@iot.id", "properties/quantity"),
                 "ObservedProperty": ("definition",), "Thing": ("properties/owner",),
                 "Location": ("properties/precision",), "FeatureOfInterest": ("properties/precision",),
                 "Sensor": ("encodingType",)}
        return ("@iot.id", "name", "description", *extra.get(typ, ()))

    def filter_values(self, typ: str, key: Any) -> dict[str, Any]:
        """The properties ``$filter`` and ``$orderby`` may name on a small entity."""
        d = self.doc(typ, key)
        out = {"@iot.id": key, "name": d.get("name"), "description": d.get("description")}
        if typ == "Datastream":
            view, s = self.streams[key]
            out.update({"observationType": d["observationType"],
                        "unitOfMeasurement/symbol": d["unitOfMeasurement"]["symbol"],
                        "unitOfMeasurement/name": d["unitOfMeasurement"]["name"],
                        "Thing/@iot.id": view.node.dev_eui, "Sensor/@iot.id": view.node.dev_eui,
                        "ObservedProperty/@iot.id": s.quantity, "properties/quantity": s.quantity})
        elif typ == "ObservedProperty":
            out["definition"] = d["definition"]
        elif typ == "Thing":
            out["properties/owner"] = d["properties"]["owner"]
        elif typ in ("Location", "FeatureOfInterest"):
            out["properties/precision"] = d["properties"]["precision"]
        elif typ == "Sensor":
            out["encodingType"] = d["encodingType"]
        return out

    def obs_doc(self, row: Iterable[Any]) -> dict[str, Any]:
        sid, t, v, vs, kind = row
        key = f"{sid}-{t}"
        doc = self._control("Observation", key)
        when = iso_ms(int(t))
        doc.update(phenomenonTime=when, resultTime=when)
        if vs == "invalid" or (v is None and vs is None):
            doc["result"] = None
            doc["resultQuality"] = "invalid: the sensor failed"
        elif vs is not None:
            doc["result"] = vs
        elif kind == "b":
            doc["result"] = bool(v)
        else:
            doc["result"] = rounded(v)
        return doc
