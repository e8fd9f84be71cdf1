"""Retained topics (latest values, ``meta``) held back by the pipeline for ``retained_delay_s``:
they go out with the state of then, a device sending without pause still gets them, and the
marks survive a restart through the saved device state."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import payload_codec
from bridge import config
from bridge.device import DeviceState
from bridge.metrics import PipelineMetrics
from bridge.model import InMessage
from bridge.pipeline import Batch, Processor
from bridge.store import Store

from . import lns

EUI = "70b3d57ed0001234"
EUI2 = "70b3d57ed0005678"
DELAY_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _processor(devices: dict[str, DeviceState] | None = None, clock: Clock | None = None,
               **bridge: Any) -> Processor:
    cfg = config.parse({"bridge": {"state_dir": "/nonexistent", "prefix": "city/v1",
                                   "retained_delay_s": DELAY_S,
                                   **bridge},
                        "city": {"port": 1883},
                        "source": [{"name": "cs", "port": 1883,
                                    "topics": ["application/+/device/+/event/up"]}]})
    return Processor(cfg, PipelineMetrics(), devices if devices is not None else {},
                     lambda keys: set(), lambda cid: None, {"cs": "chirpstack"},
                     clock or Clock())


def _up(p: Processor, b: Batch, eui: str, f_cnt: int, temperature: float) -> None:
    frame = payload_codec.encode({"temperature": temperature, "humidity": 50})
    doc = lns.cs_up(eui, f_cnt, frame, t=1767225600 + f_cnt)
    p.handle_batch([InMessage("cs", lns.cs_topic(eui), lns.dumps(doc), 1, f_cnt, 1)], b)


def _retained(b: Batch) -> dict[str, Any]:
    return {r.topic.split("/", 2)[2]: json.loads(r.payload) for r in b.all_rows() if r.retain}


def _after_one_uplink(**bridge: Any) -> tuple[Clock, Processor, Batch]:
    clock = Clock()
    p = _processor(clock=clock, **bridge)
    b = Batch()
    _up(p, b, EUI, 1, 20.0)
    return clock, p, b


def _commit(p: Processor, b: Batch) -> None:
    p.devices.update(b.devices)  # what the worker does after its transaction


def test_retained_topics_wait_for_the_delay_then_carry_the_newest_state() -> None:
    clock, p, b = _after_one_uplink()
    due = p.next_retained()
    assert due == clock.now + DELAY_S
    p.emit_retained(b, due - 1)
    assert _retained(b) == {}  # SenML only
    assert [r.topic for r in b.all_rows()] == [f"city/v1/{EUI}/senml"]
    _commit(p, b)
    b = Batch()
    clock.now += DELAY_S / 2
    _up(p, b, EUI, 2, 21.5)
    _up(p, b, EUI, 3, 22.0)
    assert p.next_retained() == due  # newer uplinks do not push the publication back
    p.emit_retained(b, due)
    got = _retained(b)
    assert set(got) == {f"{EUI}/temperature", f"{EUI}/humidity", f"{EUI}/meta"}
    assert got[f"{EUI}/temperature"]["v"] == 22.0 and got[f"{EUI}/meta"]["frames"] == 3
    assert b.devices[EUI].retained is None and "_latest" not in got[f"{EUI}/meta"]
    assert p.next_retained() == float("inf")


def test_a_device_sending_without_pause_is_published_once_per_delay() -> None:
    clock = Clock()
    p = _processor(clock=clock)
    published = []
    for f_cnt in range(1, 40):
        b = Batch()
        _up(p, b, EUI, f_cnt, 20.0 + f_cnt / 10)
        clock.now += DELAY_S / 10  # an uplink every tenth of the delay, never a pause
        p.emit_retained(b, clock.now)
        _commit(p, b)
        metas = [v for k, v in _retained(b).items() if k.endswith("/meta")]
        published += [m["frames"] for m in metas]
    assert 3 <= len(published) <= 4 and published == sorted(published)


def test_devices_are_due_in_the_order_they_changed() -> None:
    clock, p, b = _after_one_uplink()
    first = p.next_retained()
    clock.now += 1
    _up(p, b, EUI2, 1, 20.0)
    _up(p, b, EUI, 2, 20.0)
    p.emit_retained(b, first)
    assert set(_retained(b)) == {f"{EUI}/temperature", f"{EUI}/humidity", f"{EUI}/meta"}
    assert p.next_retained() > first


def test_marks_in_the_saved_state_are_due_at_once_after_a_restart() -> None:
    _, _, b = _after_one_uplink()
    # what the devices table holds after the commit
    saved = {k: DeviceState.from_json(json.loads(v)) for k, v in Store.device_rows(b.devices)}
    assert saved[EUI].retained == ["temperature", "humidity"]
    clock = Clock()
    restarted = _processor(saved, clock)
    assert restarted.next_retained() == clock.now
    b2 = Batch()
    restarted.emit_retained(b2, clock.now)
    got = _retained(b2)
    assert got[f"{EUI}/temperature"]["v"] == 20.0 and got[f"{EUI}/meta"]["frames"] == 1


def test_meta_only_without_retained_values() -> None:
    _, p, b = _after_one_uplink(retained_values=False)
    p.emit_retained(b, p.next_retained())
    assert set(_retained(b)) == {f"{EUI}/meta"} and not b.devices[EUI].latest


def test_no_delay_publishes_in_the_same_batch() -> None:
    clock, p, b = _after_one_uplink(retained_delay_s=0)
    p.emit_retained(b, clock.now)
    assert f"{EUI}/temperature" in _retained(b)


@settings(max_examples=50, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from([EUI, EUI2]), st.floats(0, 3)), min_size=1,
                      max_size=30))
def test_every_change_is_published_with_the_last_value(steps: list[tuple[str, float]]) -> None:
    """Whatever the timing, once everything is due each device's retained topics show its
    last uplink, and nothing stays marked."""
    clock = Clock()
    p = _processor(clock=clock)
    last: dict[str, float] = {}
    shown: dict[str, Any] = {}
    for i, (eui, pause) in enumerate(steps):
        b = Batch()
        temp = float(i % 50)
        _up(p, b, eui, i + 1, temp)
        last[eui] = temp
        clock.now += pause * DELAY_S
        p.emit_retained(b, clock.now)
        _commit(p, b)
        shown.update(_retained(b))
    b = Batch()
    p.emit_retained(b, float("inf"))  # what a stop does
    _commit(p, b)
    shown.update(_retained(b))
    assert {e: shown[f"{e}/temperature"]["v"] for e in last} == last
    assert p.next_retained() == float("inf")
    assert all(s.retained is None for s in p.devices.values())
