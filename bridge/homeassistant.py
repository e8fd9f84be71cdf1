"""Home Assistant MQTT discovery (docs/references.md §O): one retained config per device quantity.

Topic ``{ha_prefix}/sensor/trosmart_{dev_eui}/{quantity}/config`` (binary_sensor for
booleans); the state is the retained value topic, read with ``value_json``.
"""

from __future__ import annotations

import json
from typing import Any

from .topics import CityTopics

# SenML unit symbols (RFC 8428 / RFC 8798) -> the symbols Home Assistant's sensors expect
HA_UNITS = {"Cel": "°C", "%RH": "%", "%EL": "%", "/100": "%", "ug/m3": "µg/m³", "W/m2": "W/m²",
            "deg": "°", "count": None}


def discovery(ha_prefix: str, topics: CityTopics, dev_eui: str, name: str | None,
              quantity: str, value: dict[str, Any]) -> tuple[str, bytes]:
    boolean = "vb" in value
    component = "binary_sensor" if boolean else "sensor"
    oid = "".join(c if c.isalnum() or c in "_-" else "_" for c in quantity)
    cfg: dict[str, Any] = {
        "name": quantity,
        "unique_id": f"trosmart_{dev_eui}_{oid}",
        "state_topic": topics.value(dev_eui, quantity),
        "device": {"identifiers": [f"trosmart_{dev_eui}"], "name": name or dev_eui,
                   "manufacturer": "TroSmart"},
    }
    if boolean:
        cfg["value_template"] = "{{ 'ON' if value_json.vb else 'OFF' }}"
    elif "v" in value:
        cfg["value_template"] = "{{ value_json.v }}"
        cfg["state_class"] = "measurement"
        unit = HA_UNITS.get(value.get("u", ""), value.get("u"))
        if unit:
            cfg["unit_of_measurement"] = unit
    else:
        cfg["value_template"] = "{{ value_json.vs }}"
    topic = f"{ha_prefix}/{component}/trosmart_{dev_eui}/{oid}/config"
    return topic, json.dumps(cfg, sort_keys=True).encode()
