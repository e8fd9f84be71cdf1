"""Joins: a join before the first uplink reaches ``meta`` with that uplink; the table of such
joins is bounded; ``sessions`` counts rejoins once (docs/bridge.md §3)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import payload_codec
from bridge import config
from bridge.joins import JoinTable
from bridge.metrics import PipelineMetrics
from bridge.model import InMessage
from bridge.pipeline import Batch, Processor

from . import lns

EUI = "70b3d57ed0001234"
JOIN_T = "2026-01-01T00:00:00Z"
JOIN_UNIX = 1767225600.0


def _processor() -> Processor:
    cfg = config.parse({"bridge": {"state_dir": "/nonexistent", "retained_delay_s": 0},
                        "city": {"port": 1883},
                        "source": [{"name": "cs", "port": 1883,
                                    "topics": ["application/+/device/+/event/+"]}]})
    return Processor(cfg, PipelineMetrics(), {}, lambda keys: set(), lambda cid: None,
                     {"cs": "chirpstack"})


def _join(p: Processor, b: Batch, eui: str, t: str = JOIN_T) -> None:
    body = {"time": t, "deviceInfo": {"devEui": eui}, "devAddr": "01020304"}
    p.handle_batch([InMessage("cs", lns.cs_topic(eui, "join"), json.dumps(body).encode(), 1, 1, 1)], b)


def _uplink(p: Processor, b: Batch, eui: str, f_cnt: int, session: int = 1) -> None:
    frame = payload_codec.encode({"temperature": 20.5})
    doc = lns.cs_up(eui, f_cnt, frame, t=JOIN_UNIX + 10 + f_cnt,
                    dedup=f"00000000-0000-4000-8000-{eui[-8:]}{session:02x}{f_cnt:02x}")
    p.handle_batch([InMessage("cs", lns.cs_topic(eui), lns.dumps(doc), 1, 2, 1)], b)


def _meta(p: Processor, b: Batch, eui: str) -> dict[str, Any]:
    p.emit_retained(b, float("inf"))
    rows = [r for r in b.all_rows() if r.topic.endswith(f"{eui}/meta")]
    assert rows, "no meta published"
    return dict(json.loads(rows[-1].payload))


def test_a_join_before_the_first_uplink_reaches_meta_with_it() -> None:
    p, b = _processor(), Batch()
    _join(p, b, EUI)
    assert not b.devices and len(p.joins) == 1  # no state, no meta for a device never heard
    _uplink(p, b, EUI, 0)
    m = _meta(p, b, EUI)
    assert m["joined_at"] == JOIN_UNIX and m.get("sessions", 1) == 1
    assert len(p.joins) == 0


def test_a_rejoin_counts_one_session_and_no_loss() -> None:
    p, b = _processor(), Batch()
    _join(p, b, EUI)
    for f_cnt in (0, 1, 2):
        _uplink(p, b, EUI, f_cnt)
    p.devices.update(b.devices)
    _join(p, b, EUI, "2026-01-01T01:00:00Z")
    _join(p, b, EUI, "2026-01-01T01:00:00Z")  # the same join redelivered: counted once
    _uplink(p, b, EUI, 0, session=2)  # the new session's counter starts at 0 again
    m = _meta(p, b, EUI)
    assert m["sessions"] == 2 and m["lost"] == 0 and m["joined_at"] == JOIN_UNIX + 3600
    _uplink(p, b, EUI, 5, session=2)
    assert _meta(p, b, EUI)["lost"] == 4


def test_a_flood_of_joins_keeps_the_table_at_its_size() -> None:
    p, b = _processor(), Batch()
    p.joins = JoinTable(100)
    for i in range(1000):
        _join(p, b, f"{i:016x}")
    assert len(p.joins) == 100 and p.joins.evicted == 900
    _uplink(p, b, f"{999:016x}", 0)  # among the newest: still known
    assert _meta(p, b, f"{999:016x}")["joined_at"] == JOIN_UNIX
    _uplink(p, b, f"{0:016x}", 0)  # the oldest went first
    assert "joined_at" not in _meta(p, b, f"{0:016x}")


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 20),
       ops=st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.floats(0, 1e9)), max_size=200))
def test_join_table_is_bounded_and_keeps_the_newest(size: int,
                                                    ops: list[tuple[bool, int, float]]) -> None:
    """Against a model: a list of (dev, time) with the oldest dropped past ``size``."""
    t, model = JoinTable(size), []
    for remember, dev, at in ops:
        key = f"{dev:016x}"
        if remember:
            model = [e for e in model if e[0] != key] + [(key, at)]
            model = model[-size:]
            t.remember(key, at)
        else:
            want = next((e[1] for e in model if e[0] == key), None)
            model = [e for e in model if e[0] != key]
            assert t.take(key) == want
        assert len(t) == len(model) <= size


def test_join_table_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one"):
        JoinTable(0)
