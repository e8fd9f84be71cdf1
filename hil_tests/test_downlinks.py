"""Scenarios driven from the network side through the LNS downlink queue (fPort 10).

"downlink changes the interval": ``set_interval_s`` is confirmed by a status frame and the
following measurements come at the new period. "status on request": ``request_status`` is
answered with a status frame carrying the command result and the node's counters."""

from __future__ import annotations

from itertools import pairwise

import payload_codec

from .expect import RAMP

INTERVAL_S = 60
NEW_INTERVAL_S = 20


def _first_measurement(node, uplinks):
    return uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.MEASUREMENT,
                        node.budget(2 * INTERVAL_S, 4), "first measurement")[0]


def _reply_to(uplinks, node, command: str, after_vt: float):
    return uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.STATUS and e.vt > after_vt
                        and e.status.get("command_result", {}).get("command") == command,
                        node.budget(3 * INTERVAL_S, 5), f"status answering {command}")[0]


def test_downlink_changes_the_interval(start_node, uplinks) -> None:
    node = start_node({"interval_s": INTERVAL_S, "status_every": 0}, RAMP)
    first = _first_measurement(node, uplinks)
    uplinks.downlink({"set_interval_s": NEW_INTERVAL_S})  # delivered in RX1 of the next uplink
    reply = _reply_to(uplinks, node, "set_interval_s", first.vt)
    assert reply.status["command_result"]["result"] == "ok"
    assert reply.status["interval_s"] == NEW_INTERVAL_S
    after = uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.MEASUREMENT and e.vt > reply.vt,
                         node.budget(5 * NEW_INTERVAL_S, 6), "measurements at the new interval", count=4)
    gaps = [b.vt - a.vt for a, b in pairwise(after)]
    assert all(abs(g - NEW_INTERVAL_S) <= 2.5 for g in gaps), gaps
    before = [e for e in uplinks.measurements() if e.vt <= first.vt + INTERVAL_S / 2]
    assert before and all(e.vt < reply.vt for e in before)


def test_status_on_request(start_node, uplinks) -> None:
    node = start_node({"interval_s": INTERVAL_S, "status_every": 0}, RAMP)
    first = _first_measurement(node, uplinks)
    statuses_before = len(uplinks.statuses())
    uplinks.downlink({"request_status": True})
    reply = _reply_to(uplinks, node, "request_status", first.vt)
    st = reply.status
    assert st["command_result"]["result"] == "ok"
    assert len(uplinks.statuses()) == statuses_before + 1  # exactly one answer
    assert st["interval_s"] == INTERVAL_S
    assert st["sample_counter"] >= first.decoded.get("counter", 0)
    assert st["reset_cause"] in ("deep_sleep", "power_on")
    assert not st.get("failed_sensors")
