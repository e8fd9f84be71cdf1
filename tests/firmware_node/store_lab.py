"""Run a store-and-forward scenario (mpy_store.py) on the MicroPython Unix port and place what
the network heard as the bridge does (bridge.samples: each sample's own time, repeats left
out). Shared by tests/firmware_node/test_store.py and tests/bench/bench_store.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import payload_codec
from bridge import samples
from payload_codec.airtime import EU868, LORAWAN_OVERHEAD, max_payload, time_on_air_us
from trosmart_tools.mpy import REPO_ROOT, run

SCRIPT = Path(__file__).with_name("mpy_store.py")
MPY_PATH = [REPO_ROOT / "firmware" / "lib", REPO_ROOT / "tools" / "virtual_lab" / "board"]
HEAP = "176k"  # the node's heap budget in the heap tests (docs/firmware.md §10)
FRAME_CAP = 51  # duty_cycle.FRAME_CAP


@dataclass
class CitySample:
    t_s: float  # the time the bridge gives it (reception + offset)
    temperature: float
    received_ms: int  # when the network first heard it
    batch: bool


def run_scenario(flash: Path, **scen: Any) -> dict[str, Any]:
    flash.mkdir(parents=True, exist_ok=True)
    r = run([str(SCRIPT), str(flash), json.dumps(scen)], path=MPY_PATH, heapsize=HEAP, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"mpy_store.py printed no record: {r.stderr[-3000:]}"
    rec: dict[str, Any] = json.loads(lines[-1])
    rec["heard"], rec["measured"] = [], []
    for ln in Path(rec["log"]).read_text().splitlines():
        kind, t, *rest = ln.split()
        if kind == "H":
            rec["heard"].append([int(t), int(rest[0]), rest[1]])
        else:
            rec["measured"].append([int(t), float(rest[0])])
    return rec


def at_city(rec: dict[str, Any]) -> tuple[list[CitySample], list[dict[str, Any]], int]:
    """(samples once each, status frames, repeats the bridge left out)."""
    seen = bytearray()
    out: list[CitySample] = []
    statuses = []
    repeats = 0
    for t_ms, port, hexs in rec["heard"]:
        data = bytes.fromhex(hexs)
        d = payload_codec.decode_uplink(port, data)
        if d["kind"] == "status":
            statuses.append(d["status"])
            continue
        bt = t_ms / 1000
        batch = bool(data[0] & 0x10)
        repeats += samples.drop_repeats(d, bt, seen, batch)
        for s in d["samples"]:
            out.append(CitySample(bt + s["offset_s"], s["values"]["temperature"], t_ms, batch))
    return out, statuses, repeats


def airtime_ms(app_len: int, dr: int) -> float:
    sf, bw, _ = EU868[dr]
    return time_on_air_us(app_len + LORAWAN_OVERHEAD, sf, bw) / 1000


def per_frame(interval_s: int, dr: int, n: int = 32) -> int:
    """Samples of the scenario's sensors one batch frame carries at ``dr`` (the codec's own
    size: what catch_up.batch fits under the DR's payload limit, ADR off, at most 32)."""
    limit = max_payload(dr)
    best = 1
    for k in range(1, n + 1):
        batch = [(-(k - 1 - i) * interval_s,
                  {"temperature": round(-20.0 + 0.1 * i, 1), "humidity": 30.0 + (i * 7 % 40),
                   "pressure": 1013.2, "battery_voltage": 3.9}) for i in range(k)]
        if len(payload_codec.encode_batch(batch)) <= limit:
            best = k
    return best
