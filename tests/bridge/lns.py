"""Faithful ChirpStack v4 / The Things Stack v3 MQTT messages (docs/references.md §L, §M, §L0.6).

This is the fake at the physical edge: the network servers themselves are not installable
here. Known differences from the real servers: one gateway per uplink unless asked, no
``relayRxInfo``/``joinServerContext``, correlation ids are short strings, and ``time``
fields are generated from a counter rather than a clock.

Variants:
- ChirpStack ``modern`` emits every integration field, defaults included (v4.1+), nested
  rxInfo/txInfo omit default values; ``old`` lacks fCnt, adr and confirmed; ``no_object``
  has no codec output.
- TTS omits every 0/false/"" field; ``coding_rate`` either in ``settings`` (older) or in
  ``settings.data_rate.lora`` (newer); ``frequency`` is a string.
"""

from __future__ import annotations

import base64
import json
from typing import Any

APP_ID = "4d7a7c8c-0f0c-4e8e-9b61-6f2f3c1d2e3f"
TTS_APP = "troisdorf-air@ttn"


def rfc3339(t: float) -> str:
    import datetime as dt

    d = dt.datetime.fromtimestamp(int(t), dt.timezone.utc)
    ns = round((t - int(t)) * 1e9)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}+00:00"


def cs_topic(dev_eui: str, event: str = "up", app: str = APP_ID) -> str:
    return f"application/{app}/device/{dev_eui}/event/{event}"


def cs_up(dev_eui: str, f_cnt: int | None, data: bytes, *, f_port: int = 1, t: float = 1767225600.5,
          dedup: str | None = None, variant: str = "modern", obj: dict[str, Any] | None = None,
          gateways: int = 1, app: str = APP_ID) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "deduplicationId": dedup or f"00000000-0000-4000-8000-{dev_eui[-8:]}{(f_cnt or 0):04x}",
        "time": rfc3339(t),
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "Troisdorf",
            "applicationId": app, "applicationName": "air",
            "deviceProfileId": "2d8f5c1a-1111-4d44-8c0f-2e4b8f5c1a11", "deviceProfileName": "trosmart",
            "deviceName": f"node-{dev_eui[-4:]}", "devEui": dev_eui, "deviceClassEnabled": "CLASS_A",
            "tags": {},
        },
        "devAddr": "01fa2b3c",
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": False,
        "data": base64.b64encode(data).decode(),
        "rxInfo": [
            {"gatewayId": f"0016c001ff10a23{i}", "uplinkId": 1234 + i, "rssi": -70 - 10 * i,
             "snr": 9.5 - 3 * i, "channel": 2, "location": {}, "context": "EFwMtA==",
             "metadata": {"region_config_id": "eu868"}, "crcStatus": "CRC_OK"}
            for i in range(gateways)
        ],
        "txInfo": {"frequency": 868300000,
                   "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7,
                                           "codeRate": "CR_4_5"}}},
    }
    if obj is not None:
        msg["object"] = obj
    if variant == "old":
        for k in ("fCnt", "adr", "confirmed"):
            msg.pop(k)
    return msg


def tts_topic(device_id: str, event: str = "up", app: str = TTS_APP) -> str:
    return f"v3/{app}/devices/{device_id}/{event}"


def tts_up(dev_eui: str, f_cnt: int, data: bytes, *, f_port: int = 1, t: float = 1767225600.5,
           session_key_id: str = "AYZ/cI4Kz8Q9cRtHN6WjvA==", variant: str = "new",
           decoded: dict[str, Any] | None = None, confirmed: bool = False) -> dict[str, Any]:
    lora: dict[str, Any] = {"bandwidth": 125000, "spreading_factor": 7}
    settings: dict[str, Any] = {"data_rate": {"lora": lora}, "frequency": "867700000",
                                "timestamp": 2463316468, "time": rfc3339(t)}
    if variant == "new":
        lora["coding_rate"] = "4/5"
    else:
        settings["coding_rate"] = "4/5"
    up: dict[str, Any] = {
        "session_key_id": session_key_id, "f_port": f_port, "f_cnt": f_cnt,
        "frm_payload": base64.b64encode(data).decode(),
        "rx_metadata": [{"gateway_ids": {"gateway_id": "tro-gw-1", "eui": "B827EBFFFE7A1C2D"},
                         "time": rfc3339(t), "timestamp": 2463316468, "rssi": -93,
                         "channel_rssi": -93, "snr": 7.25, "uplink_token": "ChIKEAoOdHJvLWd3",
                         "received_at": rfc3339(t)}],
        "settings": settings, "received_at": rfc3339(t), "confirmed": confirmed,
        "consumed_airtime": "0.061696s",
        "network_ids": {"net_id": "000013", "ns_id": "EC656E0000000181", "tenant_id": "ttn",
                        "cluster_id": "eu1", "cluster_address": "eu1.cloud.thethings.network"},
    }
    if decoded is not None:
        up["decoded_payload"] = decoded
    # TTS omits every field whose value is 0, false or "" (docs/references.md §L0.6)
    for k in [k for k, v in up.items() if v in (0, False, "")]:
        up.pop(k)
    return {
        "end_device_ids": {"device_id": f"tro-{dev_eui[-4:]}",
                           "application_ids": {"application_id": TTS_APP.split("@")[0]},
                           "dev_eui": dev_eui.upper(), "join_eui": "0000000000000000",
                           "dev_addr": "260B1234"},
        "correlation_ids": ["as:up:01HQ", "rpc:/ttn.lorawan.v3.GsNs/HandleUplink:01HQ"],
        "received_at": rfc3339(t + 0.01),
        "uplink_message": up,
    }


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()
