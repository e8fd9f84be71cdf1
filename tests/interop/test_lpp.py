"""Cayenne LPP: published values, agreement with pycayennelpp, round trips, typed errors,
and the same results on the MicroPython Unix port."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from cayennelpp import LppFrame
from hypothesis import given, settings

from payload_codec import lpp
from payload_codec.errors import DecodeError, EncodeError, TruncatedError
from trosmart_tools.corpus import same_json
from trosmart_tools.mpy import MicroPythonBatch

from . import strategies as S

# types pycayennelpp 2.4 implements (its lpp_type.py), all with the same size/sign/scale as ours
PYCAYENNE_TYPES = (0, 1, 2, 3, 100, 101, 102, 103, 104, 113, 115, 116, 117, 118, 120, 121, 122, 125,
                   128, 130, 131, 132, 133, 134, 135, 136, 142)
DRIVER = Path(__file__).with_name("mpy_lpp_driver.py")


# published frames and the values their documents give (docs/references.md §H)
@pytest.mark.parametrize(("hexframe", "expected"), [
    ("03670110056700FF", [(3, 103, 27.2), (5, 103, 25.5)]),  # myDevices / TTS example
    ("0167FFD7067104D2FB2E0000", [(1, 103, -4.1), (6, 113, {"x": 1.234, "y": -1.234, "z": 0})]),
    ("018806765FF2960A0003E8", [(1, 136, {"latitude": 42.3519, "longitude": -87.9094, "altitude": 10})]),
    ("018806765EF2960A0003E8", [(1, 136, {"latitude": 42.3518, "longitude": -87.9094, "altitude": 10})]),
    ("156601156600", [(21, 102, 1), (21, 102, 0)]),  # duplicates are kept, in order (§H.4.7)
    ("0174FFFF", [(1, 116, 655.35)]),  # voltage is unsigned (§H.4.2)
    ("066632", [(6, 102, 50)]),  # no range check (§H.4.6)
    ("047D0FEF", [(4, 125, 4079)]),
    ("078718EF0F", [(7, 135, {"r": 24, "g": 239, "b": 15})]),
    ("016700EB026864037327100402015E", [(1, 103, 23.5), (2, 104, 50), (3, 115, 1000), (4, 2, 3.5)]),
], ids=["mydevices-2temp", "mydevices-accel", "mydevices-gps", "ec-gps-truncated", "npm-dup",
        "voltage-ffff", "tts-presence-50", "ec-concentration", "ec-colour", "bench-anchor"])
def test_published_frames(hexframe: str, expected: list) -> None:
    assert same_json([list(i) for i in expected], [list(i) for i in lpp.decode(bytes.fromhex(hexframe))])


def test_encoder_rounds_where_electroniccats_truncates() -> None:
    # float32(42.3519) = 42.3518982: x 10000 truncates to 423518 (0x06765E); rounding gives 0x06765F
    f32 = 42.35189819335938
    assert lpp.encode([(1, "gps", (f32, -87.9094, 10))]).hex() == "018806765ff2960a0003e8"


@pytest.mark.parametrize(("type_", "value", "raw_hex"), [
    ("temperature", 21.35, "00d6"), ("temperature", -21.35, "ff2a"), ("analog_input", 2.675, "010c"),
    ("temperature", 21.349, "00d5"), ("humidity", 48.25, "61"), ("gps", (0.00005, -0.00005, 0.005), None),
])
def test_half_steps_round_away_from_zero(type_: str, value: Any, raw_hex: str | None) -> None:
    frame = lpp.encode([(1, type_, value)])
    if raw_hex is not None:
        assert frame[2:].hex() == raw_hex
    else:
        assert frame[2:].hex() == "000001" + "ffffff" + "000001"


def test_senml_names_carry_the_channel_and_use_registry_units() -> None:
    pack = lpp.decode_senml(bytes.fromhex("03670110056700FF0173271002680306880676 5FF2960A0003E8"
                                          .replace(" ", "")))
    assert [r["n"] for r in pack] == ["temperature/3", "temperature/5", "pressure/1", "humidity/2",
                                      "latitude/6", "longitude/6", "altitude/6"]
    assert [r.get("u") for r in pack] == ["Cel", "Cel", "hPa", "%RH", "lat", "lon", "m"]
    assert pack[0]["bver"] == 26  # hPa is a secondary unit (RFC 8798 + RFC 9100)


@pytest.mark.parametrize(("hexframe", "cls", "where"), [
    ("0167011B02680195", TruncatedError, "byte 7"),  # janpieper's 2-byte humidity (§H.4.5)
    ("01FE00", DecodeError, "unknown type 254"),
    ("0167", TruncatedError, "type 103 temperature"),
    ("0188067665", TruncatedError, "type 136 gps"),
    ("", TruncatedError, "empty"),
])
def test_malformed_frames_raise_typed_errors(hexframe: str, cls: type, where: str) -> None:
    with pytest.raises(cls, match=where):
        lpp.decode(bytes.fromhex(hexframe))
    with pytest.raises(cls, match=where):
        lpp.decode_senml(bytes.fromhex(hexframe))


@pytest.mark.parametrize("items", [
    [(1, "humidity", 128)], [(1, "temperature", 3276.8)], [(1, "voltage", -0.01)], [(256, 103, 1)],
    [(1, "nope", 1)], [(1, 103, float("nan"))], [(1, 103, True)], [(1, "gps", (1, 2))], [],
    [(1, "colour", {"r": 1, "g": 2})],
])
def test_encode_refuses_what_lpp_cannot_carry(items: list) -> None:
    with pytest.raises(EncodeError):
        lpp.encode(items)


def test_encode_json_takes_names_or_ids() -> None:
    frame = lpp.encode_json([{"channel": 3, "type": "temperature", "value": 27.2},
                             {"channel": 5, "type": 103, "value": 25.5}])
    assert frame.hex() == "03670110056700ff"
    with pytest.raises(EncodeError):
        lpp.encode_json({"channel": 1})


@settings(max_examples=300, deadline=None)
@given(items=S.lpp_items(PYCAYENNE_TYPES))
def test_decode_agrees_with_pycayennelpp(items: list) -> None:
    data = lpp.encode(items)
    theirs = [(d.channel, int(d.type), d.value) for d in LppFrame.from_bytes(data).data]
    ours = lpp.decode(data)
    assert len(theirs) == len(ours)
    for (ch, tid, value), (tch, ttid, tvals) in zip(ours, theirs, strict=True):
        assert (ch, tid) == (tch, ttid)
        mine = list(value.values()) if isinstance(value, dict) else [value]
        assert list(tvals) == mine  # exact: both divide the raw integer by the resolution


@settings(max_examples=300, deadline=None)
@given(items=S.lpp_items(PYCAYENNE_TYPES))
def test_pycayennelpp_reads_what_we_encode(items: list) -> None:
    theirs = [(d.channel, int(d.type), list(d.value)) for d in LppFrame.from_bytes(lpp.encode(items)).data]
    assert theirs == [(ch, tid, list(v) if isinstance(v, list) else [v]) for ch, tid, v in items]


@settings(max_examples=300, deadline=None)
@given(items=S.lpp_items(PYCAYENNE_TYPES))
def test_we_encode_like_pycayennelpp_except_where_it_truncates(items: list) -> None:
    frame = LppFrame()
    for ch, tid, value in items:
        frame.add_by_type(tid, ch, tuple(value) if isinstance(value, list) else (value,))
    theirs, ours = bytes(frame), lpp.encode(items)
    pos = 0
    for _, tid, value in items:
        pos += 2
        for v, c in zip(value if isinstance(value, list) else [value], lpp.type_info(tid)[3], strict=True):
            a = int.from_bytes(ours[pos:pos + c[1]], "big", signed=bool(c[2]))
            b = int.from_bytes(theirs[pos:pos + c[1]], "big", signed=bool(c[2]))
            assert a == round(v * c[3])  # ours: the grid value itself
            assert b == int(v * c[3])  # theirs: int() truncates toward zero (docs/references.md §H.4.1)
            pos += c[1]
    assert pos == len(ours) == len(theirs)


@settings(max_examples=300, deadline=None)
@given(items=S.lpp_items())
def test_round_trip_all_types(items: list) -> None:
    decoded = lpp.decode(lpp.encode(items))
    assert [(c, t) for c, t, _ in decoded] == [(c, t) for c, t, _ in items]
    again = lpp.encode([(c, t, v) for c, t, v in decoded])
    assert again == lpp.encode(items)


@settings(max_examples=300, deadline=None)
@given(data=S.random_bytes)
def test_arbitrary_bytes_decode_fully_or_raise(data: bytes) -> None:
    try:
        items = lpp.decode(data)
    except DecodeError:
        return
    assert lpp.encode(items) == data  # nothing dropped: every byte is accounted for


def _vectors() -> tuple[list[dict[str, Any]], list[Any]]:
    rnd = random.Random(1234)
    reqs: list[dict[str, Any]] = []
    for t in lpp.TYPES:
        for _ in range(4):
            vals = []
            for c in t[3]:
                bits = 8 * c[1]
                lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if c[2] else (0, (1 << bits) - 1)
                raw = rnd.choice([lo, hi, 0, rnd.randint(lo, hi)])
                vals.append(raw / c[3] if c[3] != 1 else raw)
            value = vals[0] if t[3][0][0] is None else vals
            reqs.append({"encode": [[rnd.randint(0, 255), t[0], value]]})
    for _ in range(200):
        reqs.append({"decode": bytes(rnd.randint(0, 255) for _ in range(rnd.randint(0, 14))).hex()})
    for h in ("03670110056700FF", "0167011B02680195", "018806765FF2960A0003E8", ""):
        reqs.append({"decode": h})
    return reqs, []


def _cpython(req: dict[str, Any]) -> dict[str, Any]:
    try:
        if "decode" in req:
            data = bytes.fromhex(req["decode"])
            return {"items": [list(i) for i in lpp.decode(data)], "senml": lpp.decode_senml(data)}
        return {"hex": lpp.encode([tuple(i) for i in req["encode"]]).hex()}
    except DecodeError as e:
        return {"error": [type(e).__name__, str(e)]}


@pytest.mark.micropython
def test_same_results_on_micropython(micropython: str) -> None:
    reqs, _ = _vectors()
    answers = MicroPythonBatch(DRIVER).call_many(reqs)
    for req, got in zip(reqs, answers, strict=True):
        assert same_json(_cpython(req), got), (req, got)
