"""The small CBOR codec agrees with cbor2 in both directions; status frames round-trip."""

import math

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import payload_codec as pc
from payload_codec import cbor
from payload_codec.status import RESET_CAUSES, RESULTS

MAX_LEAVES = 20
# NaN breaks equality, not the codec (cbor2's own strategy module excludes it for the same reason)
leaves = st.one_of(
    st.integers(-(2**64), 2**64 - 1), st.text(max_size=20), st.binary(max_size=20), st.booleans(),
    st.none(), st.floats(allow_nan=False),
)
values = st.recursive(
    leaves,
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.one_of(st.integers(-1000, 1000), st.text(max_size=8)), kids, max_size=4)),
    max_leaves=MAX_LEAVES,
)


def key_sorted(obj):
    """The same value with map keys in RFC 8949 §4.2.1 order, so cbor2 writes them as we do."""
    if isinstance(obj, list):
        return [key_sorted(x) for x in obj]
    if isinstance(obj, dict):
        return {k: key_sorted(obj[k]) for k in sorted(obj, key=cbor2.dumps)}
    return obj


@settings(max_examples=500, deadline=None)
@given(values)
def test_our_encoding_equals_cbor2_and_decodes_back(obj):
    ours = cbor.dumps(obj)
    assert ours == cbor2.dumps(key_sorted(obj))
    assert cbor.loads(ours) == obj


@settings(max_examples=500, deadline=None)
@given(values, st.sampled_from(["half", "single", "double", None]))
def test_we_decode_what_cbor2_encodes(obj, float_form):
    # cbor2 canonical mode shrinks floats to half/single where exact
    data = cbor2.dumps(obj, canonical=float_form is not None)
    assert cbor.loads(data) == cbor2.loads(data)


@pytest.mark.parametrize(("hexdata", "value"), [("f93c00", 1.0), ("f97c00", math.inf), ("f98001", -(2**-24)),
                                                 ("fa47c35000", 100000.0), ("3903e7", -1000)])
def test_rfc8949_appendix_a_examples(hexdata, value):
    assert cbor.loads(bytes.fromhex(hexdata)) == value


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=40))
def test_any_bytes_decode_or_raise_codec_error(data):
    try:
        cbor.loads(data)
    except pc.CodecError as e:
        assert str(e)


@pytest.mark.parametrize(("hexdata", "match"), [("5f", "indefinite"), ("c0", "tag"), ("f0", "simple value"),
                                                ("83", "announces 3 items"), ("1a0102", "needs 2 more bytes"),
                                                ("0000", "1 trailing bytes")])
def test_unsupported_and_broken_cbor_is_named(hexdata, match):
    with pytest.raises(pc.DecodeError, match=match):
        cbor.loads(bytes.fromhex(hexdata))


def test_deep_nesting_is_refused_not_a_recursion_error():
    with pytest.raises(pc.DecodeError, match="deeper than"):
        cbor.loads(b"\x81" * 100 + b"\x00")


STATUS = {
    "firmware": "1.2.0",
    "reset_cause": "watchdog",
    "uptime_s": 86400,
    "sensor_errors": {"bme280": 3, "sps30": 0},
    "battery_voltage": 3.712,
    "config_hash": 0xDEADBEEF,
    "config_errors": ["interval_s"],
    "command_result": {"command": "set_interval_s", "result": "out_of_range"},
    "sample_counter": 1234,
    "interval_s": 600,
    "failed_sensors": ["bme280"],
}


def test_status_round_trip_and_size():
    frame = pc.encode_status(STATUS)
    assert frame[0] == 0x20
    assert pc.decode_uplink(pc.STATUS, frame) == {"kind": "status", "status": STATUS}
    assert len(frame) <= 115, "must fit EU868 DR3"


status_st = st.fixed_dictionaries(
    {},
    optional={
        "firmware": st.text(max_size=32),
        "reset_cause": st.sampled_from(RESET_CAUSES),
        "uptime_s": st.integers(0, 2**32 - 1),
        "sensor_errors": st.dictionaries(st.text(max_size=8), st.integers(0, 2**32 - 1), max_size=3),
        "battery_voltage": st.integers(0, 65535).map(lambda mv: mv / 1000),
        "config_hash": st.integers(0, 2**32 - 1),
        "config_errors": st.lists(st.text(max_size=12), max_size=3),
        "command_result": st.fixed_dictionaries({"command": st.sampled_from(["reboot", "enable"]),
                                                 "result": st.sampled_from(RESULTS)}),
        "failed_sensors": st.lists(st.text(max_size=8), max_size=3),
    },
)


@settings(max_examples=300, deadline=None)
@given(status_st)
def test_status_property_round_trip(status):
    assert pc.decode_uplink(pc.STATUS, pc.encode_status(status))["status"] == status


def test_status_keeps_unknown_keys_from_newer_nodes():
    frame = b"\x20" + cbor.dumps({0: "2.0", 42: [1, 2]})
    assert pc.decode_uplink(pc.STATUS, frame)["status"] == {"firmware": "2.0", "k42": [1, 2]}


@pytest.mark.parametrize(
    ("status", "match"),
    [({"uptime": 1}, "unknown status field 'uptime'"), ({"uptime_s": -1}, "0..4294967295"),
     ({"reset_cause": "brownout"}, "reset_cause must be one of"), ({"battery_voltage": 70}, "0..65.535"),
     ({"command_result": {"command": "fly", "result": "ok"}}, "known command")],
)
def test_bad_status_is_refused(status, match):
    with pytest.raises(pc.EncodeError, match=match):
        pc.encode_status(status)


@pytest.mark.parametrize(("hexdata", "error", "match"),
                         [("", pc.TruncatedError, "empty"), ("40a0", pc.UnsupportedVersionError, "0x40"),
                          ("2001", pc.DecodeError, "must be a CBOR map"),
                          ("20a1016161", pc.DecodeError, "reset_cause"),
                          ("20a10109", pc.DecodeError, "reset_cause")])
def test_bad_status_frames_are_named(hexdata, error, match):
    with pytest.raises(error, match=match):
        pc.decode_uplink(pc.STATUS, bytes.fromhex(hexdata))
