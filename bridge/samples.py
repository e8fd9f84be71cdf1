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

Per device the bridge remembers the last ``KEEP`` samples as [time, digest] pairs, sorted
by time (``DeviceState.seen``). A live sample (newer than every remembered one) costs one
digest and an append; only older samples (catch-up batches) are looked up (bisect).
"""

from __future__ import annotations

import bisect
import zlib
from typing import Any

TOLERANCE_S = 5.0  # < half the node's smallest interval (10 s, node_config.py interval_s)
KEEP = 512  # samples remembered per device: more than a full node store (24 blocks x 12)


def digest(values: dict[str, Any]) -> int:
    """A stable digest of a sample's values (the same in every bridge process)."""
    return zlib.crc32(repr(sorted(values.items())).encode())


def _seen_near(seen: list[list[Any]], times: list[float], t: float, h: int) -> bool:
    i = bisect.bisect_left(times, t - TOLERANCE_S)
    while i < len(seen) and seen[i][0] <= t + TOLERANCE_S:
        if seen[i][1] == h:
            return True
        i += 1
    return False


def drop_repeats(decoded: dict[str, Any], bt: float, seen: list[list[Any]], batch: bool) -> int:
    """Remove the samples of ``decoded`` (payload_codec.decode_uplink, a measurement) that
    were seen before; remember the others in ``seen`` (changed in place). Returns the
    number removed. Only a batch frame (docs/codec.md §4) can repeat a sample: a node resends
    in batches only, so a single-sample frame is never left out (it is remembered)."""
    samples = decoded.get("samples") or []
    keep = []
    times: list[float] | None = None
    for s in samples:
        t = round(bt + s.get("offset_s", 0), 3)
        h = digest(s["values"])
        if seen and t <= seen[-1][0] + TOLERANCE_S:  # not newer than all: look it up
            if times is None:
                times = [e[0] for e in seen]
            if batch and _seen_near(seen, times, t, h):
                continue
            i = bisect.bisect_right(times, t)
            seen.insert(i, [t, h])
            times.insert(i, t)
        else:
            seen.append([t, h])
            if times is not None:
                times.append(t)
        keep.append(s)
    removed = len(samples) - len(keep)
    if removed:
        decoded["samples"] = keep
    if len(seen) > KEEP:
        del seen[: len(seen) - KEEP]
    return removed
