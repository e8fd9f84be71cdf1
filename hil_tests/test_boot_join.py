"""Scenario "boot and join": a fresh node powers on, joins by OTAA, reports why it booted,
then measures. Passes when the network sees one join, a status frame saying ``power_on``
with the configured interval, and a measurement whose values are right."""

from __future__ import annotations

import payload_codec

from .expect import RAMP, check_values

INTERVAL_S = 60


def test_boot_and_join(start_node, uplinks) -> None:
    node = start_node({"interval_s": INTERVAL_S}, RAMP)
    join = uplinks.wait(lambda e: e.kind == "join", node.budget(60, 2), "join")[0]
    status = uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.STATUS,
                          node.budget(60, 2), "status frame after power-on")[0]
    assert status.vt >= join.vt
    st = status.status
    assert st["reset_cause"] == "power_on", st
    assert st["interval_s"] == INTERVAL_S
    assert st["firmware"].startswith("trosmart-node")
    assert not st.get("config_errors"), st  # the deployed config.json is valid
    first = uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.MEASUREMENT,
                         node.budget(INTERVAL_S, 2), "first measurement")[0]
    assert first.decoded["kind"] == "measurement"
    check_values(node, first.values, first.vt)
    assert len(uplinks.of("join")) == 1
