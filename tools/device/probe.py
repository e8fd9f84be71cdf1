"""What is on the port, asked over the REPL: MicroPython version, ``sys.implementation._mpy``,
platform, the chip's unique id, the SHA-256 of every file on the node's flash (top level
and lib/) and, on a custom image built with firmware/manifest.py, the TroSmart modules it
holds frozen (its ``trosmart_image`` module: VERSION and MODULES), in one mpremote call."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import mpremote
from .errors import DeviceError

TIMEOUT_S = 30.0  # hashing every file of a full ESP32 flash takes a few seconds

# runs on the board; MicroPython and CPython syntax alike, no allocation in the hash loop
HASH_FN = r"""
try:
    import hashlib
except ImportError:
    hashlib = None
def _h(p):
    if hashlib is None:
        return ""
    d = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    with open(p, "rb") as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            d.update(m[:n])
    return "".join("%02x" % x for x in d.digest())
"""

PROBE = HASH_FN + r"""
import sys, os, gc
import json
def _walk(d, out):
    for e in (os.ilistdir(d) if d else os.ilistdir()):
        p = d + "/" + e[0] if d else e[0]
        if e[1] & 0x4000:
            if p == "lib" or p.startswith("lib/"):
                _walk(p, out)
        else:
            out[p] = _h(p)
_files = {}
_walk("", _files)
try:
    import machine
    _uid = "".join("%02x" % x for x in machine.unique_id())
except Exception:
    _uid = ""
try:  # a custom image with TroSmart's modules frozen in (firmware/manifest.py, docs/flash.md)
    import trosmart_image as _ti
    _img = {"version": str(_ti.VERSION), "modules": [str(m) for m in _ti.MODULES]}
    del _ti
    sys.modules.pop("trosmart_image", None)
except ImportError:
    _img = None
gc.collect()
print("@@TROSMART " + json.dumps({"image": _img,"mp": ".".join(str(x) for x in sys.implementation.version[:3]),
    "mpy": getattr(sys.implementation, "_mpy", 0), "platform": sys.platform,
    "machine": os.uname().machine if hasattr(os, "uname") else sys.platform, "uid": _uid,
    "files": _files, "free": gc.mem_free()}))
"""


@dataclass
class BoardInfo:
    mp_version: str
    mpy: int
    platform: str
    machine: str
    uid: str
    files: dict[str, str] = field(default_factory=dict)
    free: int = 0
    image_version: str = ""  # firmware version frozen into the image ("" for a stock image)
    frozen: tuple[str, ...] = ()  # module names the image holds frozen ("node", "payload_codec.cbor")

    @property
    def chip_id(self) -> str:
        return self.uid


def parse(value: object) -> BoardInfo:
    if not isinstance(value, dict):
        raise DeviceError("the board's answer to the probe is not an object")
    try:
        image = value.get("image") or {}
        if not isinstance(image, dict):
            raise TypeError("image is not an object")
        return BoardInfo(str(value["mp"]), int(value["mpy"]), str(value["platform"]), str(value["machine"]),
                         str(value["uid"]), {str(k): str(v) for k, v in dict(value["files"]).items()},
                         int(value["free"]), str(image.get("version", "")),
                         tuple(str(m) for m in image.get("modules", ())))
    except (KeyError, TypeError, ValueError) as e:
        raise DeviceError(f"the board's answer to the probe is incomplete ({e})") from None


def probe(port: str, *, extra: list[list[str]] | None = None,
          timeout_s: float | None = None) -> tuple[BoardInfo, list[object]]:
    """BoardInfo, plus the MARKER results of ``extra`` commands chained after the probe."""
    out = mpremote.run(port, mpremote.chain(["exec", PROBE], *(extra or [])), timeout_s=timeout_s or TIMEOUT_S)
    res = mpremote.results(out)
    if not res:
        raise DeviceError(f"the board on {port} did not answer the probe: {out.strip()[-200:]!r}")
    return parse(res[0]), res[1:]
