"""Store and forward in the virtual lab (issue 21): the node firmware on the MicroPython Unix port
under its heap budget, a gateway outage at the network edge, accelerated virtual time
(store_lab.py, mpy_store.py), and what reaches the city placed by the bridge's own code
(bridge.samples). Figures: docs/firmware.md §12; `make bench BENCH_ARGS=store`."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from bridge.samples import TOLERANCE_S
from payload_codec.airtime import max_payload

from .store_lab import airtime_ms, at_city, per_frame, run_scenario

INTERVAL = 600
BLOCK = 12


def _catch_up(rec: dict[str, Any], dr: int) -> tuple[float, float, int]:
    """(measured catch-up s, the duty cycle's bound s, backlog samples) after the outage."""
    city, _, _ = at_city(rec)
    end = rec["outage_ms"][1]
    backlog = [c for c in city if c.received_ms >= end and c.t_s * 1000 < end]
    first = min(c.received_ms for c in city if c.received_ms >= end and c.batch)
    last = max(c.received_ms for c in backlog)
    frames = math.ceil(len(backlog) / per_frame(INTERVAL, dr))
    off51 = 100 * airtime_ms(max_payload(dr), dr) / 1000  # the largest batch (ADR off)
    off_live = 100 * airtime_ms(7, dr) / 1000
    per_interval = max(1, math.floor((INTERVAL - off_live) / off51))
    bound = math.ceil((frames - 1) / per_interval) * INTERVAL + off51 + 1
    return (last - first) / 1000, bound, len(backlog)


def _every_sample_once(rec: dict[str, Any], lost_ok: int = 0) -> list[Any]:
    city, _, _ = at_city(rec)
    by_temp: dict[float, list[Any]] = {}
    for c in city:
        by_temp.setdefault(c.temperature, []).append(c)
    assert all(len(v) == 1 for v in by_temp.values()), "a sample reached the city twice"
    missing = [m for m in rec["measured"] if m[1] not in by_temp]
    assert len(missing) <= lost_ok, f"{len(missing)} samples lost: {missing[:5]}"
    for t_ms, temp in rec["measured"]:
        if temp in by_temp:  # its own time, not the time of the catch-up frame
            assert abs(by_temp[temp][0].t_s - t_ms / 1000) <= TOLERANCE_S, (temp, by_temp[temp][0], t_ms)
    return missing


@pytest.fixture(scope="module")
def outage_sf7(micropython: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_scenario(tmp_path_factory.mktemp("flash"), hours=12, outage=[2, 8], data_rate=5)


@pytest.fixture(scope="module")
def outage_sf12(micropython: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_scenario(tmp_path_factory.mktemp("flash"), hours=16, outage=[2, 8], data_rate=0)


def test_six_hour_outage_every_sample_once_with_its_own_time(outage_sf7: dict[str, Any]) -> None:
    start, end = outage_sf7["outage_ms"]
    in_outage = [m for m in outage_sf7["measured"] if start <= m[0] < end]
    assert len(in_outage) == 36
    _every_sample_once(outage_sf7)
    assert outage_sf7["kept_at_end"] < BLOCK  # caught up: only the unproven live samples wait
    assert outage_sf7["dropped_at_end"] == 0


def test_six_hour_outage_catch_up_within_the_duty_cycle_figure(outage_sf7: dict[str, Any]) -> None:
    took, bound, backlog = _catch_up(outage_sf7, 5)
    assert backlog >= 36
    assert took <= bound, f"catch-up {took:.0f} s, the duty cycle allows it in {bound:.0f} s"


def test_live_samples_never_wait_more_than_one_interval(outage_sf7: dict[str, Any]) -> None:
    city, _, _ = at_city(outage_sf7)
    end = outage_sf7["outage_ms"][1]
    for c in city:
        if c.t_s * 1000 >= end + INTERVAL * 1000:  # measured once the link was back
            assert c.received_ms / 1000 - c.t_s <= INTERVAL + TOLERANCE_S


def test_no_flash_write_while_the_link_is_up(micropython: str, tmp_path: Path) -> None:
    rec = run_scenario(tmp_path / "flash", hours=24, outage=[30, 30])
    assert rec["flash_writes"] == 0
    _every_sample_once(rec)


def test_outage_at_sf12_more_smaller_batches(outage_sf7: dict[str, Any], outage_sf12: dict[str, Any]) -> None:
    _every_sample_once(outage_sf12)
    took, bound, _ = _catch_up(outage_sf12, 0)
    assert took <= bound, f"catch-up {took:.0f} s, the duty cycle allows it in {bound:.0f} s"

    def batches(rec: dict[str, Any]) -> list[int]:
        return [len(h[2]) // 2 for h in rec["heard"] if h[1] == 1 and int(h[2][:2], 16) & 0x10]

    b7, b12 = batches(outage_sf7), batches(outage_sf12)
    assert len(b12) > len(b7)  # the 51-byte limit of DR0 (docs/references.md §J) ...
    assert max(b12) <= 51 < max(b7) <= 242  # ... where DR5 takes a whole store in one frame


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_power_cuts_during_outage_and_catch_up(micropython: str, tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    cuts = sorted([rnd.uniform(2.1, 7.9) for _ in range(2)] + [rnd.uniform(8.0, 8.6)])
    rec = run_scenario(tmp_path / "flash", hours=12, outage=[2, 8], power_cuts=cuts)
    assert len(rec["cuts_ms"]) == 3
    assert all(n <= BLOCK for n in rec["lost_in_rtc"])
    missing = _every_sample_once(rec, lost_ok=sum(rec["lost_in_rtc"]))
    # what a cut lost was in RTC memory only: never more than one block per cut
    assert len(missing) <= BLOCK * len(rec["cuts_ms"])


def test_full_store_drops_the_oldest_and_says_how_many(micropython: str, tmp_path: Path) -> None:
    rec = run_scenario(tmp_path / "flash", hours=14, outage=[1, 10], store_blocks=2)
    city, statuses, _ = at_city(rec)
    got = {c.temperature for c in city}
    missing = [m for m in rec["measured"] if m[1] not in got]
    assert missing, "a 9-hour outage overflows a 2-block store"
    newest_missing = max(m[0] for m in missing)
    end = rec["outage_ms"][1]
    kept = [m for m in rec["measured"] if newest_missing < m[0] < end]
    assert len(kept) >= 2 * BLOCK - 1  # the newest two blocks' worth came through
    assert all(m[0] < kept[0][0] for m in missing)  # the oldest went first
    # the count is of samples dropped without a proof: the ones sent live before the outage
    # (at most one proof period, 12) may have arrived all the same
    reported = sum(s.get("samples_dropped", 0) for s in statuses)
    assert len(missing) <= reported <= len(missing) + 12
    assert reported % BLOCK == 0  # whole blocks go
