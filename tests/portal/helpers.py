"""Test data: a portal configuration with three public nodes (a city node, a private node, a
private node whose owner opted in to its exact position) and one hidden node, and SenML packs
as the bridge publishes them."""

from __future__ import annotations

from typing import Any

import orjson

from portal import config
from portal.senml import parse_pack
from portal.storage import Pack

CITY = "70b3d57ed0de0001"
MAKER = "70b3d57ed0de0002"
OPTED = "70b3d57ed0de0003"
HIDDEN = "70b3d57ed0de0009"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def doc(**portal: Any) -> dict[str, Any]:
    return {
        "portal": {"prefix": "trosmart/v1", "port": 0, **portal},
        "mqtt": {"port": 1883},
        "node": [
            {"dev_eui": CITY, "public": True, "name": "Rathaus", "lat": 50.8157, "lon": 7.1558, "owner": "city",
             "owner_name": "Stadtwerke Troisdorf"},
            {"dev_eui": MAKER, "public": True, "name": "Garten; \"Süd\"", "lat": 50.81234, "lon": 7.14567,
             "owner": "private", "owner_name": "Erika Mustermann"},
            {"dev_eui": OPTED, "public": True, "name": "Parkplatz", "lat": 50.8201, "lon": 7.1602,
             "exact_position": True},
            {"dev_eui": HIDDEN, "public": False, "name": "Versuch"},
        ],
    }


def cfg(**portal: Any) -> config.Config:
    return config.parse(doc(**portal))


def senml(dev: str, t_ms: int, **values: Any) -> bytes:
    units = {"temperature": "Cel", "humidity": "%RH", "pressure": "hPa", "occupancy": None, "battery_voltage": "V"}
    recs: list[dict[str, Any]] = []
    for i, (k, v) in enumerate(values.items()):
        r: dict[str, Any] = {"n": k}
        if i == 0:
            r = {"bn": f"urn:dev:mac:{dev}:", "bt": t_ms / 1000, **r}
        if units.get(k):
            r["u"] = units[k]
        r["vb" if isinstance(v, bool) else ("vs" if isinstance(v, str) else "v")] = v
        recs.append(r)
    return orjson.dumps(recs)


def pack(dev: str, t_ms: int, **values: Any) -> Pack:
    return Pack(dev, parse_pack(senml(dev, t_ms, **values), dev))
