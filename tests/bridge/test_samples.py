"""Samples of a store-and-forward node (docs/bridge.md §3b): a catch-up batch places each sample at
its own time, never replaces the retained latest value with an older one, and a sample the node
resent in a later batch reaches the city once."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import payload_codec
from bridge import samples
from bridge.model import InMessage
from bridge.pipeline import Batch, Processor

from . import lns
from .test_retained import DELAY_S, EUI, Clock, _commit, _processor

T0 = 1767225600


def _send(p: Processor, b: Batch, f_cnt: int, frame: bytes, t: float) -> None:
    doc = lns.cs_up(EUI, f_cnt, frame, t=t)
    p.handle_batch([InMessage("cs", lns.cs_topic(EUI), lns.dumps(doc), 1, f_cnt, 1)], b)


def _senml(b: Batch) -> list[list[dict[str, Any]]]:
    return [json.loads(r.payload) for r in b.all_rows() if r.topic.endswith("/senml")]


def _temps(packs: list[list[dict[str, Any]]]) -> list[tuple[float, float]]:
    """(time, temperature) of every temperature record."""
    out = []
    for pack in packs:
        bt = pack[0]["bt"]
        for r in pack:
            if r["n"] == "temperature":
                out.append((round(bt + r.get("t", 0), 3), r["v"]))
    return out


def test_catch_up_batch_keeps_the_newest_latest_value_and_drops_the_repeat() -> None:
    clock = Clock()
    p = _processor(clock=clock)
    b = Batch()
    # live: sample A at T0 (delivered, but its proof was lost), then the outage; live B at T0+1800
    _send(p, b, 1, payload_codec.encode({"temperature": 20.0}), T0)
    _send(p, b, 2, payload_codec.encode({"temperature": 23.0}), T0 + 1800)
    # catch-up: A again (a repeat) and the outage's samples, oldest first, older than B
    batch = payload_codec.encode_batch([(-1200, {"temperature": 20.0}), (-600, {"temperature": 21.0}),
                                        (0, {"temperature": 22.0})])
    _send(p, b, 3, batch, T0 + 1200 + 1.7)  # offsets in whole seconds, a little airtime late
    assert _temps(_senml(b)) == [(T0, 20.0), (T0 + 1800, 23.0), (T0 + 601.7, 21.0), (T0 + 1201.7, 22.0)]
    assert p.metrics.registry.get_sample_value("trosmart_bridge_repeated_samples_total", {"source": "cs"}) == 1
    _commit(p, b)
    p.emit_retained(b, clock.now + DELAY_S)
    latest = {r.topic.rsplit("/", 1)[1]: json.loads(r.payload) for r in b.all_rows() if r.retain}
    assert latest["temperature"]["v"] == 23.0  # the live value, not the catch-up's newest (22.0)


def test_a_batch_of_repeats_only_publishes_nothing() -> None:
    p = _processor()
    b = Batch()
    _send(p, b, 1, payload_codec.encode_batch([(-600, {"temperature": 20.0}), (0, {"temperature": 20.5})]), T0)
    _send(p, b, 2, payload_codec.encode_batch([(-600, {"temperature": 20.0}), (0, {"temperature": 20.5})]),
          T0 + 2)
    assert len(_senml(b)) == 1


def test_single_sample_frames_are_never_left_out() -> None:
    # equal values 1 s apart from a device that is no store-and-forward node: both published
    p = _processor()
    b = Batch()
    frame = payload_codec.encode({"temperature": 20.0})
    _send(p, b, 1, frame, T0)
    _send(p, b, 2, frame, T0 + 1)
    assert len(_senml(b)) == 2


def test_the_remembered_samples_survive_a_restart() -> None:
    p = _processor()
    b = Batch()
    _send(p, b, 1, payload_codec.encode({"temperature": 20.0}), T0)
    _commit(p, b)
    from bridge.device import DeviceState

    saved = {k: DeviceState.from_json(json.loads(json.dumps(v.to_json()))) for k, v in p.devices.items()}
    p2 = _processor(devices=saved)
    b2 = Batch()
    _send(p2, b2, 2, payload_codec.encode_batch([(-3, {"temperature": 20.0})]), T0 + 4)
    assert _senml(b2) == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=60, unique=True), st.randoms(use_true_random=False),
       st.floats(0, 3.0))
def test_any_redundant_delivery_reaches_the_city_once(ks: list[int], rnd: Any, jitter: float) -> None:
    """Samples 600 s apart with distinct values, delivered live and again in overlapping batches
    in any order: each survives once, at its own time (within the tolerance)."""
    ks.sort()
    seen = bytearray()
    out: list[tuple[float, float]] = []
    frames = [[k] for k in ks]  # live
    for _ in range(len(ks)):  # resends: runs of consecutive samples
        i = rnd.randrange(len(ks))
        frames.append(ks[i:i + rnd.randint(1, 5)])
    rnd.shuffle(frames)
    for f in frames:
        send_at = T0 + 600 * f[-1] + rnd.uniform(0, jitter)
        if len(f) == 1 and rnd.random() < 0.5:
            data = payload_codec.encode({"temperature": f[0] / 10})
        else:
            data = payload_codec.encode_batch([(600 * (k - f[-1]), {"temperature": k / 10}) for k in f])
        d = payload_codec.decode_uplink(1, data)
        samples.drop_repeats(d, send_at, seen, bool(data[0] & 0x10))
        out.extend((send_at + s["offset_s"], s["values"]["temperature"]) for s in d["samples"])
    values = [v for _, v in out]
    # a single-sample frame may repeat (never left out); every batch repeat is gone
    singles = {f[0] for f in frames if len(f) == 1}
    for k in ks:
        n = values.count(k / 10)
        assert n >= 1
        assert n == 1 or k in singles
    for t, v in out:
        assert abs(t - (T0 + 600 * v * 10)) <= samples.TOLERANCE_S
