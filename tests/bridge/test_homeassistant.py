"""Home Assistant discovery configs as the pipeline publishes them (no HA here; the real one
is in tests/homeassistant)."""

from __future__ import annotations

import json
from typing import Any

import payload_codec
from bridge import config, homeassistant
from bridge.metrics import PipelineMetrics
from bridge.model import InMessage
from bridge.pipeline import Batch, Processor
from payload_codec import registry

from . import lns

EUI = "70b3d57ed0001234"


def _processor(**decode: Any) -> Processor:
    cfg = config.parse({"bridge": {"state_dir": "/nonexistent", "retained_delay_s": 0,
                                   "home_assistant": True},
                        "decode": decode,
                        "city": {"port": 1883},
                        "source": [{"name": "cs", "port": 1883,
                                    "topics": ["application/+/device/+/event/+"]}]})
    return Processor(cfg, PipelineMetrics(), {}, lambda keys: set(), lambda cid: None,
                     {"cs": "chirpstack"})


def _send(p: Processor, b: Batch, frame: bytes, f_cnt: int, f_port: int = 1,
          obj: dict[str, Any] | None = None) -> None:
    doc = lns.cs_up(EUI, f_cnt, frame, f_port=f_port, t=1767225600 + f_cnt, obj=obj)
    p.handle_batch([InMessage("cs", lns.cs_topic(EUI), lns.dumps(doc), 1, f_cnt, 1)], b)
    p.devices.update(b.devices)  # what the worker does after its commit


def _configs(b: Batch) -> dict[str, dict[str, Any]]:
    """object id -> config, of the configs in the batch."""
    return {t.split("/")[-2]: json.loads(p) for t, p in b.retained.items() if t.endswith("/config")}


def test_every_registry_quantity_has_a_sensor() -> None:
    for row in registry.QUANTITIES:
        s = homeassistant.SENSORS[row[1]]
        if row[7] == registry.BOOL:
            assert s.device_class in ("door", "occupancy") and s.unit is None
        if s.device_class == "energy":
            assert s.state_class == "total_increasing"
    assert set(homeassistant.SENSORS) == {row[1] for row in registry.QUANTITIES}


def test_an_invalid_first_value_still_makes_a_number_and_a_door() -> None:
    p, b = _processor(), Batch()
    _send(p, b, payload_codec.encode({"water_temperature": None, "battery_voltage": None,
                                      "door_open": None}), 1)
    cfgs = _configs(b)
    wt = cfgs["water_temperature"]
    assert (wt["device_class"], wt["unit_of_measurement"], wt["state_class"]) == (
        "temperature", "°C", "measurement")
    assert wt["suggested_display_precision"] == 2 and wt["value_template"] == homeassistant.NUMBER_TEMPLATE
    assert cfgs["battery_voltage"]["entity_category"] == "diagnostic"
    door = cfgs["door_open"]
    assert door["device_class"] == "door" and door["value_template"] == homeassistant.BOOL_TEMPLATE
    assert any(t.startswith("homeassistant/binary_sensor/") for t in b.retained)
    # the device's diagnostics come from meta
    assert {"rssi", "snr", "last_seen", "firmware"} <= set(cfgs)
    assert cfgs["rssi"]["state_topic"].endswith(f"{EUI}/meta")
    assert all(c["origin"]["name"] == "TroSmart bridge" for c in cfgs.values())


def test_energy_is_total_increasing() -> None:
    p, b = _processor(), Batch()
    _send(p, b, payload_codec.encode({"energy": 1234.567, "power": -300}), 1)
    cfgs = _configs(b)
    assert cfgs["energy"]["state_class"] == "total_increasing"
    assert cfgs["energy"]["unit_of_measurement"] == "kWh" and cfgs["power"]["state_class"] == "measurement"


def test_firmware_and_interval_from_status_republish_every_config() -> None:
    p, b = _processor(), Batch()
    _send(p, b, payload_codec.encode({"temperature": 20.0, "humidity": 50}), 1)
    first = _configs(b)
    assert first["temperature"]["expire_after"] == 3 * homeassistant.DEFAULT_INTERVAL_S
    assert "sw_version" not in first["temperature"]["device"]
    b2 = Batch()
    _send(p, b2, payload_codec.encode_status({"firmware": "1.4.2", "interval_s": 60}), 2, f_port=2)
    again = _configs(b2)
    assert set(again) == set(first)  # everything again, with the new device block
    assert again["temperature"]["device"]["sw_version"] == "1.4.2"
    assert again["temperature"]["expire_after"] == 180 and again["rssi"]["expire_after"] == 180
    b3 = Batch()
    _send(p, b3, payload_codec.encode({"temperature": 21.0, "humidity": 51}), 3)
    assert _configs(b3) == {}  # nothing changed: nothing re-published


def test_ha_birth_republishes_every_device() -> None:
    p, b = _processor(), Batch()
    _send(p, b, payload_codec.encode({"temperature": 20.0}), 1)
    b2 = Batch()
    p.handle_batch([InMessage("city", "homeassistant/status", b"online", 1, 9, 1)], b2)
    assert set(_configs(b2)) == set(_configs(b))
    b3 = Batch()
    p.handle_batch([InMessage("city", "homeassistant/status", b"offline", 1, 10, 1)], b3)
    assert not b3.retained and not b3.rows


def test_lpp_and_passthrough_kinds_and_colliding_object_ids() -> None:
    p, b = _processor(devices={EUI: "lpp"}), Batch()
    _send(p, b, bytes.fromhex("016700EB026864037327100402015E"), 1)
    cfgs = _configs(b)
    assert cfgs["temperature_1"]["device_class"] == "temperature"
    assert cfgs["pressure_3"]["device_class"] == "atmospheric_pressure"
    assert "device_class" not in cfgs["analog_input_4"] and cfgs["analog_input_4"]["state_class"] == "measurement"
    p, b = _processor(devices={EUI: "passthrough"}), Batch()
    _send(p, b, b"\x01", 1, obj={"temp C": 1, "temp_C": 2, "temp.C": True, "label": "x"})
    cfgs = _configs(b)
    oids = {c["state_topic"].rsplit("/", 1)[1]: oid for oid, c in cfgs.items()
            if c["state_topic"].endswith(("C", "label"))}
    assert len(oids) == 4 and len(set(oids.values())) == 4  # four keys, four entities
    assert cfgs[oids["label"]]["value_template"] == homeassistant.TEXT_TEMPLATE
    assert cfgs[oids["temp:2e:C"]]["value_template"] == homeassistant.BOOL_TEMPLATE
