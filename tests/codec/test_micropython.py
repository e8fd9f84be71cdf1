"""The same codec source on the MicroPython Unix port: identical bytes, values and errors.

Hypothesis generates the cases on CPython; one MicroPython process handles all of them
(trosmart_tools.mpy.MicroPythonBatch), so thousands of vectors cost one interpreter start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import payload_codec as pc
from trosmart_tools.mpy import MicroPythonBatch

from . import strategies as S
from .test_cbor_status import STATUS
from .test_downlink import GOLDEN as COMMANDS
from .test_measurement import GOLDEN

DRIVER = Path(__file__).with_name("mpy_codec_driver.py")
N_SAMPLES = 1500
N_BATCHES = 400
N_RANDOM = 4000


def collect(strategy: Any, n: int) -> list[Any]:
    cases: list[Any] = []

    @settings(max_examples=n, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def gather(case: Any) -> None:
        cases.append(case)

    gather()
    return cases


def normal(x: Any) -> Any:
    """JSON round trip: MicroPython dicts are not insertion-ordered, tuples become lists."""
    return json.loads(json.dumps(x, sort_keys=True))


def cpython_decode(fport: int, hexdata: str) -> dict:
    try:
        d = pc.decode_uplink(fport, bytes.fromhex(hexdata))
    except pc.CodecError as e:
        return {"error": type(e).__name__, "msg": str(e)}
    return {"decoded": d, "senml": pc.to_senml(d)}


def _versioned(data: bytes) -> bytes:
    """Half of the arbitrary frames get a valid version so decoding goes deep."""
    return bytes([0x20 | (data[0] & 0x1F)]) + data[1:] if data else data


@pytest.fixture(scope="module")
def cases() -> dict[str, list[Any]]:
    arbitrary = st.one_of(st.binary(max_size=40), st.binary(min_size=1, max_size=40).map(_versioned))
    return {
        "samples": collect(S.sample(), N_SAMPLES),
        "batches": collect(S.batch(), N_BATCHES),
        "randoms": [b.hex() for b in collect(arbitrary, N_RANDOM)],
    }


def test_micropython_encodes_and_decodes_exactly_like_cpython(micropython: str, cases: dict) -> None:
    reqs: list[dict] = []
    expect: list[Any] = []
    for values, _ in cases["samples"]:
        frame = pc.encode(values).hex()
        reqs += [{"op": "encode", "values": values}, {"op": "decode", "hex": frame}]
        expect += [{"hex": frame}, cpython_decode(1, frame)]
    for samples, _ in cases["batches"]:
        frame = pc.encode_batch(samples).hex()
        reqs += [{"op": "encode_batch", "samples": samples}, {"op": "decode", "hex": frame}]
        expect += [{"hex": frame}, cpython_decode(1, frame)]
    for _, values, frame in GOLDEN:
        reqs.append({"op": "encode", "values": values})
        expect.append({"hex": frame})
    for fport in (1, 2, 3):
        for h in cases["randoms"]:
            reqs.append({"op": "decode", "fport": fport, "hex": h})
            expect.append(cpython_decode(fport, h))
    st_frame = pc.encode_status(STATUS).hex()
    reqs += [{"op": "encode_status", "status": STATUS}, {"op": "decode", "fport": 2, "hex": st_frame}]
    expect += [{"hex": st_frame}, cpython_decode(2, st_frame)]
    for _, cmd, frame in COMMANDS:
        reqs += [{"op": "encode_downlink", "command": cmd}, {"op": "decode_downlink", "hex": frame}]
        expect += [{"hex": frame}, {"command": pc.decode_downlink(bytes.fromhex(frame))}]
    for h in cases["randoms"][:1000]:
        reqs.append({"op": "decode_downlink", "hex": h})
        try:
            expect.append({"command": pc.decode_downlink(bytes.fromhex(h))})
        except pc.CodecError as e:
            expect.append({"error": type(e).__name__, "msg": str(e)})

    got = MicroPythonBatch(DRIVER).call_many(reqs)
    mismatches = [(r, e, g) for r, e, g in zip(reqs, expect, got) if normal(e) != normal(g)]
    assert not mismatches, f"{len(mismatches)} of {len(reqs)} differ; first: {mismatches[0]}"
    n_err = sum(1 for g in got if "error" in g)
    print(f"micropython agreed on {len(reqs)} requests ({n_err} typed errors)")
    assert n_err > 100 and len(reqs) - n_err > 1000, "the case mix must exercise both paths"


def test_decoded_values_equal_the_inputs_within_resolution(cases: dict) -> None:
    for values, exp in cases["samples"]:
        assert pc.decode(pc.encode(values))["samples"][0]["values"] == exp


@settings(max_examples=50, deadline=None)
@given(S.sample())
def test_the_driver_itself_reports_typed_errors(values_exp: Any) -> None:
    # the driver's error path, checked on CPython: an unknown quantity gives its class name
    ns: dict[str, Any] = {}
    src = DRIVER.read_text().split("while True:")[0]
    exec(compile(src, str(DRIVER), "exec"), ns)
    answer = ns["handle"]({"op": "encode", "values": dict(values_exp[0], bogus=1)})
    assert answer["error"] == "UnknownQuantityError"


# meter indexes as exact decimal strings (fields wider than 2**24 codes: docs/quantities.md "Meters")
_WIDE = ("volume_index", "gas_index", "energy", "pulse_count")
decimal_text = st.tuples(st.integers(0, 10**11), st.integers(0, 5)).map(
    lambda t: str(t[0]) if t[1] == 0 else "%s.%s" % (str(t[0])[:-t[1]] or "0", str(t[0])[-t[1]:].rjust(t[1], "0")))


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(_WIDE), decimal_text), min_size=200, max_size=200))
def test_meter_index_decimal_strings_are_exact_on_both_runtimes(micropython: str, cases_: list) -> None:
    from decimal import ROUND_HALF_UP, Decimal

    reqs: list[dict] = []
    expect: list[Any] = []
    for name, text in cases_:
        row = pc.registry.by_name(name)
        raw = int((Decimal(text) * row[6] / row[5]).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        try:
            frame = pc.encode({name: text})
        except pc.EncodeError as e:
            assert raw > row[4], (name, text)  # refused only beyond the range
            expect.append({"error": "EncodeError", "msg": str(e)})
        else:
            # the decoded value is the decimal rounded to the field's resolution, exactly
            assert Decimal(repr(pc.decode(frame)["samples"][0]["values"][name])) == Decimal(raw) * row[5] / row[6]
            expect.append({"hex": frame.hex()})
        reqs.append({"op": "encode", "values": {name: text}})
    got = MicroPythonBatch(DRIVER).call_many(reqs)
    assert [normal(g) for g in got] == [normal(e) for e in expect]


def test_decimal_strings_only_for_wide_fields_and_well_formed() -> None:
    with pytest.raises(pc.EncodeError, match="must be a number"):
        pc.encode({"temperature": "21.5"})  # fits a float32: numbers only, as before
    for bad in ("", ".", "1e5", "12,5", "-0.001", " 1", "1.2.3", "0x10"):
        with pytest.raises(pc.EncodeError):
            pc.encode({"volume_index": bad})
    assert pc.decode(pc.encode({"volume_index": "7842.4975"}))["samples"][0]["values"] == {"volume_index": 7842.498}
