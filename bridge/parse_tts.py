"""The Things Stack v3 MQTT messages -> Uplink / DeviceEvent (docs/references.md §M, §L0.6).

Topic: ``v3/{app}@{tenant}/devices/{device_id}/{up|join|down/queued|down/sent|down/ack|
down/nack|down/failed|...}``. TTS omits every field whose value is 0, false or "", so
f_port, f_cnt and confirmed may be missing; ``frequency`` is a string (uint64);
``coding_rate`` sits in ``settings`` (older) or ``settings.data_rate.lora`` (newer).
"""

from __future__ import annotations

from typing import Any

from . import fields as f
from .errors import InputError
from .model import DeviceEvent, Event, Ignored, Reception, Uplink

LNS = "tts"
CORRELATION_PREFIX = "trosmart:cmd:"
_DOWN = {"down/queued": "queued", "down/sent": "sent", "down/ack": "acked", "down/nack": "failed",
         "down/failed": "failed"}


def split_topic(topic: str) -> tuple[str, str, str]:
    """(app@tenant, device_id, event) from a TTS topic; InputError otherwise."""
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != "v3" or parts[2] != "devices":
        raise InputError("bad_topic", f"{topic!r} is not v3/+/devices/+/...")
    return parts[1], parts[3], "/".join(parts[4:])


def parse(topic: str, payload: bytes, max_bytes: int = 65536) -> Event:
    app, device_id, event = split_topic(topic)
    doc = f.load_json(payload, max_bytes)
    ids = f.obj(doc, "end_device_ids") or {}
    raw_eui = ids.get("dev_eui")
    when = f.timestamp(doc["received_at"], "received_at") if "received_at" in doc else None
    if event == "up":
        if raw_eui is None:
            raise InputError("missing_field", "end_device_ids.dev_eui is missing")
        return _uplink(doc, ids, f.eui(raw_eui, "end_device_ids.dev_eui"), app, device_id, topic, when)
    dev_eui = f.eui(raw_eui, "end_device_ids.dev_eui") if raw_eui is not None else None
    if event == "join":
        return DeviceEvent(LNS, "join", dev_eui, when or 0.0)
    if event in _DOWN:
        body = next((v for k, v in doc.items() if k.startswith("downlink_") and isinstance(v, dict)), {})
        reason = None
        if event == "down/failed":
            err = f.obj(body, "error") or {}
            reason = str(err.get("message_format") or err.get("name") or "failed")
        elif event == "down/nack":
            reason = "not acknowledged by the device"
        inner = f.obj(body, "downlink") or body
        return DeviceEvent(LNS, _DOWN[event], dev_eui, when or 0.0,
                           command_id=_command_id(doc, inner), reason=reason)
    return Ignored(f"tts event {event!r} is not used")


def _command_id(doc: dict[str, Any], body: dict[str, Any]) -> str | None:
    for src in (body.get("correlation_ids"), doc.get("correlation_ids")):
        if isinstance(src, list):
            for c in src:
                if isinstance(c, str) and c.startswith(CORRELATION_PREFIX):
                    return c[len(CORRELATION_PREFIX):]
    return None


def _uplink(
    doc: dict[str, Any], ids: dict[str, Any], dev_eui: str, app: str, device_id: str, topic: str,
    when: float | None,
) -> Uplink:
    up = f.obj(doc, "uplink_message")
    if up is None:
        raise InputError("missing_field", "uplink_message is missing")
    if "received_at" in up:  # the Network Server's reception time, preferred as SenML bt
        when = f.timestamp(up["received_at"], "uplink_message.received_at")
    elif when is None:
        raise InputError("missing_field", "received_at is missing")
    settings = f.obj(up, "settings", "uplink_message.") or {}
    lora = f.obj(f.obj(settings, "data_rate") or {}, "lora") or {}
    rx = []
    for i, r in enumerate(up.get("rx_metadata") or []):
        if not isinstance(r, dict):
            raise InputError("bad_field", f"rx_metadata[{i}] is not an object")
        gw_raw = r.get("gateway_ids")
        gw: dict[str, Any] = gw_raw if isinstance(gw_raw, dict) else {}
        rx.append(Reception(str(gw.get("gateway_id") or gw.get("eui") or ""),
                            f.number(r, "rssi"), f.number(r, "snr")))
    f_cnt = f.integer(up, "f_cnt", "uplink_message.", hi=2**32 - 1) or 0  # omitted when 0
    skey = f.text(up, "session_key_id", "uplink_message.") or ""
    decoded = up.get("decoded_payload")
    app_ids = f.obj(ids, "application_ids") or {}
    return Uplink(
        lns=LNS,
        dev_eui=dev_eui,
        dedupe_key=f"tts:{dev_eui}:{f_cnt}:{skey}",
        received_at=when,
        f_port=f.integer(up, "f_port", "uplink_message.", hi=255) or 0,
        f_cnt=f_cnt,
        data=f.b64(up, "frm_payload", "uplink_message."),
        object=decoded if isinstance(decoded, dict) else None,
        device_name=f.text(ids, "device_id") or device_id,
        application_id=f.text(app_ids, "application_id") or app,
        confirmed=f.flag(up, "confirmed") or False,
        frequency=f.integer(settings, "frequency", "settings."),
        spreading_factor=f.integer(lora, "spreading_factor", "lora.", hi=12),
        bandwidth=f.integer(lora, "bandwidth", "lora."),
        coding_rate=f.text(lora, "coding_rate", "lora.") or f.text(settings, "coding_rate", "settings."),
        session_key_id=skey or None,
        receptions=tuple(rx),
        down_topic=f"v3/{app}/devices/{device_id}/down/push",
    )
