"""Fault tests, each with a stream of 10,000 uplinks through real mosquitto brokers and the
bridge as a subprocess: ``kill -9`` of the bridge, the city broker stopped for 10 s, the source
broker restarted. Every uplink the source broker accepted (PUBACK to the fake network server)
reaches the city broker at least once, and exactly once after dedupe by (bn, bt)."""

from __future__ import annotations

import collections
import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import payload_codec
from tests.bridge import harness, lns
from trosmart_tools.broker import Mosquitto

N = 10_000
DEVICES = 50
OUTAGE_S = 10.0  # the length of the city-broker outage under test (the fault, not a sync wait)
FRAME = payload_codec.encode({"temperature": 21.4, "humidity": 50, "pressure": 1013.2,
                              "battery_voltage": 3.7})

pytestmark = pytest.mark.slow
CITY_RECONNECTS = 'trosmart_bridge_reconnects_total{connection="city"}'
SOURCE_RECONNECTS = 'trosmart_bridge_reconnects_total{connection="cs"}'
SOURCE_DUPLICATES = 'trosmart_bridge_duplicates_total{source="cs"}'


def _persistent(data_dir: Path) -> Mosquitto:
    """A broker whose persistence file survives restarts."""
    return Mosquitto(persistence=True, data_dir=data_dir).start()


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[tuple[Mosquitto, Mosquitto]]:
    (tmp_path / "src").mkdir()
    (tmp_path / "city").mkdir()
    src = _persistent(tmp_path / "src")
    city = _persistent(tmp_path / "city")
    try:
        yield src, city
    finally:
        src.close()
        city.close()


def _stream(pub: harness.Publisher, n: int = N) -> None:
    for i in range(n):
        eui = "70b3d57ed100%04x" % (i % DEVICES)
        pub.publish(lns.cs_topic(eui), lns.dumps(
            lns.cs_up(eui, i // DEVICES, FRAME, t=1767225600 + i, dedup=f"fault-{i}")))


def _report(name: str, col: harness.Collector, pub: harness.Publisher) -> None:
    keys = col.senml_keys()
    counts = collections.Counter(keys)
    dup = sum(c - 1 for c in counts.values())
    print(f"\n[{name}] accepted by source broker: {pub.accepted()}, SenML packs at city: "
          f"{len(keys)}, unique: {len(counts)}, duplicates: {dup}")
    assert pub.accepted() == N
    assert len(counts) == N, f"{N - len(counts)} accepted uplinks never reached the city broker"
    assert all(bn.startswith("urn:dev:mac:70b3d57ed100") for bn, _ in counts)


def _metric(text: str, name: str) -> float:
    m = re.search("^" + re.escape(name) + r" ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


@contextlib.contextmanager
def _explained(bp: harness.BridgeProcess) -> Iterator[None]:
    """On a failure, show the bridge's last log lines (its JSON log) with the assertion."""
    try:
        yield
    except AssertionError as e:
        tail = bp.log.read_text(errors="replace").splitlines()[-15:] if bp.log.exists() else []
        raise AssertionError(f"{e}\n--- bridge log tail ({bp.log}) ---\n" + "\n".join(tail)) from e


@contextlib.contextmanager
def _running(tmp_path: Path, src: Mosquitto, city: Mosquitto
             ) -> Iterator[tuple[harness.Collector, harness.BridgeProcess, harness.Publisher]]:
    """A city collector, the bridge as a subprocess and a source publisher; closed afterwards,
    with the bridge's log tail added to any failed assertion."""
    col = harness.Collector(city.port, topic=harness.PREFIX + "/+/senml")
    doc = harness.bridge_doc(tmp_path / "state", src.port, city.port, retained_values=False)
    bp = harness.BridgeProcess(doc, tmp_path).start()
    pub = harness.Publisher(src.port)
    try:
        with _explained(bp):
            yield col, bp, pub
    finally:
        bp.close()
        col.close()
        pub.close()


def test_kill_9_mid_stream_and_restart(tmp_path: Path, brokers: tuple[Mosquitto, Mosquitto]) -> None:
    src, city = brokers
    with _running(tmp_path, src, city) as (col, bp, pub):
        _stream(pub)
        col.wait_for("/senml", N // 5, timeout_s=60)
        worker = bp.worker_pid()
        bp.kill()
        seen_at_kill = col.count("/senml")
        harness.wait_until(lambda: not harness.process_alive(worker), 10,
                           "the worker process ends with the killed bridge")
        bp.start()
        pub.wait_all(timeout_s=120)
        harness.wait_until(lambda: col.unique_senml() >= N, 120, "all uplinks at the city",
                           col.cond)
        print(f"\n[kill -9] killed after {seen_at_kill} packs")
        _report("kill -9", col, pub)
        assert bp.terminate() == 0


def test_city_broker_down_10s(tmp_path: Path, brokers: tuple[Mosquitto, Mosquitto]) -> None:
    src, city = brokers
    with _running(tmp_path, src, city) as (col, bp, pub):
        _stream(pub)
        col.wait_for("/senml", N // 5, timeout_s=60)
        city.stop()
        t0 = time.monotonic()
        harness.wait_until(lambda: _metric(bp.metrics(), "trosmart_bridge_outbox_depth") > 0, 30,
                           "outbox filling while the city broker is down")
        depth = 0.0
        while time.monotonic() - t0 < OUTAGE_S:  # the outage lasts OUTAGE_S; watch the outbox
            depth = max(depth, _metric(bp.metrics(), "trosmart_bridge_outbox_depth"))
            time.sleep(0.5)
        city.start()
        pub.wait_all(timeout_s=120)
        harness.wait_until(lambda: col.unique_senml() >= N, 120, "all uplinks at the city",
                           col.cond)
        reconnects = _metric(bp.metrics(), CITY_RECONNECTS)
        print(f"\n[city down] peak outbox depth during the outage: {depth:.0f}, city connections: "
              f"{reconnects:.0f}")
        assert reconnects >= 2
        _report("city down 10 s", col, pub)
        harness.wait_until(lambda: _metric(bp.metrics(), "trosmart_bridge_outbox_depth") == 0, 30,
                           "outbox drained")
        assert bp.terminate() == 0


def test_source_broker_restart(tmp_path: Path, brokers: tuple[Mosquitto, Mosquitto]) -> None:
    src, city = brokers
    with _running(tmp_path, src, city) as (col, bp, pub):
        _stream(pub)
        col.wait_for("/senml", N // 5, timeout_s=60)
        src.restart()
        pub.wait_all(timeout_s=120)
        harness.wait_until(lambda: col.unique_senml() >= N, 120, "all uplinks at the city",
                           col.cond)
        m = bp.metrics()
        print(f"\n[source restart] source connections: {_metric(m, SOURCE_RECONNECTS):.0f}, "
              f"duplicates dropped by the bridge: {_metric(m, SOURCE_DUPLICATES):.0f}")
        assert _metric(m, SOURCE_RECONNECTS) >= 2
        _report("source restart", col, pub)
        assert bp.terminate() == 0
