"""Make p2p-envelopes.jsonl: sealed codec frames and refusals.

Run: ``PYTHONPATH=. python tests/frames/envelopes/seed_envelopes.py OUT``.

The keys in the header are public test keys, never used on a real node.
Re-running rewrites the expectations with the current code: write elsewhere and compare.
"""

from __future__ import annotations

import json
import sys

from bridge.aes import Aes128
from payload_codec import envelope
from tests.codec.envelope_corpus import expectation

KEYS = {"00000001": "000102030405060708090a0b0c0d0e0f", "2CF7F120": "2b7e151628aed2a6abf7158809cf4f3c"}


def seal(dev: str, ctr: int, fport: int, frame: str, key: str | None = None) -> str:
    return envelope.seal(envelope.Signer(Aes128(bytes.fromhex(key or KEYS[dev]))), int(dev, 16), ctr, fport,
                         bytes.fromhex(frame)).hex()


def flip(h: str, i: int) -> str:
    b = bytearray.fromhex(h)
    b[i] ^= 0x01
    return b.hex()


def main(out: str) -> None:
    rows = [
        ("climate", seal("00000001", 1, 1, "24592c804c9600"), "the climate profile, counter 1"),
        ("air-quality", seal("2CF7F120", 4000, 1, "21594c3bdc01ec0c9b98"), "air quality, a later counter"),
        ("self-described", seal("00000001", 2, 1, "2000020102594c20"), "a self-described frame"),
        ("counter-max", seal("00000001", 0xFFFFFFFF, 1, "2609a54a"), "the last counter value"),
        ("empty-frame", seal("00000001", 3, 1, ""), "an empty codec frame: the envelope opens, the codec refuses"),
        ("bad-codec-frame", seal("00000001", 5, 1, "ff"), "a valid envelope around a frame of an unknown version"),
        ("fport-9", seal("00000001", 6, 9, "00"), "an fPort with no TroSmart uplink"),
        ("forged-frame", flip(seal("00000001", 7, 1, "24592c804c9600"), 10), "one frame bit flipped"),
        ("forged-counter", flip(seal("00000001", 8, 1, "24592c804c9600"), 8), "the counter changed after sealing"),
        ("forged-mic", flip(seal("00000001", 9, 1, "24592c804c9600"), -1), "the last MIC bit flipped"),
        ("wrong-key", seal("00000001", 10, 1, "24592c804c9600", KEYS["2CF7F120"]), "sealed with another device's key"),
        ("unknown-device", seal("0000BEEF", 1, 1, "236d00", KEYS["00000001"]), "a device id with no key"),
        ("truncated", seal("00000001", 1, 1, "")[:20], "10 bytes, shorter than the 13-byte overhead"),
        ("version-0", "00" + seal("00000001", 1, 1, "236d00")[2:], "envelope version 0"),
        ("fport-0", "10" + seal("00000001", 1, 1, "236d00")[2:], "fPort 0 in the header"),
        ("oversize", "11" + "00" * 239, "240 bytes, more than AT+PSEND carries"),
    ]
    lines = [json.dumps({"corpus": "trosmart-envelopes", "version": 1,
                         "title": "P2P envelopes (payload_codec.envelope)", "keys": KEYS})]
    for fid, h, note in rows:
        lines.append(json.dumps({"id": fid, "hex": h, "source": "synthetic", "note": note,
                                 "expect": expectation(KEYS, bytes.fromhex(h))}))
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
