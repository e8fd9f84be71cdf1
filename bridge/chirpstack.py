"""ChirpStack v4's MQTT integration JSON, the one home of its format (docs/references.md §L,
§L0.6): topics, events -> Uplink / DeviceEvent (the bridge), downlink commands (the bridge,
the HIL suite) and the events a network server emits (the simulated network server, tests).

Topic: ``application/{application_id}/device/{dev_eui}/event/{event}``. Integration
fields are all emitted since v4.1 (defaults included) but older events lack fCnt, adr and
confirmed; nested rxInfo/txInfo (gw package) omit default values. Absent -> None.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any, NamedTuple

from . import fields as f
from . import lns_meta
from .errors import InputError
from .model import DeviceEvent, Event, Ignored, Reception, Uplink

LNS = "chirpstack"
EVENTS = ("up", "join", "status", "ack", "txack", "log", "location", "integration")


def event_topic(application_id: str, dev_eui: str, event: str = "up") -> str:
    """Where ChirpStack publishes a device's ``event`` (``+`` in either id: a filter)."""
    return f"application/{application_id}/device/{dev_eui}/event/{event}"


def command_topic(application_id: str, dev_eui: str) -> str:
    """Where ChirpStack takes a device's downlink commands (``+``: a filter)."""
    return f"application/{application_id}/device/{dev_eui}/command/down"


def down_topic(topic: str) -> str:
    """The downlink command topic of the device an event topic belongs to."""
    return topic[: topic.rfind("/event/")] + "/command/down"


def split_topic(topic: str) -> tuple[str, str, str]:
    """(application_id, dev_eui, event) from an event topic; InputError otherwise."""
    parts = topic.split("/")
    if len(parts) < 6 or parts[-6] != "application" or parts[-4] != "device" or parts[-2] != "event":
        raise InputError("bad_topic", f"{topic!r} is not application/+/device/+/event/+")
    return parts[-5], parts[-3].lower(), parts[-1]


def parse(topic: str, payload: bytes, max_bytes: int = 65536) -> Event:
    app_id, topic_eui, event = split_topic(topic)
    doc = f.load_json(payload, max_bytes)
    info = f.obj(doc, "deviceInfo") or {}
    dev_eui = f.eui(info.get("devEui", topic_eui), "deviceInfo.devEui")
    if dev_eui != topic_eui:
        raise InputError("bad_field", f"deviceInfo.devEui {dev_eui} differs from the topic's {topic_eui}")
    when = _time(doc)
    if event == "up":
        return _uplink(doc, info, app_id, dev_eui, when, topic)
    if event == "join":
        return DeviceEvent(LNS, "join", dev_eui, when, extra={"dev_addr": doc.get("devAddr")})
    if event == "status":
        return DeviceEvent(
            LNS, "status", dev_eui, when, battery_level=f.number(doc, "batteryLevel"),
            extra={"margin": doc.get("margin")},
        )
    if event == "ack":
        acked = f.flag(doc, "acknowledged")
        return DeviceEvent(
            LNS, "acked" if acked else "failed", dev_eui, when, command_id=f.text(doc, "queueItemId"),
            reason=None if acked else "not acknowledged by the device",
        )
    if event == "txack":
        return DeviceEvent(LNS, "sent", dev_eui, when, command_id=f.text(doc, "queueItemId"))
    if event == "log":
        ctx = f.obj(doc, "context") or {}
        qid = ctx.get("queue_item_id") or ctx.get("queueItemId")
        level = f.text(doc, "level") or "INFO"
        kind = "failed" if level == "ERROR" and isinstance(qid, str) else "log"
        return DeviceEvent(
            LNS, kind, dev_eui, when, command_id=qid if isinstance(qid, str) else None,
            reason=f"{f.text(doc, 'code') or ''}: {f.text(doc, 'description') or ''}".strip(": "),
            extra={"level": level},
        )
    if event == "location":  # LocationEvent: a geolocation resolver's result (integration.proto)
        raw = doc.get("location")
        src = raw.get("source") if isinstance(raw, dict) else None
        loc = lns_meta.location(raw, f"chirpstack:{src}" if isinstance(src, str) else "chirpstack")
        return DeviceEvent(LNS, "location", dev_eui, when, extra={"location": loc} if loc else {})
    return Ignored(f"chirpstack event {event!r} is not used")


def _time(doc: dict[str, Any]) -> float:
    t = doc.get("time")
    if t is not None:
        return f.timestamp(t, "time")
    return time.time()  # join/ack events of older versions carry no time


def _uplink(
    doc: dict[str, Any], info: dict[str, Any], app_id: str, dev_eui: str, when: float, topic: str
) -> Uplink:
    if not info:
        raise InputError("missing_field", "up event has no deviceInfo (every v4 event carries it)")
    dedup = f.text(doc, "deduplicationId")
    f_cnt = f.integer(doc, "fCnt", hi=2**32 - 1)
    if not dedup:
        # very old events: the reception time identifies the uplink together with the counter
        if doc.get("time") is None:
            raise InputError("missing_field", "up event has neither deduplicationId nor time")
        dedup = f"{dev_eui}:{f_cnt}:{doc['time']}"
    rx = []
    for r in f.objects(doc, "rxInfo"):
        rx.append(Reception(str(r.get("gatewayId", "")), f.number(r, "rssi"), f.number(r, "snr")))
    tx = f.obj(doc, "txInfo") or {}
    mod = f.obj(f.obj(tx, "modulation") or {}, "lora") or {}
    obj = doc.get("object")
    return Uplink(
        lns=LNS,
        dev_eui=dev_eui,
        dedupe_key=f"cs:{dedup}",
        received_at=when,
        time_source="network_server" if doc.get("time") is not None else "bridge",
        f_port=f.integer(doc, "fPort", hi=255),
        f_cnt=f_cnt,
        data=f.b64(doc, "data"),
        object=obj if isinstance(obj, dict) else None,
        device_name=f.text(info, "deviceName"),
        application_id=f.text(info, "applicationId") or app_id,
        confirmed=f.flag(doc, "confirmed"),
        adr=f.flag(doc, "adr"),
        dr=f.integer(doc, "dr", hi=15),
        frequency=f.integer(tx, "frequency", "txInfo."),
        spreading_factor=f.integer(mod, "spreadingFactor", "lora.", hi=12),
        bandwidth=f.integer(mod, "bandwidth", "lora."),
        coding_rate=f.text(mod, "codeRate", "lora."),
        receptions=tuple(rx),
        down_topic=down_topic(topic),
        tags=lns_meta.tags(info.get("tags")),
    )


# --- downlinks (DownlinkCommand, docs/references.md §L) ---------------------------------------
class Downlink(NamedTuple):
    dev_eui: str
    f_port: int
    data: bytes
    confirmed: bool
    id: str | None  # ChirpStack generates one when absent


def downlink(dev_eui: str, frame: bytes, f_port: int, confirmed: bool,
             command_id: str | None = None) -> dict[str, Any]:
    """A ``command/down`` message; ``fPort`` must be > 0 and ``devEui`` match the topic."""
    msg: dict[str, Any] = {"id": command_id} if command_id is not None else {}
    msg.update(devEui=dev_eui, confirmed=confirmed, fPort=f_port, data=base64.b64encode(frame).decode())
    return msg


def parse_downlink(doc: dict[str, Any], topic_eui: str) -> Downlink:
    """A ``command/down`` message as ChirpStack reads it; InputError("bad_downlink") naming
    the fault. ``object`` (for a device-profile codec) is not supported."""
    eui = str(doc.get("devEui", topic_eui)).lower()
    if eui != topic_eui or len(eui) != 16:
        raise InputError("bad_downlink", f"devEui {eui!r} does not match the topic's {topic_eui!r}")
    f_port = doc.get("fPort")
    if not isinstance(f_port, int) or isinstance(f_port, bool) or not 1 <= f_port <= 223:
        raise InputError("bad_downlink", f"fPort must be 1..223, got {f_port!r}")
    if "data" not in doc:
        raise InputError("bad_downlink", "no 'data' (an 'object' needs a device-profile codec, "
                         "which this NS has not)")
    try:
        data = base64.b64decode(str(doc["data"]), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("bad_downlink", "'data' is not base64") from None
    confirmed = doc.get("confirmed", False)
    if not isinstance(confirmed, bool):
        raise InputError("bad_downlink", "'confirmed' must be true or false")
    cid = doc.get("id")
    return Downlink(eui, f_port, data, confirmed, str(cid) if cid else None)


# --- what ChirpStack publishes (integration.proto, gw.proto; docs/references.md §L) ---------
def device_info(application_id: str, dev_eui: str, *, device_name: str, application_name: str,
                tenant_id: str, tenant_name: str, device_profile_id: str,
                device_profile_name: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    """``DeviceInfo``; ``tags`` are the device profile's and the device's (map<string, string>)."""
    return {"tenantId": tenant_id, "tenantName": tenant_name, "applicationId": application_id,
            "applicationName": application_name, "deviceProfileId": device_profile_id,
            "deviceProfileName": device_profile_name, "deviceName": device_name, "devEui": dev_eui,
            "deviceClassEnabled": "CLASS_A", "tags": dict(tags or {})}


def rx_info(gateway_id: str, uplink_id: int, rssi: int, snr: float, *, channel: int, context: bytes,
            gw_time: str | None = None, ns_time: str | None = None,
            metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """One gateway's reception (gw package: ``gwTime``/``nsTime`` only when known)."""
    rx: dict[str, Any] = {"gatewayId": gateway_id, "uplinkId": uplink_id}
    if gw_time is not None:
        rx["gwTime"] = gw_time
    if ns_time is not None:
        rx["nsTime"] = ns_time
    rx.update(rssi=rssi, snr=snr, channel=channel, location={},
              context=base64.b64encode(context).decode(),
              metadata=metadata if metadata is not None else {"region_config_id": "eu868"},
              crcStatus="CRC_OK")
    return rx


def lora_modulation(bandwidth_hz: int, spreading_factor: int, code_rate: str = "CR_4_5") -> dict[str, Any]:
    return {"lora": {"bandwidth": bandwidth_hz, "spreadingFactor": spreading_factor, "codeRate": code_rate}}


def tx_info(frequency: int, modulation: dict[str, Any], power: int | None = None) -> dict[str, Any]:
    tx: dict[str, Any] = {"frequency": frequency}
    if power is not None:
        tx["power"] = power
    tx["modulation"] = modulation
    return tx


def up_event(*, deduplication_id: str, time: str, device_info: dict[str, Any], dev_addr: str,
             adr: bool | None, dr: int, f_cnt: int | None, f_port: int, confirmed: bool | None,
             data: bytes, rx_info: list[dict[str, Any]], tx_info: dict[str, Any],
             object: dict[str, Any] | None = None) -> dict[str, Any]:
    """``event/up``; ``adr``, ``f_cnt`` or ``confirmed`` None: absent, as before v4.1."""
    msg: dict[str, Any] = {"deduplicationId": deduplication_id, "time": time,
                           "deviceInfo": device_info, "devAddr": dev_addr, "adr": adr, "dr": dr,
                           "fCnt": f_cnt, "fPort": f_port, "confirmed": confirmed,
                           "data": base64.b64encode(data).decode(), "rxInfo": rx_info,
                           "txInfo": tx_info}
    for k in ("adr", "fCnt", "confirmed"):
        if msg[k] is None:
            del msg[k]
    if object is not None:
        msg["object"] = object
    return msg


def join_event(*, deduplication_id: str, time: str, device_info: dict[str, Any],
               dev_addr: str) -> dict[str, Any]:
    return {"deduplicationId": deduplication_id, "time": time, "deviceInfo": device_info,
            "devAddr": dev_addr}


def ack_event(*, deduplication_id: str, time: str, device_info: dict[str, Any], queue_item_id: str,
              acknowledged: bool, f_cnt_down: int) -> dict[str, Any]:
    return {"deduplicationId": deduplication_id, "time": time, "deviceInfo": device_info,
            "queueItemId": queue_item_id, "acknowledged": acknowledged, "fCntDown": f_cnt_down}


def txack_event(*, downlink_id: int, time: str, device_info: dict[str, Any], queue_item_id: str,
                f_cnt_down: int, gateway_id: str, tx_info: dict[str, Any]) -> dict[str, Any]:
    return {"downlinkId": downlink_id, "time": time, "deviceInfo": device_info,
            "queueItemId": queue_item_id, "fCntDown": f_cnt_down, "gatewayId": gateway_id,
            "txInfo": tx_info}


def log_event(*, time: str, device_info: dict[str, Any], level: str, code: str, description: str,
              context: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"time": time, "deviceInfo": device_info, "level": level, "code": code,
            "description": description, "context": context or {}}


def status_event(*, time: str, device_info: dict[str, Any], margin: int,
                 battery_level: float) -> dict[str, Any]:
    return {"time": time, "deviceInfo": device_info, "margin": margin, "batteryLevel": battery_level}


def location_event(*, deduplication_id: str, time: str, device_info: dict[str, Any], latitude: float,
                   longitude: float, altitude: float = 0.0, source: str = "GEO_RESOLVER_TDOA",
                   accuracy: float = 0.0) -> dict[str, Any]:
    """``event/location`` (``LocationEvent``: a geolocation resolver's result, ``common.Location``
    with proto3 JSON omitting zero values)."""
    loc: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if altitude:
        loc["altitude"] = altitude
    loc["source"] = source
    if accuracy:
        loc["accuracy"] = accuracy
    return {"deduplicationId": deduplication_id, "time": time, "deviceInfo": device_info, "location": loc}
