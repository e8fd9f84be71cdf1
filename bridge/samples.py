"""Samples a store-and-forward node sent twice (docs/bridge.md §3b, docs/firmware.md §12).

A node keeps every sample until a proof of delivery covers it, so a sample that did arrive
may come again in a later batch (its proof was lost, or the node lost power before it
recorded the proof). The LNS cannot tell: the frame is new (new FCnt). The bridge can: a
sample's time is the reception time plus its offset, so the same sample resolves to the
same time within the timing error of the two frames (whole-second offsets, airtime, the
LNS's clock), and it carries the same values. A sample is a duplicate when a sample of
the device with equal values was seen within ``TOLERANCE_S`` of its time, and only samples
of batch frames are left out (the node resends in batches only). Samples of one
node are at least 10 s apart (the node's smallest interval), so two real samples never
fall within the tolerance of each other.

Per device the bridge remembers the last ``KEEP`` samples as (whole second, digest) pairs of
two uint32 in one bytearray (``DeviceState.seen``, stored as base64: a device's state is
written with every batch it appears in, and a list of floats would cost the hot path ~50 us).
A live sample costs one digest and an append; only batch samples are looked up.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

TOLERANCE_S = 5  # < half the node's smallest interval (10 s, node_config.py interval_s)
# samples remembered per device: a node resends what it sent since its last proof (proof_every,
# at most 32, node_config.py) and, after a power cut between a proof and its flash write, one
# batch (at most 32 samples, catch_up.py); the samples of an outage were never seen live
KEEP = 64
_ENTRY = struct.Struct("<II")


def digest(values: dict[str, Any]) -> int:
    """A stable digest of a sample's values (the same in every bridge process; the decoder
    gives one quantity set the same order in single and batch frames)."""
    return zlib.crc32(repr(tuple(values.values())).encode())


def _seen_near(seen: bytearray, t: int, h: int) -> bool:
    words = memoryview(seen).cast("I")
    return any(words[i + 1] == h and abs(words[i] - t) <= TOLERANCE_S for i in range(0, len(words), 2))


def drop_repeats(decoded: dict[str, Any], bt: float, seen: bytearray, batch: bool) -> int:
    """Remove the samples of ``decoded`` (payload_codec.decode_uplink, a measurement) that
    were seen before; remember the others in ``seen`` (changed in place). Returns the
    number removed. Only a batch frame (docs/codec.md §4) can repeat a sample: a node resends
    in batches only, so a single-sample frame is never left out (it is remembered)."""
    samples = decoded.get("samples") or []
    keep = []
    for s in samples:
        t = round(bt + s.get("offset_s", 0))
        h = digest(s["values"])
        if batch and seen and _seen_near(seen, t, h):
            continue
        seen += _ENTRY.pack(t & 0xFFFFFFFF, h)
        keep.append(s)
    removed = len(samples) - len(keep)
    if removed:
        decoded["samples"] = keep
    if len(seen) > (KEEP + 16) * 8:  # trimmed in steps: not a shift per uplink
        del seen[: len(seen) - KEEP * 8]
    return removed
