"""The generated TS013 codec under node equals the Python codec, compared as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyjsparser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payload_codec import encode, encode_batch, encode_status, lpp
from trosmart_tools.codec_js import reference
from trosmart_tools.codec_js.generate import MAX_SIZE, render
from trosmart_tools.codec_js.node import NodeCodec
from trosmart_tools.corpus import corpus_files, js_as_expect, js_request, load, matches, same_json

from . import strategies as S
from .conftest import LPP_FPORT, NodeSession

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FRAMES = Path(__file__).resolve().parent.parent / "frames"
JS_ONLY_LIMIT = "exceeds 2**53 (JavaScript numbers)"  # documented: Python ints are unbounded


def _uplink(node: NodeSession, fport: int, data: bytes, recv: str | None = None) -> tuple[Any, Any]:
    js = node.call("decodeUplink", {"bytes": list(data), "fPort": fport}, recv)
    return js, reference.uplink(fport, data, _ms(recv))


def _ms(recv: str | None) -> int | None:
    from trosmart_tools.corpus import iso_to_ms

    return iso_to_ms(recv) if recv else None


def _same(js: Any, py: Any) -> None:
    assert "thrown" not in js, js
    if js.get("errors") and JS_ONLY_LIMIT in js["errors"][0]:
        return
    assert same_json(py, js), "python:\n%s\njs:\n%s" % (json.dumps(py, sort_keys=True),
                                                        json.dumps(js, sort_keys=True))


@FAST
@given(args=S.measurement_args(), recv=st.sampled_from([None, "2026-11-28T09:30:00.250Z"]))
def test_measurement_frames_decode_alike(args: tuple[str, Any], recv: str | None, node: NodeSession) -> None:
    kind, payload = args
    data = encode(payload) if kind == "single" else encode_batch(payload)
    _same(*_uplink(node, 1, data, recv))


@FAST
@given(status=S.status_dicts)
def test_status_frames_decode_alike(status: dict, node: NodeSession) -> None:
    _same(*_uplink(node, 2, encode_status(status)))


@settings(max_examples=600, deadline=None)
@given(fport=st.sampled_from([1, 2, 3, 4]), data=S.random_bytes)
def test_arbitrary_bytes_give_the_same_result_or_error(fport: int, data: bytes, node: NodeSession) -> None:
    _same(*_uplink(node, fport, data))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3).map(lambda b: b"\x20" + b)
       | st.binary(max_size=16).map(lambda b: b"\x20\xa1" + b))
def test_arbitrary_cbor_bodies_decode_alike(data: bytes, node: NodeSession) -> None:
    _same(*_uplink(node, 2, data))


@FAST
@given(cmd=S.commands)
def test_encode_downlink_alike(cmd: Any, node: NodeSession) -> None:
    js = node.call("encodeDownlink", {"data": cmd})
    _same(js, reference.encode_cmd(cmd))


@FAST
@given(fport=st.sampled_from([10, 10, 10, 3]),
       data=st.binary(max_size=12).map(lambda b: b"\x20" + b) | S.random_bytes)
def test_decode_downlink_alike(fport: int, data: bytes, node: NodeSession) -> None:
    js = node.call("decodeDownlink", {"bytes": list(data), "fPort": fport})
    _same(js, reference.decode_cmd(fport, data))


@FAST
@given(items=S.lpp_items())
def test_lpp_frames_decode_alike(items: list, node: NodeSession) -> None:
    data = lpp.encode(items)
    js = node.call("decodeLppUplink", {"bytes": list(data), "fPort": 1}, "2026-01-01T00:00:00Z")
    _same(js, reference.lpp_uplink(data, 1767225600000))
    # an --lpp-fport export routes that fPort to the same decoder
    _same(node.call("decodeUplink", {"bytes": list(data), "fPort": LPP_FPORT}), reference.lpp_uplink(data))


@FAST
@given(data=S.random_bytes)
def test_lpp_arbitrary_bytes_alike(data: bytes, node: NodeSession) -> None:
    _same(node.call("decodeLppUplink", {"bytes": list(data), "fPort": 1}), reference.lpp_uplink(data))


def test_bad_inputs_come_back_as_errors_not_exceptions(node: NodeSession) -> None:
    for fn, inp in (("decodeUplink", {"bytes": [1, 300], "fPort": 1}), ("decodeUplink", {"fPort": 1}),
                    ("decodeUplink", {"bytes": "zz", "fPort": 1}), ("encodeDownlink", {}),
                    ("decodeDownlink", {"bytes": None, "fPort": 10})):
        out = node.call(fn, inp)
        assert "thrown" not in out
        assert out["errors"] and re.match(r"^[A-Za-z]+Error: ", out["errors"][0]), out


def test_generated_file_is_small_deterministic_and_self_contained() -> None:
    a, b = render(), render()
    assert a == b
    assert len(a.encode()) < MAX_SIZE
    assert "require(" not in a and "import " not in a
    for fn in ("function decodeUplink(", "function encodeDownlink(", "function decodeDownlink("):
        assert fn in a


def test_es51_syntax_and_builtins(codec_js: Path, node: NodeSession) -> None:
    """ES5.1 (The Things Stack's runtime): an ES5.1 parser accepts the file, no ES2015 syntax,
    and every corpus frame decodes the same with ES2015+ built-ins removed."""
    src = codec_js.read_text(encoding="utf-8")
    pyjsparser.parse(src)  # raises JsSyntaxError on arrows, classes, template literals, ...
    for token in ("let ", "const ", "=>", "`", "class ", "..."):
        assert token not in src, token
    frames = [f for p in corpus_files([FRAMES]) for f in load(p)[1]]
    with NodeCodec(codec_js, es5=True) as js:
        answers = js.call_many([js_request(f) for f in frames])
    for f, out in zip(frames, answers, strict=True):
        assert matches(f.expect, js_as_expect(f, out)), (f.id, out)


def _codec_suite_vectors() -> tuple[set[str], list[Any]]:
    """Every hex frame and command in tests/codec's golden tables and parametrize lists."""
    import importlib
    import pkgutil

    import tests.codec as suite

    hexes: set[str] = set()
    cmds: list[Any] = []

    def take(name: str, v: Any) -> None:
        if name in ("frame", "hexdata", "hexframe") and isinstance(v, str):
            hexes.add(v)
        elif name == "cmd" and isinstance(v, dict):
            cmds.append(v)

    for info in pkgutil.iter_modules(suite.__path__):
        if not info.name.startswith("test_"):
            continue
        mod = importlib.import_module("tests.codec." + info.name)
        for row in getattr(mod, "GOLDEN", []):
            for v in row[1:]:
                if isinstance(v, str):
                    take("frame", v)
                elif isinstance(v, dict) and info.name == "test_downlink":
                    take("cmd", v)
        for fn in vars(mod).values():
            for mark in getattr(fn, "pytestmark", []):
                if mark.name != "parametrize":
                    continue
                argnames = mark.args[0]
                names = [a.strip() for a in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
                for vals in mark.args[1]:
                    vals = getattr(vals, "values", vals)  # pytest.param
                    for n, v in zip(names, vals if len(names) > 1 else (vals,), strict=False):
                        take(n, v)
    return hexes, cmds


def test_every_codec_suite_vector_through_every_entry_point(node: NodeSession) -> None:
    hexes, cmds = _codec_suite_vectors()
    assert len(hexes) >= 20 and len(cmds) >= 5
    for h in sorted(hexes):
        data = bytes.fromhex(h)
        for fport in (1, 2, 3):
            _same(*_uplink(node, fport, data))
        _same(node.call("decodeDownlink", {"bytes": list(data), "fPort": 10}), reference.decode_cmd(10, data))
    for cmd in cmds:
        _same(node.call("encodeDownlink", {"data": cmd}), reference.encode_cmd(cmd))
