"""Hypothesis strategies for frames and commands (size knobs as named constants)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from payload_codec import lpp
from payload_codec import registry as reg

MAX_BATCH = 8
MAX_LPP_RECORDS = 6
MAX_RANDOM_BYTES = 24


def quantity_value(row: tuple) -> st.SearchStrategy[Any]:
    """A value on the quantity's grid (as a node reads it), or None for a failed sensor."""
    if row[7] == reg.BOOL:
        return st.one_of(st.none(), st.booleans())
    raw = st.integers(row[3], row[4])
    if row[6] == 1:
        return st.one_of(st.none(), raw.map(lambda r: r * row[5]))
    return st.one_of(st.none(), raw.map(lambda r: r * row[5] / row[6]))


@st.composite
def sample_values(draw: st.DrawFn, qids: tuple | None = None) -> dict[str, Any]:
    if qids is None:
        qids = tuple(draw(st.lists(st.sampled_from([r[0] for r in reg.QUANTITIES]), min_size=1,
                                   max_size=8, unique=True)))
    return {reg.by_id(q)[1]: draw(quantity_value(reg.by_id(q))) for q in qids}


@st.composite
def measurement_args(draw: st.DrawFn) -> tuple[str, Any]:
    """("single", values) or ("batch", [(offset, values)])."""
    if draw(st.booleans()):
        prof = draw(st.sampled_from(reg.PROFILES))
        qids = prof[2]
    else:
        qids = tuple(draw(st.lists(st.sampled_from([r[0] for r in reg.QUANTITIES]), min_size=1,
                                   max_size=6, unique=True)))
    if draw(st.booleans()):
        return "single", draw(sample_values(qids))
    n = draw(st.integers(1, MAX_BATCH))
    offs = sorted(draw(st.lists(st.integers(-100000, 0), min_size=n, max_size=n, unique=True)))
    return "batch", [(o, draw(sample_values(qids))) for o in offs]


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)

status_dicts = st.fixed_dictionaries({}, optional={
    "firmware": st.text(max_size=32),
    "reset_cause": st.sampled_from(["unknown", "power_on", "hard", "watchdog", "deep_sleep", "soft"]),
    "uptime_s": st.integers(0, 0xFFFFFFFF),
    "sensor_errors": st.dictionaries(names, st.integers(0, 0xFFFFFFFF), max_size=4),
    "battery_voltage": st.integers(0, 65535).map(lambda mv: mv / 1000),
    "config_hash": st.integers(0, 0xFFFFFFFF),
    "config_errors": st.lists(names, max_size=3),
    "command_result": st.fixed_dictionaries({
        "command": st.sampled_from(["set_interval_s", "enable", "reboot", "set_data_rate"]),
        "result": st.sampled_from(["ok", "out_of_range", "unknown_command", "unsupported", "malformed",
                                   "busy"])}),
    "sample_counter": st.integers(0, 0xFFFFFFFF),
    "interval_s": st.integers(0, 0xFFFFFFFF),
    "failed_sensors": st.lists(names, max_size=3),
})

_qnames = st.sampled_from([r[1] for r in reg.QUANTITIES])
# error messages quote values as Python's repr() does; the codec mirrors it for ASCII, while
# repr's escaping of non-printable non-ASCII characters is a documented difference
_ascii = st.text(st.characters(max_codepoint=0x7F), max_size=6)
# JSON-like command values, valid and invalid (whole-number floats are left out: JSON
# cannot tell 600.0 from 600 once parsed in JavaScript; docs/interop.md)
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10, 100000),
                       st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)),
                       _ascii, _qnames)
# JavaScript objects list integer-like keys first whatever the JSON order (ECMA-262
# [[OwnPropertyKeys]]), so which unknown key an error names could differ: keys are not numerals
_keys = st.text(st.characters(max_codepoint=0x7F), max_size=4).filter(lambda k: not k.isdigit())
_json = st.recursive(_json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(_keys, c, max_size=3),
                     max_leaves=6)
commands = st.one_of(
    st.fixed_dictionaries({}, optional={
        "set_interval_s": st.integers(0, 100000),
        "set_confirmed_every": st.integers(-1, 256),
        "enable": st.lists(_qnames, min_size=1, max_size=3),
        "disable": st.lists(_qnames | _ascii, max_size=3),
        "request_status": st.booleans(),
        "reboot": st.booleans(),
        "announce_layout": st.booleans(),
        "set_data_rate": st.fixed_dictionaries({}, optional={"dr": st.integers(0, 16), "adr": st.booleans()}),
    }),
    st.dictionaries(st.sampled_from(["set_interval_s", "enable", "reboot", "set_data_rate", "bogus"]), _json,
                    max_size=3),
    _json,
)


@st.composite
def lpp_items(draw: st.DrawFn, type_ids: tuple | None = None) -> list[tuple[int, int, Any]]:
    """Records with raw integers in range, as values on each type's grid."""
    ids = type_ids or tuple(t[0] for t in lpp.TYPES)
    items = []
    for _ in range(draw(st.integers(1, MAX_LPP_RECORDS))):
        t = lpp.type_info(draw(st.sampled_from(ids)))
        vals = []
        for c in t[3]:
            bits = 8 * c[1]
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if c[2] else (0, (1 << bits) - 1)
            raw = draw(st.integers(lo, hi))
            vals.append(raw if c[3] == 1 else raw / c[3])
        value = vals[0] if t[3][0][0] is None else vals
        items.append((draw(st.integers(0, 255)), t[0], value))
    return items


random_bytes = st.binary(max_size=MAX_RANDOM_BYTES)
