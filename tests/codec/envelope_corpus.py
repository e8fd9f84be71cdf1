"""The envelope corpus (tests/frames/envelopes): what opening a frame must give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bridge.aes import Aes128
from payload_codec import decode_uplink, envelope, to_senml
from payload_codec.errors import CodecError

CORPUS = Path(__file__).resolve().parents[1] / "frames" / "envelopes" / "p2p-envelopes.jsonl"


def expectation(keys: dict[str, str], data: bytes) -> dict[str, Any]:
    """{"opened": {device, counter, fport, senml}} or {"error": {class, message}}."""
    signers = {int(k, 16): envelope.Signer(Aes128(bytes.fromhex(v))) for k, v in keys.items()}
    try:
        dev, ctr, fport, frame = envelope.open_envelope(data, signers.get)
    except CodecError as e:
        return {"error": {"class": type(e).__name__, "message": str(e)}}
    try:
        senml: Any = to_senml(decode_uplink(fport, frame))
    except CodecError as e:
        senml = {"error": {"class": type(e).__name__, "message": str(e)}}
    return {"opened": {"device": "%08X" % dev, "counter": ctr, "fport": fport, "frame": frame.hex(),
                       "senml": senml}}


def load() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    header = lines[0]
    assert header.get("corpus") == "trosmart-envelopes" and header.get("version") == 1, CORPUS
    return header, lines[1:]
