"""The fleet view's tables and rules on both backends: status frames (through the codec, as
the bridge turns them into SenML) and ``meta`` into history, idempotent redelivery, command
results moving a command on, the schema added to a portal database from before the fleet
view; the highlight rules (silence after three periods, the battery slope) and the accounts
configuration and ``hash-password`` helper."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import argon2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from portal import config
from portal.errors import ConfigError
from portal.fleet.health import assess, ordered, recent_loss, slope_per_day
from portal.fleet.ingest import FleetIngest, is_status_quantity
from portal.fleet.ratelimit import FailureLimiter
from portal.fleet.settings import FleetConfig
from portal.fleet.store import FleetStore
from portal.storage import Storage, open_storage

from .fleet_helpers import fleet_doc, meta, status_pack
from .helpers import CITY, MAKER, T0, doc, pack

REPO = Path(__file__).resolve().parents[2]
HOUR = 3_600_000
DAY = 86_400_000


def test_status_frames_and_meta_become_history_once(storage: Storage) -> None:
    store = FleetStore(storage)
    ing = FleetIngest(store, history_days=90)
    st_pack = status_pack(CITY, T0, {"firmware": "1.4.2", "interval_s": 300, "battery_voltage": 3.71,
                                     "config_errors": ["wifi_ssid", "lora_dr"], "failed_sensors": ["sht41", "sps30"],
                                     "sensor_errors": {"sht41": 7}, "reset_cause": "watchdog",
                                     "command_result": {"command": "set_interval_s", "result": "out_of_range"}})
    m = meta(CITY, T0 + 1000, 41, frames=40, lost=2)
    for _ in range(2):  # the bridge is at least once
        ing.handle([(CITY, m)], [st_pack, pack(CITY, T0 + 600_000, temperature=20.0)], T0 + 2000)
    hist = store.history(CITY, 0)
    assert [(t, s) for t, s, _ in hist] == [(T0 + 1000, "meta"), (T0, "status")]
    status = hist[1][2]
    assert status["config_errors"] == ["wifi_ssid", "lora_dr"]
    assert status["failed_sensors"] == ["sht41", "sps30"]  # several records of one name in one pack
    assert status["sensor_errors"] == {"sht41": 7} and status["firmware"] == "1.4.2"
    assert status["interval_s"] == 300 and status["battery_voltage"] == pytest.approx(3.71)
    assert status["reset_cause"] == "watchdog" and status["command_result"] == "set_interval_s:out_of_range"
    assert hist[0][2]["rssi"] == -97.0 and hist[0][2]["lost"] == 2
    samples, status_t, latest = store.nodes()[CITY]
    assert samples == 1 and status_t == T0 and latest == status
    older = status_pack(CITY, T0 - HOUR, {"firmware": "1.3.0"})
    ing.handle([], [older], T0 + 3000)  # an older status frame arriving late is history, not the latest
    assert store.nodes()[CITY][2] == status and len(store.history(CITY, 0)) == 3


def test_batch_frames_give_samples_per_frame(storage: Storage) -> None:
    store = FleetStore(storage)
    import orjson

    from portal.senml import parse_pack
    from portal.storage import Pack

    recs = [{"bn": f"urn:dev:mac:{MAKER}:", "bt": T0 / 1000, "n": "temperature", "u": "Cel", "v": 1.0, "t": -1200},
            {"n": "temperature", "u": "Cel", "v": 2.0, "t": -600}, {"n": "temperature", "u": "Cel", "v": 3.0}]
    FleetIngest(store, 90).handle([], [Pack(MAKER, parse_pack(orjson.dumps(recs), MAKER))], T0)
    assert store.nodes()[MAKER][0] == 3


def test_command_results_move_a_command_on(storage: Storage) -> None:
    store = FleetStore(storage)
    cid = "fleet-" + "a" * 32
    store.add_command(cid, CITY, "technik", {"set_interval_s": 900}, T0, "published")
    assert store.command_result(cid, CITY, {"status": "queued", "by": "bridge"}, T0 + 1)
    assert store.command_result(cid, CITY, {"status": "queued", "by": "bridge"}, T0 + 2)  # redelivered
    assert store.command_result(cid, CITY, {"status": "sent"}, T0 + 3)
    assert store.command_result(cid, CITY, {"status": "queued", "by": "lns"}, T0 + 4)  # late: kept, no step back
    c = store.command(cid)
    assert c is not None and c["status"] == "sent" and not c["final"] and len(c["results"]) == 3
    assert store.command_result(cid, CITY, {"status": "failed", "reason": "nack"}, T0 + 5)
    c = store.command(cid)
    assert c is not None and c["status"] == "failed" and c["reason"] == "nack" and c["final"]
    assert not store.command_result(cid, MAKER, {"status": "acked"}, T0 + 6)  # another device's topic
    assert not store.command_result("fleet-" + "b" * 32, CITY, {"status": "acked"}, T0 + 6)
    assert [x["id"] for x in store.commands_of(CITY)] == [cid]


def test_results_of_other_applications_and_bad_results(storage: Storage) -> None:
    from portal.errors import InputError

    store = FleetStore(storage)
    ing = FleetIngest(store, 90)
    ing.result(CITY, b'{"status":"queued","id":"my-ref-1"}', T0)  # another city application's
    ing.result(CITY, b'{"status":"rejected","reason":"invalid_json"}', T0)  # no id to echo
    assert ing.results == 0
    for bad in (b"\xff", b"[1]", b"{" * 5000):
        with pytest.raises(InputError):
            ing.result(CITY, bad, T0)


def test_fleet_tables_join_an_existing_portal_database(backend: str, tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    """A database made before the fleet view (core tables only) gains the fleet tables at
    open and keeps its data; opening twice (two processes) is harmless."""
    if backend == "sqlite":
        def reopen() -> Storage:
            return open_storage("sqlite", path=str(tmp_path / "old.sqlite3"))
    else:
        dsn = request.getfixturevalue("pg_dsn")

        def reopen() -> Storage:
            return open_storage("postgresql", dsn=dsn)
    old = reopen()
    old.ingest([pack(CITY, T0, temperature=1.0)])
    assert "fleet_history" not in str(old.counts())
    old.close()
    s = reopen()
    try:
        FleetStore(s)
        store = FleetStore(s)
        assert s.counts()["obs"] == 1
        store.record([(CITY, T0, "meta", {"rssi": -100})], [], [])
        assert store.history(CITY, 0) == [(T0, "meta", {"rssi": -100})]
    finally:
        s.close()


def test_history_is_pruned_after_history_days(storage: Storage) -> None:
    store = FleetStore(storage)
    store.record([(CITY, T0 - 100 * DAY, "meta", {}), (CITY, T0, "meta", {})], [], [])
    FleetIngest(store, history_days=90).handle([], [], T0)
    assert [t for t, _, _ in store.history(CITY, 0)] == [T0]


# ---- rules (pure) ----------------------------------------------------------------------------
def test_battery_slope_and_its_threshold() -> None:
    pts = [(T0 + h * HOUR, 3.9 - 0.1 * h / 24) for h in range(48)]
    assert slope_per_day(pts) == pytest.approx(-0.1)
    assert slope_per_day(pts[:2]) is None  # too few
    assert slope_per_day([(T0, 3.9), (T0 + HOUR, 3.8), (T0 + 2 * HOUR, 3.7)]) is None  # 2 h: too short
    cfg = FleetConfig()
    kw = dict(dev_eui=CITY, name="n", public=True, meta={}, status=None, status_t=None, samples=None,
              meta_rows=[], invalid=[], now_ms=T0 + 48 * HOUR)
    fast = assess(cfg, last_seen_ms=T0 + 48 * HOUR - 300_000, battery=pts, **kw)  # type: ignore[arg-type]
    assert fast.battery_fast and not fast.silent and fast.highlighted
    slow = [(t, 3.9 - 0.04 * (t - T0) / DAY) for t, _ in pts]
    assert not assess(cfg, last_seen_ms=T0 + 48 * HOUR - 300_000, battery=slow, **kw).battery_fast  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.floats(-2, 2), st.floats(2.0, 4.5), st.integers(3, 200), st.integers(1, 6))
def test_slope_of_a_line_is_its_slope(rate: float, v0: float, n: int, step_h: int) -> None:
    pts = [(T0 + i * step_h * HOUR, v0 + rate * i * step_h / 24) for i in range(n)]
    got = slope_per_day(pts)
    if (n - 1) * step_h < 12:
        assert got is None
    else:
        assert got == pytest.approx(rate, abs=1e-9)


def test_silence_is_three_periods_of_interval_times_samples() -> None:
    cfg = FleetConfig()
    kw = dict(dev_eui=CITY, name="n", public=False, status=None, status_t=None, battery=[], meta_rows=[],
              invalid=[])
    now = T0 + DAY
    m = {"interval_s": 300}
    assert not assess(cfg, last_seen_ms=now - 899_000, meta=m, samples=1, now_ms=now, **kw).silent  # type: ignore[arg-type]
    assert assess(cfg, last_seen_ms=now - 901_000, meta=m, samples=1, now_ms=now, **kw).silent  # type: ignore[arg-type]
    # a node batching 4 samples per frame sends every 20 minutes: silent only after an hour
    assert not assess(cfg, last_seen_ms=now - 3_500_000, meta=m, samples=4, now_ms=now, **kw).silent  # type: ignore[arg-type]
    # no interval known yet: the firmware's 600 s
    n = assess(cfg, last_seen_ms=now - 1_801_000, meta={}, samples=None, now_ms=now, **kw)  # type: ignore[arg-type]
    assert n.silent and n.period_s == 600
    assert assess(cfg, last_seen_ms=None, meta={}, samples=None, now_ms=now, **kw).silent  # type: ignore[arg-type]


def test_recent_loss_skips_counter_resets() -> None:
    rows = [{"frames": 10, "lost": 0}, {"frames": 19, "lost": 1}, {"frames": 1, "lost": 0},  # a new session
            {"frames": 10, "lost": 1}]
    assert recent_loss(rows) == pytest.approx(2 / 20)
    assert recent_loss([{"frames": 1, "lost": 0}]) is None


def test_order_puts_silent_then_battery_first() -> None:
    cfg = FleetConfig()
    base = dict(public=True, meta={}, status=None, status_t=None, samples=None, meta_rows=[], invalid=[],
                now_ms=T0 + 2 * DAY)
    falling = [(T0 + h * HOUR, 3.9 - 0.2 * h / 24) for h in range(30)]
    a = assess(cfg, dev_eui="a" * 16, name="Alpha", last_seen_ms=T0 + 2 * DAY, battery=[], **base)  # type: ignore[arg-type]
    b = assess(cfg, dev_eui="b" * 16, name="Beta", last_seen_ms=T0 + 2 * DAY, battery=falling, **base)  # type: ignore[arg-type]
    c = assess(cfg, dev_eui="c" * 16, name="Gamma", last_seen_ms=T0, battery=[], **base)  # type: ignore[arg-type]
    assert [n.name for n in ordered([a, b, c])] == ["Gamma", "Beta", "Alpha"]


def test_status_quantities_are_the_codecs_status_records() -> None:
    import payload_codec

    status = {"firmware": "1", "reset_cause": "hard", "uptime_s": 1, "sensor_errors": {"x": 1}, "battery_voltage": 3.0,
              "config_hash": 1, "config_errors": ["k"], "command_result": {"command": "reboot", "result": "ok"},
              "sample_counter": 1, "interval_s": 60, "failed_sensors": ["s"]}
    recs = payload_codec.to_senml(payload_codec.decode_uplink(2, payload_codec.encode_status(status)))
    names = {r["n"] for r in recs}
    assert {n for n in names if not is_status_quantity(n)} == {"battery_voltage"}  # the one public record


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(0, 1000)), max_size=300))
def test_limiter_never_holds_more_than_its_keys(events: list[tuple[str, float]]) -> None:
    lim = FailureLimiter(limit=3, window_s=60, max_keys=4)
    for key, t in sorted(events, key=lambda e: e[1]):
        lim.failed(key, t)
        assert len(lim) <= 4


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.floats(0, 1000)), max_size=300))
@example([("a", 1.0), ("a", 1.0), ("a", 5e-324), ("b", 60.0)])  # found by hypothesis: a wait rounded to 0
def test_limiter_refuses_exactly_a_key_at_its_limit(events: list[tuple[str, float]]) -> None:
    """Reference: a key may try while fewer than 3 of its failures lie in the last 60 s."""
    lim = FailureLimiter(limit=3, window_s=60, max_keys=4)
    done: list[tuple[str, float]] = []
    for key, t in sorted(events, key=lambda e: e[1]):
        lim.failed(key, t)
        done.append((key, t))
        for k in "abcd":
            recent = sum(1 for kk, tt in done if kk == k and tt > t - 60)
            assert (lim.retry_after(k, t) > 0) == (recent >= 3), (k, t)


# ---- configuration and the hash helper -----------------------------------------------------
def test_account_configuration_errors_name_the_key() -> None:
    cases = [
        ({"account": [{"name": "a", "password": "geheim"}]}, "unknown key 'password'"),
        ({"account": [{"name": "a", "password_hash": "geheim"}]}, "Argon2id hash"),
        ({"account": [{"name": "a", "password_hash": "$argon2id$v=19$broken"}]}, "password_hash"),
        ({"account": [{"name": "a b", "password_hash": "$argon2id$x"}]}, "name must be"),
        ({"fleet": {"silent_interval": 3}}, "unknown key 'silent_interval'"),
        ({"fleet": {"session_hours": 0}}, "session_hours must be > 0"),
        ({"fleet": {"trust_forwarded_for": 1}}, "wrong type"),
    ]
    for extra, message in cases:
        with pytest.raises(ConfigError, match=message):
            config.parse({**doc(), **extra})
    d = fleet_doc()
    d["account"].append(dict(d["account"][0]))
    with pytest.raises(ConfigError, match="listed twice"):
        config.parse(d)
    assert "$argon2" not in repr(config.parse(fleet_doc()).fleet)  # hashes stay out of reprs and logs


def _hash_cli(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, env=env, timeout=60, check=False)


@pytest.mark.parametrize("command", [["-m", "portal", "hash-password"],
                                     ["-c", "import sys; from tools.cli import main; sys.exit(main())", "portal",
                                      "hash-password"]])
def test_hash_password_reads_stdin_and_never_echoes(command: list[str]) -> None:
    r = _hash_cli(command, b"Sommer 2026 am Rhein\n")
    assert r.returncode == 0, r.stderr
    h = r.stdout.decode().strip()
    assert h.startswith("$argon2id$") and argon2.PasswordHasher().verify(h, "Sommer 2026 am Rhein")
    assert b"Sommer" not in r.stdout + r.stderr
    config.parse({**doc(), "account": [{"name": "technik", "password_hash": h}]})  # the file accepts it
    r = _hash_cli(command, b"\n")
    assert r.returncode != 0 and b"empty password" in r.stderr
