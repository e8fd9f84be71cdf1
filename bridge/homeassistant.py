"""Home Assistant MQTT discovery (facts.md §O): one retained config per device quantity.

Topic ``{ha_prefix}/sensor/trosmart_{dev_eui}/{quantity}/config`` (binary_sensor for
booleans); the state is the retained value topic, read with ``value_json``.
"""

from __future__ import annotations

import json
from typing import Any

from .topics import CityTopics


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
        if value.get("u"):
            cfg["unit_of_measurement"] = value["u"]
    else:
        cfg["value_template"] = "{{ value_json.vs }}"
    topic = f"{ha_prefix}/{component}/trosmart_{dev_eui}/{oid}/config"
    return topic, json.dumps(cfg, sort_keys=True).encode()
