"""Store and forward (issue 21): RAM, RTC memory and flash it uses, flash writes per day, and the
catch-up time after a 24-hour gateway outage at SF7 and SF12, measured on the MicroPython Unix
port in accelerated virtual time (tests/firmware_node/mpy_store.py, the same runs as the tests).

Baseline: the previous attempt's figures as the issue's brief gives them (catch-up 71 s at SF7,
2.0 h at SF12; ~12 KB of heap for its two modules, which ran the node out of heap).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.firmware_node.store_lab import HEAP, at_city, run_scenario
from trosmart_tools.mpy import find_micropython
from trosmart_tools.virtual_lab.board_runner import stage_firmware

PREV_SF7_S = 71.0
PREV_SF12_S = 2.0 * 3600
PREV_HEAP_B = 12 * 1024
SECTOR_CYCLES = 100_000  # SPI NOR flash erase/program cycles per 4 KiB sector (docs/references.md §F)
FS_SECTORS = 512  # a 2 MiB filesystem partition


def _import_cost(lib: Path, before: str, modules: str) -> int:
    pre = f"import {before}\n" if before else ""
    code = (f"import gc\n{pre}gc.collect()\na = gc.mem_alloc()\nimport {modules}\ngc.collect()\n"
            "print(gc.mem_alloc() - a)")
    r = subprocess.run([find_micropython(), "-X", f"heapsize={HEAP}", "-c", code],
                       env={"MICROPYPATH": f".frozen:{lib}"}, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"import {modules}: {r.stdout[-300:]} {r.stderr[-300:]}")
    return int(r.stdout.split()[-1])


def _node_only_free(work: Path, commit: str | None) -> list[int]:
    """Free heap after each of 200 cycles of the node cycle alone (tests/bench/mpy_node_heap.py,
    precompiled) of this tree, or of ``commit`` (the tree before store and forward)."""
    import shutil

    from trosmart_tools.device.stage import compile_mpy
    from trosmart_tools.mpy import REPO_ROOT

    lib = work / "lib"
    if commit is None:
        lib = stage_firmware(work / "img", {}, None) / "lib"
    else:
        work.mkdir(parents=True)
        arch = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", commit, "firmware/lib", "payload_codec"],
                              capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(work)], input=arch, check=True)
        shutil.copytree(work / "firmware" / "lib", lib)
        shutil.copytree(work / "payload_codec", lib / "payload_codec")
    shutil.copy(Path(__file__).parent / "mpy_node_heap.py", lib / "mpy_node_heap.py")
    compile_mpy(lib)
    flash = work / "flash"
    flash.mkdir()
    r = subprocess.run([find_micropython(), "-X", f"heapsize={HEAP}", "-c", "import mpy_node_heap", str(flash),
                        "200"], env={"MICROPYPATH": f".frozen:{lib}"}, capture_output=True, text=True,
                       timeout=300, cwd=flash)
    out = r.stdout.split()
    if r.returncode != 0 or "counter" not in out:
        raise RuntimeError(f"node-only heap run failed: {r.stdout[-300:]} {r.stderr[-500:]}")
    return [int(x) for x in out[: out.index("counter")]]


BASELINE = "65fe7c7"  # main before store and forward (issue 21)


def _catch_up_s(rec: dict) -> tuple[float, int, int]:
    """(seconds from the first proven batch after the outage to the last backlog sample, backlog,
    batch frames)."""
    city, _, _ = at_city(rec)
    end = rec["outage_ms"][1]
    backlog = [c for c in city if c.received_ms >= end and c.t_s * 1000 < end]
    first = min(c.received_ms for c in backlog)
    last = max(c.received_ms for c in backlog)
    # batch frames the network heard during the catch-up (FPort 1, the codec's batch flag 0x10)
    frames = sum(1 for t, port, hexs in rec["heard"]
                 if first <= t <= last and port == 1 and int(hexs[:2], 16) & 0x10)
    return (last - first) / 1000, len(backlog), frames


def run(args: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="trosmart-bench-store-"))
    img = stage_firmware(work / "img", {}, None)
    lib = img / "lib"
    node = "node_config, node_state, duty_cycle, node_frames, payload_codec.measurement"
    always = _import_cost(lib, node, "sample_store")
    lazy = _import_cost(lib, node + ", sample_store", "catch_up")
    print(f"heap (.mpy, -X heapsize={HEAP}): sample_store (always imported) {always} B; catch_up "
          f"(imported for a commit or catch-up, dropped after) {lazy} B; together "
          f"{always + lazy} B vs the previous attempt's ~{PREV_HEAP_B} B: ratio {(always + lazy) / PREV_HEAP_B:.2f}")
    # the baseline: the tree before store and forward landed (main at 65fe7c7)
    base = subprocess.run(["git", "rev-parse", "--verify", "-q", BASELINE + "^{commit}"],
                          capture_output=True, text=True).stdout.strip()
    if base:
        with_store = _node_only_free(work / "with", None)
        without = _node_only_free(work / "without", base)
        print(f"node cycle alone (doubles for modem and board, .mpy, -X heapsize={HEAP}, 200 cycles): min free "
              f"{min(with_store)} B with store and forward vs {min(without)} B before it ({base[:8]}): "
              f"{min(without) - min(with_store)} B more in use (a 1024 B RTC image and the test double's "
              f"1024 B copy of RTC memory among them; the status encoder is dropped after a status frame)")
    up = run_scenario(work / "up", hours=24, outage=[30, 30])
    sf7 = run_scenario(work / "sf7", hours=30, outage=[1, 25], data_rate=5)
    sf12 = run_scenario(work / "sf12", hours=40, outage=[1, 25], data_rate=0)
    print(f"heap in use after a wake (gc, node built, -X heapsize={HEAP}): link up max "
          f"{up['heap_max_after_cycle']} B; 24 h outage + catch-up max {sf7['heap_max_after_cycle']} B "
          f"(+{sf7['heap_max_after_cycle'] - up['heap_max_after_cycle']} B)")
    print(f"RTC memory: the store may use {up['rtc_store_bytes']} B (bytes 256-1023, both backends), "
          f"header 20 B; most in use: link up {up['max_rtc_bytes'] + 20} B, outage {sf7['max_rtc_bytes'] + 20} B")
    per_block = sf7["max_rtc_bytes"]
    print(f"flash: one block = {sf7['block']} samples = {per_block} B (per sample 5 B time and length, then "
          f"id, type and float32 per quantity: 4 quantities here); a full store (24 blocks) {24 * per_block} B")
    print(f"flash writes per day at a 10-minute interval: link up {up['flash_writes']}; 24 h outage "
          f"and its catch-up {sf7['flash_writes']} (SF7), {sf12['flash_writes']} (SF12)")
    worst = max(sf7["flash_writes"], sf12["flash_writes"], 1) + 2.25  # + the counter file (node_state)
    print(f"  wear-out with an outage every day ({worst:.1f} writes/day, 2 sectors each): "
          f"{SECTOR_CYCLES * FS_SECTORS / (2 * worst) / 365:.0f} years spread over {FS_SECTORS} sectors "
          f"(LittleFS), {SECTOR_CYCLES / (2 * worst) / 365:.1f} years if one sector took them all")
    for name, rec, prev in (("SF7", sf7, PREV_SF7_S), ("SF12", sf12, PREV_SF12_S)):
        took, backlog, frames = _catch_up_s(rec)
        print(f"catch-up after a 24 h outage at {name}: {backlog} samples in {frames} batch frames, "
              f"{took:.0f} s ({took / 3600:.2f} h) vs the previous attempt's {prev:.0f} s: ratio {took / prev:.2f}; "
              f"{rec['dropped_at_end']} dropped, {rec['kept_at_end']} still kept at the end")
