"""The MAC's crypto and frames against lora-packet (npm), both directions, on hypothesis-generated
frames and keys; the MAC side runs on CPython and on the MicroPython Unix port."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import mpy_batch, node_batch

KEY = st.binary(min_size=16, max_size=16).map(bytes.hex)
MTYPES = ["Unconfirmed Data Up", "Unconfirmed Data Down", "Confirmed Data Up", "Confirmed Data Down"]
CODES = {name: i + 2 for i, name in enumerate(MTYPES)}


@st.composite
def data_frames(draw: Any) -> dict[str, Any]:
    port = draw(st.integers(0, 223))
    fopts = b"" if port == 0 else draw(st.binary(max_size=15))
    return {
        "op": "build_data", "mtype": draw(st.sampled_from(MTYPES)),
        "devaddr": draw(st.binary(min_size=4, max_size=4)).hex(),
        "fcnt32": draw(st.integers(0, 2**32 - 1)), "fport": port, "fopts": fopts.hex(),
        "payload": draw(st.binary(max_size=64)).hex(), "adr": draw(st.booleans()), "ack": draw(st.booleans()),
        "adrackreq": draw(st.booleans()), "fpending": draw(st.booleans()), "nwk": draw(KEY), "app": draw(KEY),
    }


@st.composite
def joins(draw: Any) -> dict[str, Any]:
    return {
        "joineui": draw(st.binary(min_size=8, max_size=8)).hex(),
        "deveui": draw(st.binary(min_size=8, max_size=8)).hex(),
        "devnonce": draw(st.binary(min_size=2, max_size=2)).hex(), "appkey": draw(KEY),
        "joinnonce": draw(st.binary(min_size=3, max_size=3)).hex(),
        "netid": draw(st.binary(min_size=3, max_size=3)).hex(),
        "devaddr": draw(st.binary(min_size=4, max_size=4)).hex(), "dlsettings": draw(st.integers(0, 0x7F)),
        "rxdelay": draw(st.integers(0, 15)),
        "cflist": draw(st.one_of(st.just(""), st.binary(min_size=16, max_size=16).map(bytes.hex))),
    }


def _decode_req(case: dict[str, Any], phy: str) -> dict[str, Any]:
    return {"op": "decode_data", "phy": phy, "nwk": case["nwk"], "app": case["app"], "fcnt32": case["fcnt32"]}


def _check_data(cases: list[dict[str, Any]], ours: Any) -> None:
    built = ours(cases)
    js_dec = node_batch([_decode_req(c, b["phy"]) for c, b in zip(cases, built)])
    js_built = node_batch(cases)
    our_dec = ours([_decode_req(c, b["phy"]) for c, b in zip(cases, js_built)])
    for c, b, jd, jb, od in zip(cases, built, js_dec, js_built, our_dec):
        assert "error" not in b and "error" not in jb, (c, b, jb)
        assert b["phy"] == jb["phy"], c  # same bytes from both implementations
        assert jd["mic_ok"] and od["mic_ok"], c
        for d in (jd, od):
            assert d["devaddr"] == c["devaddr"] and d["fcnt"] == c["fcnt32"] & 0xFFFF
            assert d["fopts"] == c["fopts"] and d["fport"] == c["fport"] and d["payload"] == c["payload"]
        assert od["mtype"] == CODES[c["mtype"]] and jd["mtype"] == c["mtype"]


def _check_joins(cases: list[dict[str, Any]], ours: Any) -> None:
    reqs = [dict(c, op="build_join_request") for c in cases]
    built, js_built = ours(reqs), node_batch(reqs)
    assert [b["phy"] for b in built] == [b["phy"] for b in js_built]
    dec = [{"op": "decode_join_request", "phy": b["phy"], "appkey": c["appkey"]} for c, b in zip(cases, js_built)]
    for d, c in zip(ours(dec), cases):
        assert d == {"joineui": c["joineui"], "deveui": c["deveui"], "devnonce": c["devnonce"], "mic_ok": True}
    accepts = node_batch([dict(c, op="build_join_accept") for c in cases])
    dec = [{"op": "decode_join_accept", "phy": a["phy"], "appkey": c["appkey"], "devnonce": c["devnonce"]}
           for c, a in zip(cases, accepts)]
    js_dec, our_dec = node_batch(dec), ours(dec)
    for c, jd, od in zip(cases, js_dec, our_dec):
        assert jd == od, c  # fields and both derived session keys
        assert jd["mic_ok"] and od["dlsettings"] == c["dlsettings"] and od["cflist"] == c["cflist"]


def cpython(reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import lw_ops

    return [lw_ops.answer(r) for r in reqs]


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(data_frames(), min_size=1, max_size=12), st.lists(joins(), min_size=1, max_size=5))
def test_cpython_matches_lora_packet(frames: list[dict[str, Any]], join_cases: list[dict[str, Any]]) -> None:
    _check_data(frames, cpython)
    _check_joins(join_cases, cpython)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(data_frames(), min_size=1, max_size=12), st.lists(joins(), min_size=1, max_size=5))
def test_micropython_matches_lora_packet(frames: list[dict[str, Any]], join_cases: list[dict[str, Any]]) -> None:
    _check_data(frames, mpy_batch)
    _check_joins(join_cases, mpy_batch)
