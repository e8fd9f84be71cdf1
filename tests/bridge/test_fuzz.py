"""The live fuzz run, scaled down for ``make test`` (tests/bridge/fuzz.py; the full million is
``make bench BENCH_ARGS=fuzz``): 30,000 fuzz messages through mosquitto into the bridge, then
5,000 normal uplinks, all accounted for."""

from __future__ import annotations

from pathlib import Path

from tests.bridge import fuzz

N_FUZZ = 30_000
N_NORMAL = 5_000
RSS_BOUND_MIB = 200  # docs/bridge.md §5


def test_fuzzed_messages_are_all_accounted_for_and_delivery_goes_on(tmp_path: Path) -> None:
    rep = fuzz.run(tmp_path, N_FUZZ, N_NORMAL)
    print("\n" + "\n".join(rep.lines()))
    assert rep.outcomes.get("deadletter", 0) > N_FUZZ / 10  # the fuzz reached the parsers
    assert rep.outcomes.get("uplink", 0) > 0 and rep.outcomes.get("command_rejected", 0) > 0
    assert rep.rss_main_mib < RSS_BOUND_MIB and rep.rss_worker_mib < RSS_BOUND_MIB


def test_topic_matching_follows_mqtt() -> None:
    assert fuzz.matches("a/+/b", "a//b") and fuzz.matches("a/#", "a/b/c")
    assert not fuzz.matches("a/+/b", "a/x/b/c") and not fuzz.matches("a/+", "a")
