"""bridge/jsonio.py: every JSON document survives a round trip through the standard library,
orjson's refusals fall back, and what orjson decodes differently is what RFC 8259 forbids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import jsonio


def json_docs(int_lo: int, int_hi: int) -> st.SearchStrategy[Any]:
    """JSON documents (nested lists and objects) with integers in int_lo..int_hi."""
    scalars = (st.none() | st.booleans() | st.integers(int_lo, int_hi) | st.text(max_size=20)
               | st.floats(allow_nan=False, allow_infinity=False))
    return st.recursive(scalars, lambda kids: st.lists(kids, max_size=5)
                        | st.dictionaries(st.text(max_size=10), kids, max_size=5), max_leaves=30)


DOCS = json_docs(-(2**80), 2**80)  # beyond 64 bits: orjson refuses, the fallback encodes
DOCS_64 = json_docs(-(2**63), 2**64 - 1)  # what orjson decodes exactly


@settings(max_examples=500, deadline=None)
@given(DOCS)
def test_dumps_round_trips_through_the_standard_library(doc: Any) -> None:
    assert json.loads(jsonio.dumps(doc)) == doc
    sorted_doc = json.loads(jsonio.dumps_sorted(doc))
    assert sorted_doc == doc
    if isinstance(doc, dict):
        assert list(json.loads(jsonio.dumps(doc))) == list(doc)  # insertion order kept
        assert list(sorted_doc) == sorted(doc)


@settings(max_examples=300, deadline=None)
@given(DOCS_64)
def test_loads_reads_what_the_standard_library_writes(doc: Any) -> None:
    text = json.dumps(doc).encode()
    assert jsonio.loads(text) == json.loads(text) == doc


def test_integers_beyond_64_bits_decode_as_floats() -> None:
    assert jsonio.loads(b"[36893488147419103232]") == [float(2**65)]


def test_non_string_keys_and_big_integers_fall_back() -> None:
    assert json.loads(jsonio.dumps({1: 2**70})) == {"1": 2**70}
    assert jsonio.dumps_sorted({"b": 1, "a": [2**65]}) == b'{"a":[36893488147419103232],"b":1}'


@pytest.mark.parametrize("text", [b"NaN", b"[Infinity]", b'{"a":1e400}', b"\xef\xbb\xbf{}",
                                  b'"\\ud800"', b"\xff"])
def test_what_rfc_8259_forbids_is_refused(text: bytes) -> None:
    with pytest.raises(jsonio.JSONDecodeError):  # a ValueError, which fields.load_json catches
        jsonio.loads(text)
