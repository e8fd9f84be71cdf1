"""Hypothesis strategies for the codec (one module, size knobs as named constants)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from payload_codec import registry as reg
from payload_codec.measurement import MAX_SAMPLES

MAX_QUANTITIES = 8  # quantities per generated frame
MAX_BATCH = 12  # samples per generated batch (MAX_SAMPLES is tested separately)
P_INVALID = 0.1

QIDS = [row[0] for row in reg.QUANTITIES]


def value_for(row: tuple, raw: int, frac: float) -> Any:
    """A reading that must round to ``raw``: frac in [-0.49, 0.49] of a step."""
    if row[7] == reg.BOOL:
        return bool(raw)
    return (raw + frac) * row[5] / row[6]


def expected(row: tuple, raw: int | None) -> Any:
    if raw is None:
        return None
    if row[7] == reg.BOOL:
        return raw == 1
    return raw * row[5] if row[6] == 1 else raw * row[5] / row[6]


@st.composite
def reading(draw: st.DrawFn, row: tuple) -> tuple[Any, Any]:
    """(value to encode, value expected after decoding) for one quantity."""
    if draw(st.floats(0, 1)) < P_INVALID:
        return None, None
    raw = draw(st.one_of(st.integers(row[3], row[4]), st.sampled_from([row[3], row[4]])))
    frac = 0.0 if row[7] == reg.BOOL else draw(st.floats(-0.49, 0.49))
    return value_for(row, raw, frac), expected(row, raw)


@st.composite
def quantity_set(draw: st.DrawFn) -> list[tuple]:
    use_profile = draw(st.booleans())
    if use_profile:
        prof = draw(st.sampled_from(reg.PROFILES))
        return [reg.by_id(q) for q in prof[2]]
    qids = draw(st.lists(st.sampled_from(QIDS), min_size=1, max_size=MAX_QUANTITIES, unique=True))
    return [reg.by_id(q) for q in qids]


@st.composite
def sample(draw: st.DrawFn) -> tuple[dict, dict]:
    """(values, expected decoded values) for one sample."""
    rows = draw(quantity_set())
    vals, exp = {}, {}
    for row in rows:
        v, e = draw(reading(row))
        vals[row[1]] = v
        exp[row[1]] = e
    return vals, exp


@st.composite
def batch(draw: st.DrawFn, max_samples: int = MAX_BATCH) -> tuple[list, list]:
    """(samples [(offset, values)], expected [(offset, values)]) sharing one quantity set."""
    rows = draw(quantity_set())
    n = draw(st.integers(1, max_samples))
    uniform = draw(st.booleans())
    if uniform:
        gap = draw(st.integers(0, 7200))
        gaps = [gap] * (n - 1)
    else:
        gaps = draw(st.lists(st.integers(0, 100000), min_size=n - 1, max_size=n - 1))
    age = draw(st.integers(0, 100000))
    offsets = [-age]
    for g in reversed(gaps):
        offsets.insert(0, offsets[0] - g)
    samples, exp = [], []
    # values drift like real sensors most of the time, jump sometimes
    prev: dict[str, int] = {}
    for off in offsets:
        vals: dict[str, Any] = {}
        ev: dict[str, Any] = {}
        for row in rows:
            name = row[1]
            if draw(st.floats(0, 1)) < P_INVALID:
                vals[name] = ev[name] = None
                continue
            if name in prev and draw(st.booleans()):
                step = draw(st.integers(-20, 20))
                raw = min(max(prev[name] + step, row[3]), row[4])
            else:
                raw = draw(st.integers(row[3], row[4]))
            prev[name] = raw
            frac = 0.0 if row[7] == reg.BOOL else draw(st.floats(-0.49, 0.49))
            vals[name] = value_for(row, raw, frac)
            ev[name] = expected(row, raw)
        samples.append((off, vals))
        exp.append((off, ev))
    return samples, exp


assert MAX_BATCH <= MAX_SAMPLES
