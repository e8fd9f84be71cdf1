"""ChirpStack v4 MQTT integration events (JSON) -> Uplink / DeviceEvent (docs/references.md §L, §L0.6).

Topic: ``application/{application_id}/device/{dev_eui}/event/{event}``. Integration
fields are all emitted since v4.1 (defaults included) but older events lack fCnt, adr and
confirmed; nested rxInfo/txInfo (gw package) omit default values. Absent -> None.
"""

from __future__ import annotations

import time
from typing import Any

from . import fields as f
from .errors import InputError
from .model import DeviceEvent, Event, Ignored, Reception, Uplink

LNS = "chirpstack"
EVENTS = ("up", "join", "status", "ack", "txack", "log", "location", "integration")


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
    for i, r in enumerate(doc.get("rxInfo") or []):
        if not isinstance(r, dict):
            raise InputError("bad_field", f"rxInfo[{i}] is not an object")
        rx.append(Reception(str(r.get("gatewayId", "")), f.number(r, "rssi"), f.number(r, "snr")))
    tx = f.obj(doc, "txInfo") or {}
    mod = f.obj(f.obj(tx, "modulation") or {}, "lora") or {}
    obj = doc.get("object")
    prefix = topic[: topic.rfind("/event/")]
    return Uplink(
        lns=LNS,
        dev_eui=dev_eui,
        dedupe_key=f"cs:{dedup}",
        received_at=when,
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
        down_topic=f"{prefix}/command/down",
    )
