"""Home Assistant MQTT discovery (docs/bridge.md §3a; HA's rules: docs/references.md §T).

One retained config per device quantity, ``{ha_prefix}/{sensor|binary_sensor}/trosmart_{dev_eui}/
{object_id}/config``, reading the retained value topic with ``value_json``; and four diagnostic
entities per device read from its ``meta`` topic (RSSI, SNR, last seen, firmware).

What an entity is comes from the codec registry (its kind) and ``SENSORS`` below (its HA device
class, unit and state class), never from a first value: an invalid first reading does not make
a number a text sensor. Only Cayenne LPP quantities the table does not know and pass-through
quantities (the LNS object has no schema) take their kind from their first value. Every
template renders ``None`` for a value that is not of the entity's kind (a failed sensor's
``{"vs":"invalid"}``), which HA shows as *unknown*; the next valid value shows again.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from typing import Any, NamedTuple

from payload_codec import registry

from .device import DeviceState
from .topics import CityTopics

DEFAULT_INTERVAL_S = 600  # the firmware's default interval_s (firmware/lib/node_config.py)
EXPIRE_INTERVALS = 3  # a node silent for three uplink periods becomes unavailable
MANUFACTURER = "TroSmart"
_OID_BAD = re.compile(r"[^A-Za-z0-9_-]")  # HA's discovery topic allows [a-zA-Z0-9_-] per level


class Sensor(NamedTuple):
    """How HA shows a quantity: device class, HA's unit string, state class, diagnostic."""

    device_class: str | None
    unit: str | None
    state_class: str | None = "measurement"
    diagnostic: bool = False


M, TI = "measurement", "total_increasing"
# Registry quantity -> HA sensor. Units are the ones HA accepts for the device class
# (components/sensor/const.py DEVICE_CLASS_UNITS, docs/references.md §T); the values are in
# the registry's unit, which is that unit (°C for Cel, % for %RH and /100, µg/m³ for ug/m3).
# Energy and the volume indices are meter registers: total_increasing (what HA's Energy
# dashboard reads).
SENSORS: dict[str, Sensor] = {
    "temperature": Sensor("temperature", "°C"),
    "humidity": Sensor("humidity", "%"),
    "pressure": Sensor("atmospheric_pressure", "hPa"),
    "pm1": Sensor("pm1", "µg/m³"),
    "pm2_5": Sensor("pm25", "µg/m³"),
    "pm4": Sensor(None, "µg/m³"),  # HA 2024.3 has no pm4 device class
    "pm10": Sensor("pm10", "µg/m³"),
    "co2": Sensor("carbon_dioxide", "ppm"),
    "voc_index": Sensor(None, None),  # an index: not volatile_organic_compounds (µg/m³)
    "nox_index": Sensor(None, None),
    "no2": Sensor("nitrogen_dioxide", "µg/m³"),
    "o3": Sensor("ozone", "µg/m³"),
    "noise_laeq": Sensor("sound_pressure", "dBA"),  # LAeq is A-weighted by definition
    "illuminance": Sensor("illuminance", "lx"),
    "uv_index": Sensor(None, None),
    "battery_voltage": Sensor("voltage", "V", diagnostic=True),
    "battery_level": Sensor("battery", "%", diagnostic=True),
    "water_level": Sensor("distance", "m"),
    "water_temperature": Sensor("temperature", "°C"),
    "soil_moisture": Sensor("moisture", "%"),
    "soil_temperature": Sensor("temperature", "°C"),
    "distance": Sensor("distance", "m"),
    "wind_speed": Sensor("wind_speed", "m/s"),
    "wind_direction": Sensor(None, "°"),  # no wind_direction device class in HA 2024.3
    "precipitation": Sensor("precipitation", "mm"),  # per interval, not a running total
    "counter": Sensor(None, None),  # events since the previous sample
    "occupancy": Sensor("occupancy", None, None),
    "door_open": Sensor("door", None, None),
    "energy": Sensor("energy", "kWh", TI),
    "power": Sensor("power", "W"),
    "latitude": Sensor(None, "°", None),  # a position has no statistics
    "longitude": Sensor(None, "°", None),
    "altitude": Sensor("distance", "m"),
    "noise_lamax": Sensor("sound_pressure", "dBA"),
    "solar_radiation": Sensor("irradiance", "W/m²"),
    "wind_gust": Sensor("wind_speed", "m/s"),
    # meter registers (the meter's own index) grow: total_increasing, as HA's Energy dashboard reads
    "volume_index": Sensor("water", "m³", TI),  # m3 in SenML; a water meter (§T: water takes m³)
    "pulse_count": Sensor(None, None, TI),
    "gas_index": Sensor("gas", "m³", TI),
}

# SenML unit of a quantity outside the registry (Cayenne LPP, pass-through) -> HA sensor
UNIT_SENSORS: dict[str, Sensor] = {
    "Cel": SENSORS["temperature"], "%RH": SENSORS["humidity"], "hPa": SENSORS["pressure"],
    "lx": SENSORS["illuminance"], "V": Sensor("voltage", "V"), "A": Sensor("current", "A"),
    "W": SENSORS["power"], "kWh": SENSORS["energy"], "Hz": Sensor("frequency", "Hz"),
    "m": SENSORS["distance"], "/100": Sensor(None, "%"), "ug/m3": Sensor(None, "µg/m³"),
    "deg": Sensor(None, "°"), "W/m2": SENSORS["solar_radiation"], "m/s": SENSORS["wind_speed"],
    "lat": SENSORS["latitude"], "lon": SENSORS["longitude"], "count": Sensor(None, None),
}

NUMBER_TEMPLATE = "{{ value_json.v if value_json.v is number else 'None' }}"
BOOL_TEMPLATE = ("{{ ('ON' if value_json.vb else 'OFF') if value_json.vb is defined "
                 "else 'None' }}")
TEXT_TEMPLATE = "{{ value_json.vs if value_json.vs is string else 'None' }}"


def _meta_number(key: str) -> str:
    return f"{{{{ value_json.{key} if value_json.{key} is number else 'None' }}}}"


# Diagnostic entities from the meta topic: (object id, name, config keys)
META_ENTITIES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("rssi", "RSSI", {"device_class": "signal_strength", "unit_of_measurement": "dBm",
                      "state_class": M, "value_template": _meta_number("rssi")}),
    ("snr", "SNR", {"device_class": "signal_strength", "unit_of_measurement": "dB",
                    "state_class": M, "value_template": _meta_number("snr")}),
    ("last_seen", "Last seen", {
        "device_class": "timestamp",
        "value_template": "{{ value_json.last_seen | timestamp_custom('%Y-%m-%dT%H:%M:%S+00:00', "
                          "false) if value_json.last_seen is number else 'None' }}"}),
    ("firmware", "Firmware", {"value_template": "{{ value_json.firmware if value_json.firmware "
                                                "is string else 'None' }}"}),
)
EXPIRING_META = ("rssi", "snr")  # the link figures go stale with the node; last seen does not


def _precision(row: tuple[Any, ...]) -> int:
    """Decimals of a registry quantity's resolution (mul/div): 1/10 -> 1, 1/2 -> 1, 1/1000 -> 3."""
    mul, div = row[5], row[6]
    d = 0
    while (mul * 10**d) % div and d < 9:
        d += 1
    return d


def _version() -> str:
    try:
        return metadata.version("trosmart")
    except metadata.PackageNotFoundError:
        return "unknown"


ORIGIN = {"name": "TroSmart bridge", "sw_version": _version()}


class Spec(NamedTuple):
    """An announced entity: kind (n number, b boolean, s text), its sensor, precision."""

    kind: str
    sensor: Sensor
    precision: int | None


_ROWS = {row[1]: row for row in registry.QUANTITIES}
_META_OIDS = {m[0] for m in META_ENTITIES}
_KIND_VALUE: dict[str, dict[str, Any]] = {"n": {"v": 0}, "b": {"vb": False}, "s": {"vs": ""}}


def spec(quantity: str, mode: str, value: dict[str, Any]) -> Spec:
    """What an entity is: registry and ``SENSORS`` for TroSmart quantities (and LPP ones whose
    name and unit are a registry quantity's), else the kind of ``value`` and its unit."""
    base = quantity.split("/", 1)[0] if mode == "lpp" else quantity
    row = _ROWS.get(base) if mode != "passthrough" else None
    if row is not None and (mode == "trosmart" or value.get("u") == row[2]):
        kind = "b" if row[7] == registry.BOOL else "n"
        return Spec(kind, SENSORS[base], None if kind == "b" else _precision(row))
    if "vb" in value:
        return Spec("b", Sensor(None, None, None), None)
    if "v" in value:
        unit = value.get("u")
        known = UNIT_SENSORS.get(unit) if isinstance(unit, str) else None
        return Spec("n", known or Sensor(None, unit if isinstance(unit, str) else None), None)
    return Spec("s", Sensor(None, None, None), None)


def expire_after(st: DeviceState) -> int:
    """Seconds without a value after which HA shows the node's entities as unavailable:
    three uplink periods (``interval_s`` from its status frames times the samples per frame;
    the firmware default when no status frame came yet)."""
    interval = st.meta.get("interval_s")
    if not isinstance(interval, int) or interval <= 0:
        interval = DEFAULT_INTERVAL_S
    samples = st.samples
    return EXPIRE_INTERVALS * interval * (samples if isinstance(samples, int) and samples > 0 else 1)


class Discovery:
    """Discovery configs of a device from its saved state (``st.ha`` remembers what was
    announced: quantity -> [decode mode, object id, kind, unit] and the device's
    signature, so a firmware, model, name or interval change re-publishes every config)."""

    def __init__(self, prefix: str, topics: CityTopics) -> None:
        self.prefix = prefix
        self.topics = topics
        self.status_topic = f"{prefix}/status"  # HA's birth and last-will topic

    def update(self, dev_eui: str, st: DeviceState, latest: dict[str, dict[str, Any]],
               mode: str) -> list[tuple[str, bytes]]:
        """Configs to publish after an uplink: new quantities, or all on a changed device."""
        ha = st.ha
        if not isinstance(ha, dict) or "q" not in ha:  # never announced (or by an older bridge)
            ha = {"q": {}, "sig": None}
        quantities: dict[str, list[Any]] = ha["q"]
        device = self._device(dev_eui, st)
        sig = [device, expire_after(st)]
        fresh = []
        used = {v[1] for v in quantities.values()}
        for q, val in latest.items():
            if q not in quantities:
                # object ids are unique per device: a collision gets _2, _3 (in announce order)
                oid = base = _OID_BAD.sub("_", q) or "_"
                n = 2
                while oid in used or oid in _META_OIDS:
                    oid, n = f"{base}_{n}", n + 1
                used.add(oid)
                unit = val.get("u")
                quantities[q] = [mode, oid, spec(q, mode, val).kind,
                                 unit if isinstance(unit, str) else None]
                fresh.append(q)
        changed = ha["sig"] != sig
        st.ha = {"q": quantities, "sig": sig}
        if changed:
            return self.configs(dev_eui, st)
        return [self._quantity(dev_eui, st, q, device) for q in fresh]

    def configs(self, dev_eui: str, st: DeviceState) -> list[tuple[str, bytes]]:
        """Every config of a device announced before (HA's birth message asks for them)."""
        ha = st.ha
        if not isinstance(ha, dict) or "q" not in ha:
            return []
        device = self._device(dev_eui, st)
        out = [self._meta_entity(dev_eui, st, m, device) for m in META_ENTITIES]
        out += [self._quantity(dev_eui, st, q, device) for q in ha["q"]]
        return out

    def _device(self, dev_eui: str, st: DeviceState) -> dict[str, Any]:
        dev: dict[str, Any] = {"identifiers": [f"trosmart_{dev_eui}"],
                               "name": st.meta.get("name") or dev_eui, "manufacturer": MANUFACTURER,
                               "model": st.model or "LoRaWAN node"}
        fw = st.meta.get("firmware")
        if isinstance(fw, str):
            dev["sw_version"] = fw
        return dev

    def _base(self, dev_eui: str, oid: str, name: str, state_topic: str,
              device: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "unique_id": f"trosmart_{dev_eui}_{oid}", "state_topic": state_topic,
                "device": device, "origin": ORIGIN}

    def _meta_entity(self, dev_eui: str, st: DeviceState, m: tuple[str, str, dict[str, Any]],
                     device: dict[str, Any]) -> tuple[str, bytes]:
        oid, name, keys = m
        cfg = self._base(dev_eui, oid, name, self.topics.meta(dev_eui), device)
        cfg.update(keys, entity_category="diagnostic")
        if oid in EXPIRING_META:
            cfg["expire_after"] = expire_after(st)
        return self._topic("sensor", dev_eui, oid), _dumps(cfg)

    def _quantity(self, dev_eui: str, st: DeviceState, q: str,
                  device: dict[str, Any]) -> tuple[str, bytes]:
        mode, oid, kind, unit = st.ha["q"][q]
        s = spec(q, mode, {**_KIND_VALUE[kind], "u": unit} if unit else _KIND_VALUE[kind])
        cfg = self._base(dev_eui, oid, q, self.topics.value(dev_eui, q), device)
        cfg["expire_after"] = expire_after(st)
        sensor = s.sensor
        if sensor.diagnostic:
            cfg["entity_category"] = "diagnostic"
        if sensor.device_class:
            cfg["device_class"] = sensor.device_class
        if s.kind == "b":
            cfg.update(value_template=BOOL_TEMPLATE, payload_on="ON", payload_off="OFF")
            return self._topic("binary_sensor", dev_eui, oid), _dumps(cfg)
        if s.kind == "s":
            cfg["value_template"] = TEXT_TEMPLATE
            return self._topic("sensor", dev_eui, oid), _dumps(cfg)
        cfg["value_template"] = NUMBER_TEMPLATE
        if sensor.unit:
            cfg["unit_of_measurement"] = sensor.unit
        if sensor.state_class:
            cfg["state_class"] = sensor.state_class
        if s.precision is not None:
            cfg["suggested_display_precision"] = s.precision
        return self._topic("sensor", dev_eui, oid), _dumps(cfg)

    def _topic(self, component: str, dev_eui: str, oid: str) -> str:
        return f"{self.prefix}/{component}/trosmart_{dev_eui}/{oid}/config"


def _dumps(cfg: dict[str, Any]) -> bytes:
    return json.dumps(cfg, sort_keys=True, ensure_ascii=False).encode()
