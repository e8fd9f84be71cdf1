"""``trosmart flash`` for one board: validate, stage, detect, (write MicroPython), copy, self-test.

Steps, each reported on the board's Progress:
1. the config is checked against the node's schema before anything touches the board;
2. the firmware is staged and compiled for the board profile (cached .mpy), once per process:
   the boards of a batch share the code and get their own config and secrets;
3. detect: one REPL call probes the board (version, .mpy, platform, file hashes) and runs the
   self-test of the files already there; with no REPL, the ROM loader is asked (rom.py);
4. with ``--firmware`` (or a chip without MicroPython), esptool writes the image first;
5. packages: the micropython-lib packages the profile needs (a bare radio's `lora` driver) are
   installed with mip when the board lacks them (packages.py) and its image has not frozen them;
6. copy: on an image with TroSmart's modules frozen in (image.py) only what it lacks; of that,
   only the files whose hash differs, under temporary names, main.py last (sync.py),
   and the self-test runs again in the same call;
7. the self-test is judged; ``reset`` restarts the node into its new firmware.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import boards, image, mpremote, nodeconfig, packages, probe, rom, selftest, stage, sync
from .errors import DeviceError, NotABoard, SelfTestFailed, WrongBoard
from .progress import Progress


@dataclass
class FlashResult:
    port: str
    board: str
    time: str = ""
    chip_id: str = ""
    deveui: str = ""
    firmware: str = ""
    micropython: str = ""
    copied: int = 0
    selftest: str = "not run"  # "pass" | "fail" | "not run"
    failures: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    report: list[str] = field(default_factory=list)  # the self-test's lines (not logged)
    frozen: int = 0  # staged files left out because the board's image holds them frozen
    notes: list[str] = field(default_factory=list)  # what the flash decided, for the technician

    @property
    def ok(self) -> bool:
        return not self.error and self.selftest == "pass"

    def log_line(self) -> str:
        d = asdict(self)
        del d["report"]
        return json.dumps(d, sort_keys=True)


def eui64_from_mac(uid_hex: str) -> str:
    """DevEUI from the chip id: a 48-bit MAC becomes an EUI-64 by inserting FFFE in the middle
    (IEEE EUI-48 to EUI-64); an id that already has 8 bytes is used as it is."""
    uid = uid_hex.lower()
    if len(uid) == 12:
        return uid[:6] + "fffe" + uid[6:]
    if len(uid) == 16:
        return uid
    if len(uid) == 32:  # 16 ASCII hex digits (the virtual board's unique_id)
        try:
            text = bytes.fromhex(uid).decode()
            int(text, 16)
            return text.lower()
        except ValueError:
            pass
    return ""


def flash_board(port: str, board_name: str, config: dict[str, Any], secrets: dict[str, str] | None, *,
                firmware: Path | None = None, progress: Progress | None = None, reset: bool = False,
                work: Path | None = None) -> FlashResult:
    """Flash one board; raises a DeviceError for anything that stops the flash."""
    prog = progress or Progress(port)
    prof = boards.profile(board_name)
    config = dict(config)
    if config.setdefault("board", board_name) != board_name:
        raise WrongBoard(f"the config names board {config['board']!r} but --board is {board_name!r}: "
                         "make them agree")
    nodeconfig.check(config, source="config")
    result = FlashResult(port, board_name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    with tempfile.TemporaryDirectory(prefix="trosmart-flash-", dir=work) as tmp:
        prog.step("compile")
        staged = stage.stage_board(Path(tmp) / "stage", config, secrets, march=prof.march)
        wanted = stage.manifest(staged)
        test_cmd = selftest.command(selftest.module_names(list(wanted)))
        prog.step("detect")
        if firmware is not None:
            rom.write_micropython(port, prof, firmware, prog)
            prog.step("reboot")
            info, extra = _wait_for_repl(port, firmware, [test_cmd])
        else:
            try:
                info, extra = probe.probe(port, extra=[test_cmd])
            except NotABoard:
                if prof.chip is None:
                    raise
                rom.explain_no_micropython(port, prof)  # raises the precise error
                raise
        result.chip_id, result.micropython = info.chip_id, info.mp_version
        if info.platform != prof.platform:
            raise WrongBoard(f"{port} has a MicroPython board for platform {info.platform!r}, not "
                             f"{board_name} ({prof.platform}): pick the right --board or port")
        stage.check_bytecode(info.mpy, stage.mpy_cross_version(), info.mp_version)
        if info.image_version:  # a custom image with TroSmart's modules frozen in
            image.check(info.image_version, stage.build_version(), port)
            wanted, left_out = image.not_frozen(wanted, info.frozen)
            result.frozen = len(left_out)
            result.notes.append(
                f"image has TroSmart {info.image_version} frozen ({len(info.frozen)} modules): copying only "
                f"config, secrets and what the image lacks, {len(left_out)} staged files left out")
        if packages.missing(prof.packages, info.files, info.frozen):
            prog.step("packages")
            packages.ensure(port, board_name, prof.packages, info.files, frozen=info.frozen)
        p = sync.plan(wanted, info.files)
        report = extra[-1] if extra else None
        if not p.empty:
            prog.step("copy", len(p.copy))
            out = sync.run(port, staged, p, after=[test_cmd], on_file=lambda _f: prog.advance())
            after = mpremote.results(out)
            report = after[-1] if after else None
            result.copied = len(p.copy)
        prog.step("self-test")
        judged = selftest.judge(report)
        if reset:
            mpremote.run(port, ["reset"])
    prog.finish()
    result.firmware = str(judged.report.get("firmware", ""))
    result.deveui = (secrets or {}).get("deveui", "") or eui64_from_mac(result.chip_id)
    result.selftest = "pass" if judged.passed else "fail"
    result.failures = judged.failures
    result.report = judged.lines()
    return result


REBOOT_TIMEOUT_S = 90.0  # MicroPython's first boot formats the filesystem
REBOOT_PROBE_S = 10.0


def _wait_for_repl(port: str, image: Path, extra: list[list[str]]) -> tuple[probe.BoardInfo, list[object]]:
    """The REPL of the freshly written MicroPython, asked again until it answers (bounded)."""
    deadline = time.monotonic() + REBOOT_TIMEOUT_S
    while True:
        try:
            return probe.probe(port, extra=extra, timeout_s=REBOOT_PROBE_S)
        except DeviceError:
            if time.monotonic() > deadline:
                raise NotABoard(f"MicroPython did not start on {port} after writing {image.name}: is it the "
                                "image for this chip? Press EN and run the same command without --firmware") from None
            time.sleep(0.2)  # the port may be gone while the board reboots: look again shortly


def flash_or_error(port: str, board_name: str, config: dict[str, Any], secrets: dict[str, str] | None,
                   **kw: Any) -> FlashResult:
    """flash_board, with a failure recorded in the result instead of raised (batch mode)."""
    t0 = time.monotonic()
    try:
        res = flash_board(port, board_name, config, secrets, **kw)
    except DeviceError as e:
        res = FlashResult(port, board_name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), error=str(e))
    res.seconds = round(time.monotonic() - t0, 2)
    return res


def raise_for(res: FlashResult) -> None:
    if res.error:
        raise DeviceError(res.error)
    if res.selftest != "pass":
        raise SelfTestFailed(f"self-test failed on {res.port}: {'; '.join(res.failures)}")
