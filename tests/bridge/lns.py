"""ChirpStack v4 / The Things Stack v3 messages for tests, built by the bridge's own format
modules (bridge/chirpstack.py, bridge/tts.py) with fixed fixture values.

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

import json
from typing import Any

from bridge import chirpstack, fields, tts

APP_ID = "4d7a7c8c-0f0c-4e8e-9b61-6f2f3c1d2e3f"
TTS_APP = "troisdorf-air@ttn"


def rfc3339(t: float) -> str:
    return fields.rfc3339(int(t) * 1_000_000_000 + round((t - int(t)) * 1e9))


def cs_topic(dev_eui: str, event: str = "up", app: str = APP_ID) -> str:
    return chirpstack.event_topic(app, dev_eui, event)


def cs_up(dev_eui: str, f_cnt: int | None, data: bytes, *, f_port: int = 1, t: float = 1767225600.5,
          dedup: str | None = None, variant: str = "modern", obj: dict[str, Any] | None = None,
          gateways: int = 1, app: str = APP_ID) -> dict[str, Any]:
    old = variant == "old"
    msg = chirpstack.up_event(
        deduplication_id=dedup or f"00000000-0000-4000-8000-{dev_eui[-8:]}{(f_cnt or 0):04x}",
        time=rfc3339(t),
        device_info=chirpstack.device_info(
            app, dev_eui, device_name=f"node-{dev_eui[-4:]}", application_name="air",
            tenant_id="52f14cd4-c6f1-4fbd-8f87-4025e1d49242", tenant_name="Troisdorf",
            device_profile_id="2d8f5c1a-1111-4d44-8c0f-2e4b8f5c1a11", device_profile_name="trosmart"),
        dev_addr="01fa2b3c", adr=None if old else True, dr=5, f_port=f_port, data=data,
        confirmed=None if old else False,
        rx_info=[chirpstack.rx_info(f"0016c001ff10a23{i}", 1234 + i, -70 - 10 * i, 9.5 - 3 * i,
                                    channel=2, context=bytes.fromhex("105c0cb4"))
                 for i in range(gateways)],
        tx_info=chirpstack.tx_info(868300000, chirpstack.lora_modulation(125000, 7)),
        f_cnt=None if old else f_cnt, object=obj)
    if not old and f_cnt is None:
        msg["fCnt"] = None  # a test's explicit null
    return msg


def tts_topic(device_id: str, event: str = "up", app: str = TTS_APP) -> str:
    return tts.topic(app, device_id, event)


def tts_up(dev_eui: str, f_cnt: int, data: bytes, *, f_port: int = 1, t: float = 1767225600.5,
           session_key_id: str = "AYZ/cI4Kz8Q9cRtHN6WjvA==", variant: str = "new",
           decoded: dict[str, Any] | None = None, confirmed: bool = False) -> dict[str, Any]:
    when = rfc3339(t)
    up = tts.uplink_message(
        session_key_id=session_key_id, f_port=f_port, f_cnt=f_cnt, frm_payload=data,
        rx_metadata=[tts.rx_metadata("tro-gw-1", "B827EBFFFE7A1C2D", time=when, received_at=when,
                                     timestamp=2463316468, rssi=-93, snr=7.25,
                                     uplink_token="ChIKEAoOdHJvLWd3")],
        settings=tts.settings(bandwidth=125000, spreading_factor=7, coding_rate="4/5",
                              frequency=867700000, timestamp=2463316468, time=when,
                              coding_rate_in_settings=variant != "new"),
        received_at=when, confirmed=confirmed, consumed_airtime="0.061696s",
        network_ids={"net_id": "000013", "ns_id": "EC656E0000000181", "tenant_id": "ttn",
                     "cluster_id": "eu1", "cluster_address": "eu1.cloud.thethings.network"},
        decoded_payload=decoded)
    return tts.up_message(device_id=f"tro-{dev_eui[-4:]}", application_id=TTS_APP.split("@")[0],
                          dev_eui=dev_eui, join_eui="0000000000000000", dev_addr="260B1234",
                          correlation_ids=["as:up:01HQ", "rpc:/ttn.lorawan.v3.GsNs/HandleUplink:01HQ"],
                          received_at=rfc3339(t + 0.01), uplink_message=up)


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()
