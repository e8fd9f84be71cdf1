"""The recorded-frame corpus (tests/frames/README.md): load, check on every runtime, record.

A corpus file is JSON Lines: a header line ``{"corpus": "trosmart-frames", "version": 1, ...}``
then one frame per line. ``check`` decodes every frame on CPython, on the MicroPython
Unix port (one process for all frames) and with the generated JavaScript codec under
node (one process), and compares each result with the frame's ``expect``.
"""

from __future__ import annotations

import calendar
import difflib
import json
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payload_codec import decode_downlink, decode_uplink, lpp, to_senml
from payload_codec.errors import CodecError

from .errors import ToolError

FORMAT = "trosmart-frames"
VERSION = 1
CODECS = ("trosmart", "lpp")
DIRECTIONS = ("up", "down")
SOURCES = ("recorded", "synthetic", "spec")
RUNTIMES = ("cpython", "micropython", "js")
_REQUIRED = ("id", "codec", "dir", "fport", "hex", "source", "expect")
_OPTIONAL = ("ref", "received", "note")
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,6})?Z$")


@dataclass
class Frame:
    """One corpus frame; ``where`` is ``file:line`` for messages."""

    id: str
    codec: str
    dir: str
    fport: int
    hex: str
    source: str
    expect: dict[str, Any]
    where: str
    ref: str | None = None
    received: str | None = None
    note: str | None = None

    @property
    def data(self) -> bytes:
        return bytes.fromhex(self.hex)

    @property
    def recv_ms(self) -> int | None:
        return iso_to_ms(self.received) if self.received else None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "codec": self.codec, "dir": self.dir, "fport": self.fport,
                             "hex": self.hex, "source": self.source}
        for k in _OPTIONAL:
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        d["expect"] = self.expect
        return d


@dataclass
class Mismatch:
    frame: Frame
    runtime: str
    expected: Any
    actual: Any

    def render(self) -> str:
        exp = json.dumps(self.expected, indent=1, sort_keys=True).splitlines()
        act = json.dumps(self.actual, indent=1, sort_keys=True).splitlines()
        diff = difflib.unified_diff(exp, act, "expected", self.runtime, lineterm="", n=2)
        return "FAIL %s %s [%s]\n%s" % (self.frame.where, self.frame.id, self.runtime, "\n".join(diff))


@dataclass
class Report:
    frames: int = 0
    runtimes: tuple[str, ...] = ()
    mismatches: list[Mismatch] = field(default_factory=list)


def iso_to_ms(text: str) -> int:
    """UTC ISO 8601 ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` -> Unix milliseconds (as JS Date does)."""
    m = _ISO.match(text)
    if not m:
        raise ToolError(f"reception time {text!r} is not YYYY-MM-DDTHH:MM:SS[.fff]Z")
    secs = calendar.timegm((*tuple(int(g) for g in m.groups()[:6]), 0, 0, 0))
    frac = m.group(7) or ".0"
    return secs * 1000 + int((frac[1:] + "000")[:3])


def _frame(obj: Any, where: str) -> Frame:
    if not isinstance(obj, dict):
        raise ToolError(f"{where}: a frame must be a JSON object")
    for k in _REQUIRED:
        if k not in obj:
            raise ToolError(f"{where}: frame lacks {k!r}")
    unknown = set(obj) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise ToolError(f"{where}: unknown keys {sorted(unknown)}")
    if obj["codec"] not in CODECS or obj["dir"] not in DIRECTIONS or obj["source"] not in SOURCES:
        raise ToolError(f"{where}: codec/dir/source must be one of {CODECS}/{DIRECTIONS}/{SOURCES}")
    if obj["codec"] == "lpp" and obj["dir"] != "up":
        raise ToolError(f"{where}: LPP frames are uplinks")
    if obj["dir"] == "down" and obj["fport"] != 10:
        raise ToolError(f"{where}: command downlinks use fPort 10")
    if not isinstance(obj["fport"], int) or not 0 <= obj["fport"] <= 255:
        raise ToolError(f"{where}: fport must be 0..255")
    try:
        bytes.fromhex(obj["hex"])
    except (TypeError, ValueError):
        raise ToolError(f"{where}: hex is not hex digits") from None
    exp = obj["expect"]
    if not isinstance(exp, dict) or len(exp) != 1 or next(iter(exp)) not in ("senml", "command", "error"):
        raise ToolError(f"{where}: expect must be one of {{senml}}, {{command}}, {{error}}")
    if "error" in exp and set(exp["error"]) != {"class", "message"}:
        raise ToolError(f"{where}: expect.error needs class and message (a substring)")
    if obj.get("received") is not None:
        iso_to_ms(obj["received"])
    return Frame(where=where, **obj)


def load(path: str | Path) -> tuple[dict[str, Any], list[Frame]]:
    """Header and frames of one corpus file; ToolError names the file and line of a problem."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ToolError(f"cannot read {p}: {e.strerror}") from None
    header: dict[str, Any] | None = None
    frames: list[Frame] = []
    ids: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{p}:{n}"
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise ToolError(f"{where}: not JSON ({e})") from None
        if header is None:
            if not isinstance(obj, dict) or obj.get("corpus") != FORMAT:
                raise ToolError(f"{where}: the first line must be the header {{\"corpus\": \"{FORMAT}\", ...}}")
            if obj.get("version") != VERSION:
                raise ToolError(f"{where}: corpus version {obj.get('version')!r}; this runner reads {VERSION}")
            header = obj
            continue
        f = _frame(obj, where)
        if f.id in ids:
            raise ToolError(f"{where}: duplicate frame id {f.id!r}")
        ids.add(f.id)
        frames.append(f)
    if header is None:
        raise ToolError(f"{p}: empty corpus file (no header)")
    return header, frames


def corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories to their *.jsonl files, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(p.glob("*.jsonl")))
        elif p.exists():
            out.append(p)
        else:
            raise ToolError(f"{p} does not exist")
    if not out:
        raise ToolError("no corpus files given")
    return out


# ---- what each runtime gives, in the shape of "expect" ----


def decode_python(codec: str, direction: str, fport: int, data: bytes, recv_ms: int | None) -> dict[str, Any]:
    """The CPython result of a frame as an expectation: {senml} / {command} / {error}."""
    try:
        if codec == "lpp":
            pack = lpp.decode_senml(data)
            if recv_ms is not None:
                pack[0]["bt"] = recv_ms / 1000
            return {"senml": pack}
        if direction == "down":
            return {"command": decode_downlink(data)}
        bt = None if recv_ms is None else recv_ms / 1000
        return {"senml": to_senml(decode_uplink(fport, data), None, bt)}
    except CodecError as e:
        return {"error": {"class": type(e).__name__, "message": str(e)}}


_MPY_DRIVER = r"""
import sys, json, binascii
from payload_codec import decode_uplink, decode_downlink, to_senml, lpp
from payload_codec.errors import CodecError

def one(req):
    data = binascii.unhexlify(req["hex"])
    ms = req["ms"]
    try:
        if req["codec"] == "lpp":
            pack = lpp.decode_senml(data)
            if ms is not None:
                pack[0]["bt"] = ms / 1000
            return {"senml": pack}
        if req["dir"] == "down":
            return {"command": decode_downlink(data)}
        bt = None if ms is None else ms / 1000
        return {"senml": to_senml(decode_uplink(req["fport"], data), None, bt)}
    except CodecError as e:
        return {"error": {"class": type(e).__name__, "message": str(e)}}

for line in sys.stdin:
    if line.strip():
        print(json.dumps(one(json.loads(line))))
"""


def decode_micropython(frames: list[Frame]) -> list[dict[str, Any]]:
    """Every frame through one MicroPython Unix port process."""
    from .mpy import MicroPythonBatch

    with tempfile.TemporaryDirectory(prefix="trosmart-corpus-") as tmp:
        driver = Path(tmp) / "corpus_driver.py"
        driver.write_text(_MPY_DRIVER, encoding="utf-8")
        batch = MicroPythonBatch(driver)
        reqs = [{"codec": f.codec, "dir": f.dir, "fport": f.fport, "hex": f.hex, "ms": f.recv_ms}
                for f in frames]
        return batch.call_many(reqs)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def js_request(f: Frame) -> dict[str, Any]:
    data = list(f.data)
    if f.codec == "lpp":
        return {"fn": "decodeLppUplink", "input": {"bytes": data, "fPort": f.fport}, "recvTime": _iso(f.recv_ms)}
    if f.dir == "down":
        return {"fn": "decodeDownlink", "input": {"bytes": data, "fPort": f.fport}}
    return {"fn": "decodeUplink", "input": {"bytes": data, "fPort": f.fport}, "recvTime": _iso(f.recv_ms)}


def js_as_expect(f: Frame, out: dict[str, Any]) -> dict[str, Any]:
    """A TS013 answer in the shape of "expect"."""
    if "thrown" in out:
        return {"error": {"class": "JavaScriptException", "message": out["thrown"]}}
    if out.get("errors"):
        cls, _, msg = out["errors"][0].partition(": ")
        return {"error": {"class": cls, "message": msg}}
    data = out.get("data", {})
    return {"command": data} if f.dir == "down" else {"senml": data.get("senml")}


def decode_js(frames: list[Frame], codec_js: str | Path | None = None) -> list[dict[str, Any]]:
    """Every frame through the generated JavaScript codec (one node process)."""
    from .codec_js.node import NodeCodec

    with NodeCodec(codec_js) as js:
        answers = js.call_many([js_request(f) for f in frames])
    return [js_as_expect(f, a) for f, a in zip(frames, answers, strict=True)]


# ---- comparison ----


def same_json(a: Any, b: Any) -> bool:
    """Strict JSON equality: booleans are not numbers, numbers compare by value, floats exactly."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def matches(expect: dict[str, Any], actual: dict[str, Any]) -> bool:
    """An error expectation matches the class exactly and the message as a substring."""
    if "error" in expect:
        err = actual.get("error")
        return (
            isinstance(err, dict)
            and err.get("class") == expect["error"]["class"]
            and expect["error"]["message"] in str(err.get("message"))
        )
    return same_json(expect, actual)


def check(paths: Iterable[str | Path], runtimes: Iterable[str] = RUNTIMES,
          codec_js: str | Path | None = None) -> Report:
    """Check every frame of the given files on the given runtimes."""
    frames: list[Frame] = []
    for p in corpus_files(paths):
        frames.extend(load(p)[1])
    rts = tuple(runtimes)
    for r in rts:
        if r not in RUNTIMES:
            raise ToolError(f"unknown runtime {r!r} (choose from {', '.join(RUNTIMES)})")
    report = Report(frames=len(frames), runtimes=rts)
    results: dict[str, list[dict[str, Any]]] = {}
    if "cpython" in rts:
        results["cpython"] = [decode_python(f.codec, f.dir, f.fport, f.data, f.recv_ms) for f in frames]
    if "micropython" in rts:
        results["micropython"] = decode_micropython(frames)
    if "js" in rts:
        results["js"] = decode_js(frames, codec_js)
    for rt in rts:
        for f, actual in zip(frames, results[rt], strict=True):
            if not matches(f.expect, actual):
                report.mismatches.append(Mismatch(f, rt, f.expect, actual))
    return report


# ---- recording ----


def uplink_from_json(obj: Any) -> tuple[int, bytes, str | None, str | None]:
    """(fPort, bytes, received ISO or None, device id or None) from a ChirpStack v4 or
    The Things Stack v3 uplink event, or {"fport", "hex"}."""
    import base64

    if not isinstance(obj, dict):
        raise ToolError("the uplink must be a JSON object")
    try:
        if "uplink_message" in obj:  # The Things Stack v3 (docs/references.md §M)
            up = obj["uplink_message"]
            dev = (obj.get("end_device_ids") or {}).get("device_id")
            return int(up["f_port"]), base64.b64decode(up.get("frm_payload", "")), up.get("received_at"), dev
        if "fPort" in obj:  # ChirpStack v4 (docs/references.md §L)
            dev = (obj.get("deviceInfo") or {}).get("devEui")
            return int(obj["fPort"]), base64.b64decode(obj.get("data", "")), obj.get("time"), dev
        if "fport" in obj and "hex" in obj:
            return int(obj["fport"]), bytes.fromhex(obj["hex"]), obj.get("received"), None
    except (KeyError, TypeError, ValueError) as e:
        raise ToolError(f"cannot read the uplink: {e}") from None
    raise ToolError("not a ChirpStack v4 or The Things Stack v3 uplink, nor {\"fport\", \"hex\"}")


def normalise_time(text: str | None) -> str | None:
    """An LNS timestamp (nanoseconds, +00:00) -> the corpus' ISO form with at most ms."""
    if not text:
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|\+00:00)$", text)
    if not m:
        raise ToolError(f"reception time {text!r} is not UTC ISO 8601")
    frac = (m.group(2) or "")[:4]
    return m.group(1) + (frac if frac and frac.strip(".0") else "") + "Z"


def make_frame(fid: str, codec: str, direction: str, fport: int, data: bytes, source: str,
               received: str | None = None, ref: str | None = None, note: str | None = None) -> Frame:
    """A frame whose expectation is what the current decoder gives (review it before committing)."""
    ms = iso_to_ms(received) if received else None
    expect = decode_python(codec, direction, fport, data, ms)
    obj = {"id": fid, "codec": codec, "dir": direction, "fport": fport, "hex": data.hex(),
           "source": source, "expect": expect}
    for k, v in (("ref", ref), ("received", received), ("note", note)):
        if v is not None:
            obj[k] = v
    return _frame(json.loads(json.dumps(obj)), "<new>")


def dump_line(f: Frame) -> str:
    return json.dumps(f.to_json(), ensure_ascii=False, separators=(", ", ": "))


def append(path: str | Path, frames: list[Frame], title: str | None = None) -> None:
    """Append frames to a corpus file (created with a header if missing); ids stay unique."""
    p = Path(path)
    existing: set[str] = set()
    if p.exists() and p.read_text(encoding="utf-8").strip():
        existing = {f.id for f in load(p)[1]}
        prefix = "" if p.read_text(encoding="utf-8").endswith("\n") else "\n"
    else:
        header = {"corpus": FORMAT, "version": VERSION, "title": title or p.stem}
        p.write_text(json.dumps(header) + "\n", encoding="utf-8")
        prefix = ""
    for f in frames:
        if f.id in existing:
            raise ToolError(f"{p} already holds a frame {f.id!r}")
        existing.add(f.id)
    with p.open("a", encoding="utf-8") as fh:
        fh.write(prefix + "".join(dump_line(f) + "\n" for f in frames))
