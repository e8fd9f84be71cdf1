"""The portal's SenML reader (RFC 8428, docs/references.md §K): base fields, times, value kinds;
any input either gives observations or an InputError with a reason, never another exception."""

from __future__ import annotations

import contextlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.errors import InputError
from portal.senml import parse_pack

DEV = "70b3d57ed0001234"
BN = f"urn:dev:mac:{DEV}:"


def test_base_fields_apply_to_following_records() -> None:
    pack = [{"bn": BN, "bt": 1767225600.25, "bu": "Cel", "n": "temperature", "v": 21.4},
            {"n": "temperature", "t": -600, "v": 21.0}, {"n": "occupancy", "u": "", "vb": True},
            {"n": "pm2_5", "u": "ug/m3", "vs": "invalid"}, {"bv": 100, "n": "pressure", "u": "hPa", "v": 913.2}]
    obs = parse_pack(orjson.dumps(pack), DEV)
    assert [(o.quantity, o.unit, o.t_ms, o.v, o.vb, o.vs) for o in obs] == [
        ("temperature", "Cel", 1767225600250, 21.4, None, None),
        ("temperature", "Cel", 1767225000250, 21.0, None, None),
        ("occupancy", "", 1767225600250, None, True, None),
        ("pm2_5", "ug/m3", 1767225600250, None, None, "invalid"),
        ("pressure", "hPa", 1767225600250, 1013.2, None, None)]


@pytest.mark.parametrize(("pack", "reason"), [
    (b"{}", "not_a_pack"), (b"[]", "not_a_pack"), (b"[1]", "bad_record"),
    (orjson.dumps([{"bn": "urn:dev:mac:0000000000000000:", "bt": 1767225600, "n": "t", "v": 1}]), "bad_name"),
    (orjson.dumps([{"bn": BN, "bt": 1000, "n": "t", "v": 1}]), "bad_time"),
    (orjson.dumps([{"bn": BN, "bt": 1767225600, "n": "t", "v": "1"}]), "bad_record"),
    (orjson.dumps([{"bn": BN, "bt": 1767225600, "n": "t", "v": 1, "vb": True}]), "bad_record"),
    (orjson.dumps([{"bn": BN, "bt": 1767225600, "n": "t<script>", "v": 1}]), "bad_name"),
    (b"[" + b"1," * 40000 + b"1]", "oversize"),
])
def test_bad_packs_have_reasons(pack: bytes, reason: str) -> None:
    with pytest.raises(InputError) as e:
        parse_pack(pack, DEV)
    assert e.value.reason == reason


json_value = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20),
                          lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=4),
                          max_leaves=12)
record = st.dictionaries(st.sampled_from(["bn", "bt", "bu", "bv", "n", "u", "v", "vb", "vs", "vd", "t", "s"]),
                         json_value | st.just(BN) | st.just(1767225600.5), max_size=6)


@given(st.lists(record, max_size=6) | json_value)
def test_any_json_gives_observations_or_input_error(doc: object) -> None:
    try:
        payload = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        return
    try:
        obs = parse_pack(payload, DEV)
    except InputError as e:
        assert e.reason
        return
    for o in obs:
        assert o.t_ms >= 2**28 * 1000 and sum(x is not None for x in (o.v, o.vb, o.vs)) == 1


@given(st.binary(max_size=200))
def test_any_bytes_are_handled(payload: bytes) -> None:
    with contextlib.suppress(InputError):
        parse_pack(payload, DEV)


@given(temperature=st.floats(-40, 85).map(lambda x: round(x, 1)), humidity=st.floats(0, 100).map(lambda x: round(x, 1)))
def test_the_codecs_senml_reads_back(temperature: float, humidity: float) -> None:
    import payload_codec

    frame = payload_codec.encode({"temperature": temperature, "humidity": humidity})
    pack = payload_codec.to_senml(payload_codec.decode_uplink(1, frame), BN, 1767225600.5)
    obs = {o.quantity: o for o in parse_pack(orjson.dumps(pack), DEV)}
    assert obs["temperature"].v == pytest.approx(temperature, abs=0.051) and obs["humidity"].unit == "%RH"
