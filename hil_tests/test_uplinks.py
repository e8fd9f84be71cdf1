"""Scenario "periodic uplinks": measurements arrive every ``interval_s`` and decode (with
payload_codec, as the bridge does) to the scenario's values within the codec's resolution on
the virtual board, or to plausible values on a real one; the frame counter only grows."""

from __future__ import annotations

from itertools import pairwise

import payload_codec

from .expect import RAMP, check_values

INTERVAL_S = 120
SAMPLES = 5


def test_periodic_uplinks_decode_to_expected_values(start_node, uplinks) -> None:
    node = start_node({"interval_s": INTERVAL_S, "status_every": 0}, RAMP)
    ups = uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.MEASUREMENT and _live(e),
                       node.budget(INTERVAL_S * (SAMPLES + 1), SAMPLES + 3), "measurements", count=SAMPLES)
    for e in ups:
        assert e.decoded["kind"] == "measurement" and e.decoded["profile"] == "environment", e.decoded
        check_values(node, e.values, e.vt)
    gaps = [b.vt - a.vt for a, b in pairwise(ups)]
    tol = 2.0 + 0.02 * INTERVAL_S  # the node subtracts its awake time from the sleep
    assert all(abs(g - INTERVAL_S) <= tol for g in gaps), gaps
    fcnts = [e.fcnt for e in uplinks.of("up")]
    assert fcnts == sorted(set(fcnts)), fcnts
    assert not uplinks.errors, uplinks.errors


def _live(e) -> bool:
    """A live measurement: one sample, sent as measured (the store's batches, docs/firmware.md
    §12, carry older samples with their offsets: the first after power-on waited for the join)."""
    samples = e.decoded.get("samples") or []
    return len(samples) == 1 and samples[0]["offset_s"] == 0
