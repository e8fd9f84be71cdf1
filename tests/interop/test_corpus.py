"""The recorded-frame corpus: every frame on CPython, MicroPython and the JS codec; the CLI."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.conftest import NodeSession  # the fixture skips/fails without node
from trosmart_tools import corpus
from trosmart_tools.errors import ToolError

FRAMES = Path(__file__).resolve().parent.parent / "frames"
CLI = [sys.executable, "-m", "trosmart_tools.cli"]


def _all_frames() -> list[corpus.Frame]:
    return [f for p in corpus.corpus_files([FRAMES]) for f in corpus.load(p)[1]]


def test_seed_covers_what_the_issue_asks() -> None:
    frames = _all_frames()
    assert len(frames) >= 100
    from payload_codec import registry

    ids = {f.id for f in frames}
    for _, name, _ in registry.PROFILES:
        assert "profile-" + name in ids
    kinds = {(f.codec, f.dir, f.fport) for f in frames}
    assert {("trosmart", "up", 1), ("trosmart", "up", 2), ("trosmart", "up", 3), ("trosmart", "down", 10),
            ("lpp", "up", 1)} <= kinds
    assert sum("error" in f.expect for f in frames) >= 30
    assert any(f.source == "spec" for f in frames) and "ec-gps-truncated" in ids


@pytest.mark.micropython
def test_every_frame_matches_on_every_runtime(micropython: str, node: NodeSession) -> None:
    report = corpus.check([FRAMES])
    assert report.frames == len(_all_frames())
    assert report.runtimes == ("cpython", "micropython", "js")
    assert not report.mismatches, "\n".join(m.render() for m in report.mismatches)


def test_check_cli_exits_nonzero_with_a_diff(tmp_path: Path, node: NodeSession) -> None:
    src = (FRAMES / "lpp-specs.jsonl").read_text(encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(src.replace('"v": 27.2', '"v": 27.3', 1), encoding="utf-8")
    out = subprocess.run([*CLI, "corpus", "check", "--runtime", "cpython", "--runtime", "js", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "FAIL %s:2 lpp-mydevices-2-temperatures [cpython]" % bad in out.stdout
    assert '-   "v": 27.3' in out.stdout and '+   "v": 27.2' in out.stdout
    assert "[js]" in out.stdout
    good = subprocess.run([*CLI, "corpus", "check", "--runtime", "cpython", str(FRAMES / "lpp-specs.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert good.returncode == 0 and "0 mismatches" in good.stdout


def test_error_expectations_match_class_and_message_substring() -> None:
    exp = {"error": {"class": "TruncatedError", "message": "byte 7"}}
    assert corpus.matches(exp, {"error": {"class": "TruncatedError", "message": "LPP record at byte 7: x"}})
    assert not corpus.matches(exp, {"error": {"class": "DecodeError", "message": "byte 7"}})
    assert not corpus.matches(exp, {"senml": []})
    assert not corpus.same_json({"v": True}, {"v": 1}) and corpus.same_json({"v": 1.0}, {"v": 1})


def test_record_chirpstack_uplink_then_check(tmp_path: Path, node: NodeSession) -> None:
    target = tmp_path / "live.jsonl"
    event = {"deviceInfo": {"devEui": "70b3d57ed0001234"}, "fPort": 1, "time": "2026-11-28T10:00:00.123456789Z",
             "data": base64.b64encode(bytes.fromhex("2d" + "00" * 4)).decode()}
    rec = subprocess.run([*CLI, "corpus", "record", str(target), "--id", "surprise-1"],
                         input=json.dumps(event), capture_output=True, text=True, timeout=60)
    assert rec.returncode == 0, rec.stderr
    tts = {"end_device_ids": {"device_id": "aq-7"}, "uplink_message": {
        "f_port": 2, "frm_payload": base64.b64encode(bytes([0x20, 0xA0])).decode(),
        "received_at": "2026-11-28T10:00:01Z"}}
    rec2 = subprocess.run([*CLI, "corpus", "record", str(target), "--id", "status-1"],
                          input=json.dumps(tts), capture_output=True, text=True, timeout=60)
    assert rec2.returncode == 0, rec2.stderr
    header, frames = corpus.load(target)
    assert header["version"] == corpus.VERSION
    assert [f.id for f in frames] == ["surprise-1", "status-1"]
    assert frames[0].received == "2026-11-28T10:00:00.123Z" and frames[0].ref == "device 70b3d57ed0001234"
    assert frames[0].expect["error"]["class"] == "TruncatedError"
    assert frames[1].expect == {"senml": []}
    dup = subprocess.run([*CLI, "corpus", "record", str(target), "--id", "status-1", "--fport", "2",
                          "--hex", "20a0"], capture_output=True, text=True, timeout=60)
    assert dup.returncode == 2 and "already holds" in dup.stderr
    assert not corpus.check([target], ("cpython", "js")).mismatches


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty corpus file"),
    ('{"corpus": "other"}\n', "header"),
    ('{"corpus": "trosmart-frames", "version": 2}\n', "version 2"),
    ('{"corpus": "trosmart-frames", "version": 1}\n{"id": "a"}\n', "lacks 'codec'"),
    ('{"corpus": "trosmart-frames", "version": 1}\nnot json\n', "not JSON"),
    ('{"corpus": "trosmart-frames", "version": 1}\n{"id": "a", "codec": "lpp", "dir": "up", "fport": 1, '
     '"hex": "zz", "source": "spec", "expect": {"senml": []}}\n', "hex"),
])
def test_loader_names_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    p = tmp_path / "c.jsonl"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ToolError, match=problem):
        corpus.load(p)
