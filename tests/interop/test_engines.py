"""The same codec in the three engines it meets: node (V8), QuickJS as ChirpStack v4 runs it
(tools/codec_js/chirpstack_js.py: a fresh runtime per call, input.variables, the 100 ms
limit), and an ECMAScript 5.1-only run as The Things Stack's goja accepts it (node with the
ES2015+ built-ins removed, harness.js --es5). Every corpus frame gives identical output in all
three; QuickJS also meets its time limit on the largest frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import NodeSession  # the node fixture fails in CI without node
from trosmart_tools import corpus
from trosmart_tools.codec_js import chirpstack_js, reference
from trosmart_tools.codec_js.node import NodeCodec
from trosmart_tools.corpus import same_json

FRAMES = Path(__file__).resolve().parent.parent / "frames"
VARIABLES = {"site": "Troisdorf-Mitte", "owner": "Stadtwerke"}  # device variables, as ChirpStack passes them


def _calls() -> list[tuple[dict[str, Any], int | None]]:
    """(harness request, receive time in ms) for every corpus frame, and for every decodable
    command its encodeDownlink call."""
    out: list[tuple[dict[str, Any], int | None]] = []
    for path in corpus.corpus_files([FRAMES]):
        for f in corpus.load(path)[1]:
            out.append((corpus.js_request(f), f.recv_ms))
            if f.dir == "down":
                cmd = reference.decode_cmd(f.fport, f.data)
                if "data" in cmd:
                    out.append(({"fn": "encodeDownlink", "input": {"data": cmd["data"]}}, None))
    return out


@pytest.fixture(scope="module")
def codec_text(codec_js: Path) -> str:
    return codec_js.read_text(encoding="utf-8")


def _quickjs(codec: str, fn: str, inp: dict[str, Any], recv_ms: int | None) -> Any:
    try:
        return chirpstack_js.call(codec, fn, inp, recv_ms, VARIABLES)
    except chirpstack_js.CodecTimeout:
        # the limit is CPU time in the PyPI package; a second interruption is a real overrun
        return chirpstack_js.call(codec, fn, inp, recv_ms, VARIABLES)


def test_corpus_identical_in_node_quickjs_and_es5(codec_js: Path, codec_text: str, node: NodeSession) -> None:
    calls = _calls()
    assert len(calls) >= 150
    reqs = [r for r, _ in calls]
    with NodeCodec(codec_js) as v8, NodeCodec(codec_js, es5=True) as es5:
        in_node = v8.call_many(reqs)
        in_es5 = es5.call_many(reqs)
    mismatches = []
    for (req, ms), a, b in zip(calls, in_node, in_es5, strict=True):
        c = _quickjs(codec_text, req["fn"], req["input"], ms)
        if not (same_json(a, b) and same_json(a, c)):
            mismatches.append((req, a, b, c))
    assert not mismatches, mismatches[:3]
    assert sum(1 for a in in_node if a.get("errors")) >= 30  # error paths are compared too


def test_quickjs_stops_a_codec_at_the_limit_as_chirpstack_does() -> None:
    looping = "function decodeUplink(input) { while (true) {} }"
    with pytest.raises(chirpstack_js.CodecTimeout, match="100 ms"):
        chirpstack_js.call(looping, "decodeUplink", {"bytes": [1], "fPort": 1})


def test_quickjs_sees_variables_and_recv_time_as_chirpstack_passes_them(codec_text: str) -> None:
    probe = ("function decodeUplink(input) { return {data: {v: input.variables.site, "
             "t: input.recvTime.getTime(), isDate: input.recvTime instanceof Date}}; }")
    out = chirpstack_js.call(probe, "decodeUplink", {"bytes": [1], "fPort": 1}, 1795858200123, VARIABLES)
    assert out == {"data": {"v": "Troisdorf-Mitte", "t": 1795858200123, "isDate": True}}
    # the real codec puts recvTime into SenML's bt, in seconds
    frame = bytes.fromhex("21594c3bdc01ec0c9b98")
    real = chirpstack_js.call(codec_text, "decodeUplink", {"bytes": list(frame), "fPort": 1}, 1795858200000,
                              VARIABLES)
    assert real["errors"] == [] and real["data"]["senml"][0]["bt"] == 1795858200
