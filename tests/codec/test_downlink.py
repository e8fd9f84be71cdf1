"""Downlink commands: compact, versioned, range-checked on both sides."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import payload_codec as pc
from payload_codec import registry as reg

GOLDEN = [
    ("interval", {"set_interval_s": 600}, "2001000258"),
    ("status", {"request_status": True}, "2005"),
    ("enable-disable", {"enable": ["pm10"], "disable": ["co2", "noise_laeq"]}, "200307040804" + "0d"),
    ("data-rate", {"set_data_rate": {"dr": 3, "adr": True}}, "200783"),
    ("several", {"set_interval_s": 900, "set_confirmed_every": 10, "reboot": True}, "200100038402" + "0a06"),
]


@pytest.mark.parametrize(("cmd", "frame"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN])
def test_golden_commands(cmd, frame):
    assert pc.encode_downlink(cmd).hex() == frame
    assert pc.decode_downlink(bytes.fromhex(frame)) == cmd


names = st.lists(st.sampled_from([r[1] for r in reg.QUANTITIES]), min_size=1, max_size=4)
commands = st.fixed_dictionaries(
    {},
    optional={
        "set_interval_s": st.integers(10, 86400),
        "set_confirmed_every": st.integers(0, 255),
        "enable": names,
        "disable": names,
        "set_data_rate": st.fixed_dictionaries({"dr": st.integers(0, 15), "adr": st.booleans()}),
        "announce_layout": st.just(True),
        "request_status": st.just(True),
        "reboot": st.just(True),
    },
).filter(lambda c: c)


@settings(max_examples=400, deadline=None)
@given(commands)
def test_command_round_trip(cmd):
    assert pc.decode_downlink(pc.encode_downlink(cmd)) == cmd


@pytest.mark.parametrize(
    ("cmd", "match"),
    [({"set_interval_s": 5}, "10..86400"), ({"set_interval_s": 86401}, "10..86400"),
     ({"set_interval_s": 60.5}, "integer"), ({"fly": 1}, "unknown command 'fly'"),
     ({"enable": ["pm3"]}, "pm3"), ({"enable": []}, "non-empty"), ({"set_data_rate": {"dr": 16}}, "0..15"),
     ({"set_data_rate": {"sf": 7}}, "unknown key 'sf'"), ({"reboot": "yes"}, "true or false"),
     ({"reboot": False}, "holds no action"), ([], "JSON object"),
     ({"enable": [r[1] for r in reg.QUANTITIES]}, "at most 51")],
)
def test_bad_commands_are_refused_with_the_reason(cmd, match):
    with pytest.raises(pc.CodecError, match=match):
        pc.encode_downlink(cmd)


@pytest.mark.parametrize(
    ("frame", "error", "match"),
    [("", pc.TruncatedError, "empty"), ("20", pc.DecodeError, "no command"),
     ("2009", pc.DecodeError, "unknown command opcode 0x09 at byte 1"),
     ("200100", pc.TruncatedError, "set_interval_s at byte 1 needs 3"),
     ("2001000001", pc.DecodeError, "set_interval_s 1 at byte 2"),
     ("2003c8", pc.DecodeError, "unknown quantity id 200 at byte 2"),
     ("20070f0710", pc.DecodeError, "repeated"), ("207790", pc.DecodeError, "0x77"),
     ("200790", pc.DecodeError, "reserved bits"), ("6005", pc.UnsupportedVersionError, "0x60")],
)
def test_bad_command_frames_name_the_byte(frame, error, match):
    with pytest.raises(error, match=match):
        pc.decode_downlink(bytes.fromhex(frame))


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=24))
def test_any_bytes_decode_or_raise_codec_error(data):
    try:
        cmd = pc.decode_downlink(data)
    except pc.CodecError as e:
        assert str(e)
        return
    assert pc.decode_downlink(pc.encode_downlink(cmd)) == cmd
