"""``trosmart flash``: put the firmware, its configuration and the keys on a node, then self-test.

    trosmart flash --port /dev/ttyUSB0 --board esp32_devkit_rak3172 --config node.json \\
        [--secrets secrets.json] [--firmware ESP32_GENERIC-v1.29.0.bin]
    trosmart flash --batch devices.csv --port /dev/ttyUSB0     # board after board, with a prompt
    trosmart flash --batch devices.csv --ports all             # every connected board at once

Only changed files are copied (hashes on the device); an interrupted copy is repaired by the
next run. Each result is appended as one JSON line to the provisioning log (--log). Exit
status 0 when every board passed its self-test, 1 when one failed, 2 on an error.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import sys
import threading
from pathlib import Path
from typing import Any

from ..device import boards
from ..device.errors import ConfigInvalid, DeviceError, NoPort

NAME = "flash"
HELP = "flash firmware + config to a node (or a batch of nodes) and run its self-test"
DESCRIPTION = __doc__
DEFAULT_LOG = "provisioning.jsonl"
PORTS_ENV = "TROSMART_PORTS"  # extra ports for --ports all: a glob (the virtual lab's boards)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", help="serial port of the board (e.g. /dev/ttyUSB0)")
    p.add_argument("--board", default="esp32_devkit_rak3172", choices=sorted(boards.BOARDS),
                   help="board profile (default esp32_devkit_rak3172)")
    p.add_argument("--config", metavar="NODE.JSON", help="the node's config.json (docs/firmware.md §3)")
    p.add_argument("--secrets", metavar="SECRETS.JSON", help="LoRaWAN keys (written by trosmart provision)")
    p.add_argument("--firmware", metavar="MICROPYTHON.BIN", help="write this MicroPython image first (esptool)")
    p.add_argument("--batch", metavar="DEVICES.CSV",
                   help="flash many boards: CSV with columns config[,secrets,board,port,name]")
    p.add_argument("--ports", metavar="all|P1,P2",
                   help="with --batch: flash on these ports at once ('all': every connected serial port)")
    p.add_argument("--log", default=DEFAULT_LOG, help=f"provisioning log, JSON Lines (default {DEFAULT_LOG})")
    p.add_argument("--reset", action="store_true", help="reset the board after a passed self-test")


def _job(row: dict[str, str], args: argparse.Namespace, base: Path) -> dict[str, Any]:
    def rel(v: str) -> str:
        return str(base / v) if v and not os.path.isabs(v) else v

    from ..device import nodeconfig

    cfg_path = rel(row.get("config", "") or args.config or "")
    if not cfg_path:
        raise ConfigInvalid("no configuration: pass --config NODE.JSON (or a config column in the batch CSV)")
    config = nodeconfig.read_file(cfg_path)
    sec_path = rel(row.get("secrets", "") or args.secrets or "")
    secrets = nodeconfig.read_object(sec_path, "secrets") if sec_path else None
    return {"board": row.get("board") or args.board, "config": config, "secrets": secrets,
            "name": row.get("name") or "", "port": row.get("port") or ""}


def _append_log(path: str, line: str) -> None:
    with _log_lock, open(path, "a") as f:
        f.write(line + "\n")


_log_lock = threading.Lock()


def _report(res: Any, *, name: str = "") -> None:
    who = f"{res.port}" + (f" ({name})" if name else "")
    if res.error:
        print(f"{who}: FAILED: {res.error}", flush=True)
        return
    for line in [*res.notes, *res.report]:
        print(f"{who}: {line}", flush=True)
    print(f"{who}: {'PASS' if res.ok else 'FAIL'} in {res.seconds:.1f} s ({res.copied} files copied)", flush=True)


def _flash_one(port: str, job: dict[str, Any], args: argparse.Namespace, progress: Any) -> Any:
    from ..device.flash import flash_or_error

    res = flash_or_error(port, job["board"], job["config"], job["secrets"],
                         firmware=Path(args.firmware) if args.firmware else None, progress=progress,
                         reset=args.reset)
    _append_log(args.log, res.log_line())
    return res


def discover_ports() -> list[str]:
    """Every USB serial port (VID/PID known, as mpremote's 'auto'), plus $TROSMART_PORTS."""
    import serial.tools.list_ports

    ports = sorted(p.device for p in serial.tools.list_ports.comports() if p.vid is not None)
    extra = os.environ.get(PORTS_ENV)
    if extra:
        ports += sorted(glob.glob(extra))
    return ports


def _batch_rows(path: str) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as f:
            rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f)]
    except OSError as e:
        raise ConfigInvalid(f"cannot read the batch file {path}: {e.strerror}") from None
    if not rows:
        raise ConfigInvalid(f"{path} has no devices (a header row, then one row per board)")
    return rows


def run(args: argparse.Namespace) -> int:
    from ..device.progress import Progress

    if not args.batch:
        if not args.port:
            raise NoPort("no port given: pass --port (list them with 'mpremote connect list')")
        job = _job({}, args, Path.cwd())
        res = _flash_one(args.port, job, args, Progress(args.port))
        _report(res)
        if res.error:
            raise DeviceError(res.error)
        return 0 if res.ok else 1
    base = Path(args.batch).resolve().parent
    rows = _batch_rows(args.batch)
    jobs = [_job(r, args, base) for r in rows]  # every row's config is checked before any board
    if args.ports:
        return _parallel(jobs, args)
    results = []
    for i, job in enumerate(jobs):
        port = job["port"] or args.port
        if not port:
            raise NoPort(f"row {i + 1} of {args.batch} has no port: pass --port or add a port column")
        if sys.stdin.isatty():
            input(f"[{i + 1}/{len(jobs)}] connect board {job['name'] or i + 1} to {port}, then press Enter ")
        res = _flash_one(port, job, args, Progress(port))
        _report(res, name=job["name"])
        results.append(res)
    return _summary(results)


def _parallel(jobs: list[dict[str, Any]], args: argparse.Namespace) -> int:
    from ..device.progress import Progress

    ports = discover_ports() if args.ports == "all" else [p for p in args.ports.split(",") if p]
    if not ports:
        raise NoPort("no serial ports found: plug the boards in (or name them with --ports P1,P2)")
    n = min(len(ports), len(jobs))
    if len(jobs) < len(ports):
        print(f"{len(ports)} boards connected but {len(jobs)} rows in {args.batch}: flashing {n}", flush=True)
    results: list[Any] = [None] * n
    stream = sys.stderr
    if stream.isatty():
        stream.write("\n" * n)

    def work(i: int) -> None:
        results[i] = _flash_one(ports[i], jobs[i], args, Progress(ports[i], stream=stream, row=i, rows=n))

    threads = [threading.Thread(target=work, args=(i,), name=f"flash-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, res in enumerate(results):
        _report(res, name=jobs[i]["name"])
    return _summary(results)


def _summary(results: list[Any]) -> int:
    ok = sum(1 for r in results if r.ok)
    print(f"{ok} of {len(results)} boards passed", flush=True)
    if any(r.error for r in results):
        return 2
    return 0 if ok == len(results) else 1
