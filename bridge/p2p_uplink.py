"""The serial source's messages -> Uplink (docs/p2p.md §5): the pipeline's parser for lns "serial".

bridge/serial_source.py verifies each envelope (MIC, replay) where it reads it and hands the
pipeline one JSON document per received packet; a refused one carries ``error`` and becomes
a dead letter here, with its raw bytes (the document holds the envelope's hex).
"""

from __future__ import annotations

from typing import Any

from . import jsonio
from .errors import InputError
from .model import Event, Reception, Uplink


def parse(topic: str, payload: bytes, max_bytes: int = 65536) -> Event:
    if len(payload) > max_bytes:
        raise InputError("oversize", f"{len(payload)} bytes")
    try:
        doc: Any = jsonio.loads(payload)
    except ValueError as e:
        raise InputError("bad_json", str(e)) from None
    if not isinstance(doc, dict):
        raise InputError("bad_json", "not an object")
    err = doc.get("error")
    if isinstance(err, dict):
        raise InputError(str(err.get("reason", "refused")), str(err.get("detail", "")))
    try:
        dev_eui = str(doc["dev_eui"])
        counter = int(doc["counter"])
        frame = bytes.fromhex(doc["frame"])
        rx = Reception(str(doc["receiver"]), float(doc["rssi"]), float(doc["snr"]))
        return Uplink(lns="serial", dev_eui=dev_eui, dedupe_key="p2p:%s:%d" % (dev_eui, counter),
                      received_at=float(doc["at"]), f_port=int(doc["fport"]), f_cnt=counter,
                      data=frame, frequency=doc.get("frequency"),
                      spreading_factor=doc.get("spreading_factor"), bandwidth=doc.get("bandwidth"),
                      receptions=(rx,))
    except (KeyError, TypeError, ValueError) as e:
        raise InputError("bad_message", f"serial source message: {e!r}") from None
