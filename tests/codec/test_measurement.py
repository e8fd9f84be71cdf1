"""Measurement frames: golden vectors, rounding, ranges, invalid markers, sizes, errors."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import payload_codec as pc
from payload_codec import measurement as m
from payload_codec import registry as reg

from . import strategies as S

AQ = {"temperature": 21.37, "humidity": 48.5, "pressure": 1013.2, "pm2_5": 12.3, "pm10": 20.1,
      "battery_voltage": 3.71}

# (id, values, frame hex) — bytes checked by hand against docs/codec.md §2-§3
GOLDEN = [
    ("air_quality", AQ, "21594c3bdc01ec0c9b98"),
    ("water_level", {"water_level": 1.234, "water_temperature": 12.5, "battery_voltage": 3.6}, "221348dad680"),
    ("parking", {"occupancy": True, "battery_voltage": 3.6}, "236d00"),
    ("climate", {"temperature": 21.3, "humidity": 50, "co2": 612, "battery_level": 88}, "24592c804c9600"),
    ("noise", {"noise_laeq": 55.3, "battery_voltage": 3.3}, "253f6940"),
    ("counter", {"counter": 1234, "battery_voltage": 3.3}, "2609a54a"),
    ("self-described", {"temperature": 21.37, "humidity": 48.5}, "2000020102594c20"),
    ("invalid-temperature", dict(AQ, temperature=None), "21ffec3bdc01ec0c9b98"),
]


@pytest.mark.parametrize(("values", "frame"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN])
def test_golden_vectors(values, frame):
    assert pc.encode(values).hex() == frame
    dec = pc.decode(bytes.fromhex(frame))
    for name, v in values.items():
        got = dec["samples"][0]["values"][name]
        if v is None:
            assert got is None
        else:
            row = reg.by_name(name)
            assert abs(got - v) <= row[5] / row[6] / 2 + 1e-9


def test_invalid_marker_is_all_ones_in_the_field():
    frame = pc.encode(dict(AQ, temperature=None))
    # header byte, then 11 bits of temperature: all ones
    assert frame[1] == 0xFF and frame[2] >> 5 == 0b111
    assert pc.decode(frame)["samples"][0]["values"]["temperature"] is None
    assert pc.decode(frame)["samples"][0]["values"]["humidity"] == 48.5


# Cayenne LPP bytes for the reference profiles (docs/references.md §H): record = channel + type + data.
# Native LPP types: temperature 2, humidity 1, barometer 2, presence 1. No LPP v1 type for PM, battery
# voltage, CO2, battery level, water level, noise, counter: analog input (2 bytes, 0.01) is the nearest.
LPP_RECORD = {"temperature": 4, "humidity": 3, "pressure": 4, "occupancy": 3, "water_temperature": 4}
ANALOG = 4


def lpp_bytes(names):
    return sum(LPP_RECORD.get(n, ANALOG) for n in names)


REFERENCE = {
    "air_quality": AQ,
    "water_level": {"water_level": 2.5, "water_temperature": 11.25, "battery_voltage": 3.6},
    "parking": {"occupancy": False, "battery_voltage": 3.4},
    "climate": {"temperature": 22.1, "humidity": 45.0, "co2": 850, "battery_level": 76},
    "noise": {"noise_laeq": 61.2, "battery_voltage": 3.5},
    "counter": {"counter": 412, "battery_voltage": 3.5},
}


@pytest.mark.parametrize("profile", sorted(REFERENCE))
def test_reference_profiles_meet_the_size_goal(profile):
    values = REFERENCE[profile]
    frame = pc.encode(values)
    assert pc.decode(frame)["profile"] == profile
    assert len(frame) <= 11, "must fit US915 DR0"
    assert len(frame) <= lpp_bytes(values) / 2


def test_three_sample_air_quality_batch_meets_the_size_goal():
    samples = [
        (-1200, AQ),
        (-600, dict(AQ, temperature=21.6, humidity=47.5, pressure=1013.4, pm2_5=14.0, pm10=22.9)),
        (0, dict(AQ, temperature=22.0, humidity=46.0, pressure=1013.1, pm2_5=11.1, pm10=19.5, battery_voltage=3.70)),
    ]
    frame = pc.encode_batch(samples)
    assert len(frame) <= 0.35 * 3 * lpp_bytes(AQ)
    dec = pc.decode(frame)
    assert [s["offset_s"] for s in dec["samples"]] == [-1200, -600, 0]
    assert dec["samples"][2]["values"]["pm10"] == 19.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [(21.35, 21.4), (21.25, 21.3), (-21.35, -21.4), (0.05, 0.1), (-0.05, -0.1), (21.349, 21.3),
     (2.675, 2.7), (21.3495, 21.3)],
)
def test_half_steps_round_away_from_zero_never_truncate(value, expected):
    assert pc.decode(pc.encode({"temperature": value}))["samples"][0]["values"]["temperature"] == expected


def test_float32_inputs_round_like_their_decimal_value():
    import struct

    # docs/references.md §H.4.1: float32(42.3519) * 10000 = 423518.97 -> truncation gives 42.3518
    f32 = struct.unpack("<f", struct.pack("<f", 42.3519))[0]
    assert pc.decode(pc.encode({"latitude": f32}))["samples"][0]["values"]["latitude"] == 42.3519
    f32 = struct.unpack("<f", struct.pack("<f", 21.35))[0]
    assert pc.decode(pc.encode({"temperature": f32}))["samples"][0]["values"]["temperature"] == 21.4


@pytest.mark.parametrize("row", reg.QUANTITIES, ids=lambda r: r[1])
def test_range_ends_encode_and_one_step_beyond_is_refused(row):
    lo_v, hi_v = S.expected(row, row[3]), S.expected(row, row[4])
    for v in (lo_v, hi_v):
        assert pc.decode(pc.encode({row[1]: v}))["samples"][0]["values"][row[1]] == v
    if row[7] == reg.BOOL:
        with pytest.raises(pc.EncodeError, match="true or false"):
            pc.encode({row[1]: 2})
        return
    step = row[5] / row[6]
    for v in (hi_v + step, lo_v - step):
        with pytest.raises(pc.EncodeError, match=r"outside its range .*refused"):
            pc.encode({row[1]: v})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_refused_with_a_hint(bad):
    with pytest.raises(pc.EncodeError, match="null to mark the sensor invalid"):
        pc.encode({"temperature": bad})


@pytest.mark.parametrize(
    ("values", "error", "match"),
    [({}, pc.EncodeError, "no values"), ({"pm3": 1}, pc.UnknownQuantityError, "pm3"),
     ({"temperature": "21"}, pc.EncodeError, "must be a number"),
     ({"temperature": True}, pc.EncodeError, "must be a number")],
)
def test_bad_values_raise_typed_errors(values, error, match):
    with pytest.raises(error, match=match):
        pc.encode(values)


@pytest.mark.parametrize(
    ("frame", "error", "match"),
    [
        ("", pc.TruncatedError, "empty frame"),
        ("21", pc.TruncatedError, "frame ends inside temperature"),
        ("21594c3bdc01ec0c9b", pc.TruncatedError, "battery_voltage"),
        ("21594c3bdc01ec0c9b9800", pc.DecodeError, "1 trailing bytes"),
        ("21594c3bdc01ec0c9b99", pc.DecodeError, "padding bits"),
        ("41594c3bdc01ec0c9b98", pc.UnsupportedVersionError, "version 2"),
        ("2f63", pc.UnknownProfileError, "unknown profile 99"),
        ("2005", pc.UnknownLayoutError, "unknown layout 5"),
        ("200000", pc.DecodeError, "lists no quantities"),
        ("20000301", pc.TruncatedError, "quantity list"),
        ("20000199ff", pc.UnknownQuantityError, "unknown quantity id 153"),
        ("20000101" + "fe00", pc.DecodeError, r"temperature code 2032 at bit 32 is out of range"),
        ("3100", pc.DecodeError, "sample count 0"),
        ("3141", pc.DecodeError, "sample count 65"),
        ("3102ff", pc.TruncatedError, "sample age"),
    ],
    ids=lambda x: x if isinstance(x, str) and len(x) < 24 else None,
)
def test_every_decode_error_path_is_typed_and_says_where(frame, error, match):
    with pytest.raises(error, match=match):
        pc.decode(bytes.fromhex(frame))


def test_unknown_layout_error_carries_the_id_for_the_bridge():
    with pytest.raises(pc.UnknownLayoutError) as ei:
        pc.decode(bytes.fromhex("2007"))
    assert ei.value.layout_id == 7
    assert isinstance(ei.value, ValueError)


def test_truncated_error_is_also_an_eof_error_on_cpython():
    with pytest.raises(EOFError):
        pc.decode(b"")


def test_announced_layout_round_trip():
    names = ("soil_moisture", "temperature", "illuminance")
    ann = pc.encode_layout(9, names)
    lay = pc.decode_uplink(pc.LAYOUT, ann)
    assert lay == {"kind": "layout", "layout": 9, "quantities": list(names)}
    frame = pc.encode({"soil_moisture": 31.2, "temperature": 18.4, "illuminance": 5400}, layout=(9, names))
    assert frame[:2] == b"\x20\x09"
    dec = pc.decode(frame, layouts={9: lay["quantities"]})
    assert dec["layout"] == 9 and dec["samples"][0]["values"]["illuminance"] == 5400
    with pytest.raises(pc.EncodeError, match="not in layout 9"):
        pc.encode({"co2": 400}, layout=(9, names))


def test_extended_profile_ids_use_an_extension_byte(monkeypatch):
    monkeypatch.setattr(reg, "PROFILES", (*reg.PROFILES, (40, "test_ext", (8, 13))))
    frame = pc.encode({"co2": 500, "noise_laeq": 40.0})
    assert frame[0] == 0x2F and frame[1] == 40
    assert pc.decode(frame)["profile"] == "test_ext"


def _close(dec_values, exp_values):
    assert set(dec_values) == set(exp_values)
    for k, e in exp_values.items():
        assert dec_values[k] == e, k


@settings(max_examples=400, deadline=None)
@given(S.sample())
def test_round_trip_single_samples(case):
    values, exp = case
    dec = pc.decode(pc.encode(values))
    _close(dec["samples"][0]["values"], exp)


@settings(max_examples=300, deadline=None)
@given(S.batch())
def test_round_trip_batches(case):
    samples, exp = case
    dec = pc.decode(pc.encode_batch(samples))
    assert [s["offset_s"] for s in dec["samples"]] == [e[0] for e in exp]
    for got, (_, ev) in zip(dec["samples"], exp):
        _close(got["values"], ev)


def test_maximum_batch_size_and_one_more():
    vals = {"counter": 1, "battery_voltage": 3.3}
    frame = pc.encode_batch([(-60 * i, dict(vals, counter=i)) for i in range(m.MAX_SAMPLES)])
    dec = pc.decode(frame)
    assert len(dec["samples"]) == m.MAX_SAMPLES
    assert dec["samples"][0]["values"]["counter"] == m.MAX_SAMPLES - 1
    with pytest.raises(pc.EncodeError, match="at most 64 samples"):
        pc.encode_batch([(-i, vals) for i in range(m.MAX_SAMPLES + 1)])


@pytest.mark.parametrize(
    ("samples", "match"),
    [([], "at least one sample"), ([(5, {"counter": 1})], "<= 0"), ([(-1.5, {"counter": 1})], "whole number"),
     ([{"offset_s": 0}], "offset_s and values")],
)
def test_bad_batches_are_refused(samples, match):
    with pytest.raises(pc.EncodeError, match=match):
        pc.encode_batch(samples)


def test_batch_marks_missing_quantities_invalid_and_recovers():
    frame = pc.encode_batch([(-20, {"temperature": None, "humidity": 50}), (-10, {"temperature": 20.0}),
                             (0, {"temperature": 20.1, "humidity": 51})])
    vals = [s["values"] for s in pc.decode(frame)["samples"]]
    assert vals == [{"temperature": None, "humidity": 50.0}, {"temperature": 20.0, "humidity": None},
                    {"temperature": 20.1, "humidity": 51.0}]


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_codec_error_and_re_encode_stably(data):
    try:
        dec = pc.decode(data)
    except pc.CodecError as e:
        assert str(e)
        return
    # normalising round trip (canonical-serialisation pattern): re-encoding is a fixed point
    samples = [(s["offset_s"], s["values"]) for s in dec["samples"]]
    again = pc.encode_batch(samples) if data[0] & 0x10 else pc.encode(samples[0][1])
    assert pc.decode(again)["samples"] == dec["samples"]
