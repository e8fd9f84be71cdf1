"""Pass-through names (docs/bridge.md §4): valid SenML names, one per key path, never merged."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import chirpstack, decoding
from bridge.model import Uplink
from tests.bridge import lns

EUI = "70b3d57ed0001234"
SENML_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*\Z")  # RFC 8428 §4.5.1


def _senml(obj: dict) -> dict:
    up = chirpstack.parse(lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, 1, b"\x01", obj=obj)))
    assert isinstance(up, Uplink)
    return {r["n"]: r.get("v", r.get("vb", r.get("vs"))) for r in decoding.decode(up, "passthrough", None).senml}


def test_the_reported_merges_stay_apart() -> None:
    assert _senml({"temp C": 1, "temp_C": 2, "température": 3, "temperature": 4}) == {
        "temp:20:C": 1, "temp_C": 2, "temp:e9:rature": 3, "temperature": 4}


def test_nesting_and_keys_with_separators_stay_apart() -> None:
    assert _senml({"a": {"b": 1}, "a_b": 2, "a.b": 3, "_id": 4, "": 5, "l": [6]}) == {
        "a.b": 1, "a_b": 2, "a:2e:b": 3, "x::_id": 4, "x::": 5, "l.0": 6}


def test_plain_keys_are_unchanged() -> None:
    for key in ("temperature", "battery_v", "pm2_5", "CO2-ppm", "0x1f"):
        assert decoding.passthrough_name((key,)) == key


keys = st.text(max_size=12)
paths = st.lists(keys, min_size=1, max_size=4).map(tuple)


@settings(max_examples=500, deadline=None)
@given(a=paths, b=paths)
def test_two_distinct_key_paths_never_share_a_name(a: tuple[str, ...], b: tuple[str, ...]) -> None:
    na, nb = decoding.passthrough_name(a), decoding.passthrough_name(b)
    assert SENML_NAME.match(na) and SENML_NAME.match(nb)
    assert decoding.passthrough_path(na) == a  # one-to-one: the name gives the path back
    assert (na == nb) == (a == b)


@settings(max_examples=200, deadline=None)
@given(obj=st.dictionaries(keys, st.integers(-5, 5) | st.dictionaries(keys, st.booleans(), max_size=3),
                           min_size=1, max_size=8))
def test_every_scalar_of_an_object_gets_its_own_record(obj: dict) -> None:
    scalars = sum(len(v) if isinstance(v, dict) else 1 for v in obj.values())
    if not scalars:
        return
    names = _senml(obj)
    assert len(names) == scalars  # nothing merged, nothing dropped
    for name, value in names.items():
        node: object = obj
        for k in decoding.passthrough_path(name):
            assert isinstance(node, dict)
            node = node[k]
        assert node == value
