"""The Things Stack v3's MQTT JSON, the one home of its format (docs/references.md §M, §L0.6):
topics, messages -> Uplink / DeviceEvent (the bridge), downlinks (the bridge, the HIL suite)
and the uplinks a network server emits (tests).

Topic: ``v3/{app}@{tenant}/devices/{device_id}/{up|join|down/queued|down/sent|down/ack|
down/nack|down/failed|...}``. TTS omits every field whose value is 0, false or "", so
f_port, f_cnt and confirmed may be missing; ``frequency`` is a string (uint64);
``coding_rate`` sits in ``settings`` (older) or ``settings.data_rate.lora`` (newer).
TTS's own MQTT documentation example has no ``received_at``: an uplink's time is the
network server's reception time, else a gateway's, else the bridge's (``time_source``).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from . import fields as f
from . import lns_meta
from .errors import InputError
from .model import DeviceEvent, Event, Ignored, Reception, Uplink

LNS = "tts"
CORRELATION_PREFIX = "trosmart:cmd:"
_DOWN = {"down/queued": "queued", "down/sent": "sent", "down/ack": "acked", "down/nack": "failed",
         "down/failed": "failed"}


def topic(app: str, device_id: str, event: str = "up") -> str:
    """``v3/{app}@{tenant}/devices/{device_id}/{event}`` (``+``: a filter)."""
    return f"v3/{app}/devices/{device_id}/{event}"


def down_topic(topic: str) -> str:
    """The ``down/push`` topic of the device a message topic belongs to."""
    parts = topic.split("/", 4)
    return f"v3/{parts[1]}/devices/{parts[3]}/down/push"


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
        return DeviceEvent(LNS, "join", dev_eui, time.time() if when is None else when)
    if event in _DOWN:
        body = next((v for k, v in doc.items() if k.startswith("downlink_") and isinstance(v, dict)), {})
        reason = None
        if event == "down/failed":
            err = f.obj(body, "error") or {}
            reason = str(err.get("message_format") or err.get("name") or "failed")
        elif event == "down/nack":
            reason = "not acknowledged by the device"
        inner = f.obj(body, "downlink") or body
        return DeviceEvent(LNS, _DOWN[event], dev_eui, time.time() if when is None else when,
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
    source = "network_server"
    if "received_at" in up:  # the Network Server's reception time, preferred as SenML bt
        when = f.timestamp(up["received_at"], "uplink_message.received_at")
    settings = f.obj(up, "settings", "uplink_message.") or {}
    lora = f.obj(f.obj(settings, "data_rate") or {}, "lora") or {}
    rx = []
    for i, r in enumerate(f.objects(up, "rx_metadata", "uplink_message.")):
        if when is None and ("time" in r or "received_at" in r):  # the gateway's clock
            key = "time" if "time" in r else "received_at"
            when, source = f.timestamp(r[key], f"rx_metadata[{i}].{key}"), "gateway"
        gw_raw = r.get("gateway_ids")
        gw: dict[str, Any] = gw_raw if isinstance(gw_raw, dict) else {}
        rx.append(Reception(str(gw.get("gateway_id") or gw.get("eui") or ""),
                            f.number(r, "rssi"), f.number(r, "snr")))
    f_cnt = f.integer(up, "f_cnt", "uplink_message.", hi=2**32 - 1) or 0  # omitted when 0
    skey = f.text(up, "session_key_id", "uplink_message.") or ""
    decoded = up.get("decoded_payload")
    app_ids = f.obj(ids, "application_ids") or {}
    if when is None:
        when, source = time.time(), "bridge"
    return Uplink(
        lns=LNS,
        dev_eui=dev_eui,
        dedupe_key=f"tts:{dev_eui}:{f_cnt}:{skey}",
        received_at=when,
        time_source=source,
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
        down_topic=down_topic(topic),
        tags=lns_meta.tags(up.get("attributes")),  # TTS ≥ 3.34 forwards the device's attributes
        # the Application Server adds the device's locations to every uplink: none means none
        location=lns_meta.tts_location(up.get("locations")) or {},
    )


def identity_conflict(learned_source: str, learned_down_topic: str, source: str, up: Uplink) -> str | None:
    """Why an uplink may not re-route its DevEUI's downlinks, or None: the DevEUI was learned
    under another TTS device id (or source) than the one this uplink arrived on."""
    if learned_source == source and learned_down_topic == up.down_topic:
        return None
    was, now = learned_down_topic.split("/"), (up.down_topic or "").split("/")
    return (f"end_device_ids.dev_eui {up.dev_eui} was learned as device {'/'.join(was[1:4])} on "
            f"{learned_source}, not {'/'.join(now[1:4])} on {source}")


# --- downlinks (docs/references.md §M) ----------------------------------------------------------
def downlink(frame: bytes, f_port: int, confirmed: bool, command_id: str | None = None,
             priority: str = "NORMAL") -> dict[str, Any]:
    """A ``down/push`` message; our command id travels as a correlation id, which TTS echoes on
    ``down/queued``, ``down/sent``, ``down/ack`` and ``down/failed``."""
    item: dict[str, Any] = {"f_port": f_port, "frm_payload": base64.b64encode(frame).decode(),
                            "priority": priority, "confirmed": confirmed}
    if command_id is not None:
        item["correlation_ids"] = [CORRELATION_PREFIX + command_id]
    return {"downlinks": [item]}


# --- what The Things Stack publishes (docs/references.md §M) -------------------------------------
def _omit_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """TTS omits every field whose value is 0, false or "" (docs/references.md §L0.6)."""
    return {k: v for k, v in doc.items() if v not in (0, False, "")}


def rx_metadata(gateway_id: str, eui: str, *, time: str | None, received_at: str | None,
                timestamp: int, rssi: int, snr: float, uplink_token: str) -> dict[str, Any]:
    rx: dict[str, Any] = {"gateway_ids": {"gateway_id": gateway_id, "eui": eui}}
    if time is not None:
        rx["time"] = time
    rx.update(timestamp=timestamp, rssi=rssi, channel_rssi=rssi, snr=snr, uplink_token=uplink_token)
    if received_at is not None:
        rx["received_at"] = received_at
    return rx


def settings(*, bandwidth: int, spreading_factor: int, coding_rate: str, frequency: int,
             timestamp: int, time: str, coding_rate_in_settings: bool = False) -> dict[str, Any]:
    """``coding_rate_in_settings``: where older TTS versions put it."""
    lora: dict[str, Any] = {"bandwidth": bandwidth, "spreading_factor": spreading_factor}
    out: dict[str, Any] = {"data_rate": {"lora": lora}, "frequency": str(frequency),
                           "timestamp": timestamp, "time": time}
    if coding_rate_in_settings:
        out["coding_rate"] = coding_rate
    else:
        lora["coding_rate"] = coding_rate
    return out


def uplink_message(*, session_key_id: str, f_port: int, f_cnt: int, frm_payload: bytes,
                   rx_metadata: list[dict[str, Any]], settings: dict[str, Any],
                   received_at: str | None, confirmed: bool, consumed_airtime: str,
                   network_ids: dict[str, str],
                   decoded_payload: dict[str, Any] | None = None,
                   locations: dict[str, dict[str, Any]] | None = None,
                   attributes: dict[str, str] | None = None) -> dict[str, Any]:
    """``uplink_message``; ``locations`` as the Application Server adds them (key ``user`` for the
    registry's, ``frm-payload`` for a formatter's; each ``{latitude, longitude, altitude, source}``),
    ``attributes`` (the device's, since TTS 3.34), docs/references.md §M."""
    up: dict[str, Any] = {"session_key_id": session_key_id, "f_port": f_port, "f_cnt": f_cnt,
                          "frm_payload": base64.b64encode(frm_payload).decode(),
                          "rx_metadata": rx_metadata, "settings": settings}
    if received_at is not None:
        up["received_at"] = received_at
    up.update(confirmed=confirmed, consumed_airtime=consumed_airtime, network_ids=network_ids)
    if decoded_payload is not None:
        up["decoded_payload"] = decoded_payload
    if locations:
        up["locations"] = locations
    if attributes:
        up["attributes"] = attributes
    return _omit_defaults(up)


def up_message(*, device_id: str, application_id: str, dev_eui: str, join_eui: str, dev_addr: str,
               correlation_ids: list[str], received_at: str | None,
               uplink_message: dict[str, Any]) -> dict[str, Any]:
    """The ``up`` message; ``dev_eui`` as TTS prints it (upper case)."""
    msg: dict[str, Any] = {
        "end_device_ids": {"device_id": device_id, "application_ids": {"application_id": application_id},
                           "dev_eui": dev_eui.upper(), "join_eui": join_eui, "dev_addr": dev_addr},
        "correlation_ids": correlation_ids}
    if received_at is not None:
        msg["received_at"] = received_at
    msg["uplink_message"] = uplink_message
    return msg


def downlink_event(event: str, *, device_id: str, dev_eui: str, received_at: str,
                   command_id: str | None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """``down/queued|sent|ack|nack|failed`` for a downlink that carried ``command_id``."""
    kind = event.split("/")[1]
    cids = [CORRELATION_PREFIX + command_id] if command_id is not None else []
    body: dict[str, Any] = {"correlation_ids": cids}
    if kind == "failed":
        body = {"downlink": body, "error": error or {}}
    return {"end_device_ids": {"device_id": device_id, "dev_eui": dev_eui.upper()},
            "received_at": received_at, f"downlink_{kind}": body}
