"""The pieces behind issue 11's rules, one by one: topic checks, configuration checks, the
byte-bounded input queue, parked rows, the gate before the outbox, secret files, and a dead
worker-link thread making the bridge fatal."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import config
from bridge.errors import BridgeError, ConfigError
from bridge.inqueue import BatchQueue
from bridge.metrics import PipelineMetrics
from bridge.pipeline import Batch, Processor
from bridge.store import OutRow, Store
from bridge.topics import TOPIC_MAX_BYTES, check_prefix, device_id, publish_topic_problem
from tests.bridge import harness, lns
from trosmart_tools.broker import Mosquitto
from trosmart_tools.secretfile import write_secret


def _doc(**bridge: Any) -> dict[str, Any]:
    city = bridge.pop("city", {})
    return {"bridge": bridge, "city": {"port": 1883, **city}, "source": [{"name": "cs"}]}


# --- topics ----------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.builds(  # long topics around the 65,535-byte limit
    lambda unit, n: unit * n, st.text(alphabet="aİ+#\x00/😀\udc80", min_size=1, max_size=4),
    st.integers(4000, 70_000)))
def test_a_topic_passes_exactly_when_mqtt_allows_publishing_to_it(topic: str) -> None:
    try:
        n = len(topic.encode())
        encodable = True
    except UnicodeEncodeError:
        n, encodable = 0, False
    allowed = (encodable and 1 <= n <= TOPIC_MAX_BYTES
               and not any(c in topic for c in "+#\x00"))
    assert (publish_topic_problem(topic) is None) == allowed


def test_the_issues_topics_are_refused() -> None:
    assert publish_topic_problem("trosmart/v1/" + "a" * 65_510 + "/command/result")
    assert publish_topic_problem("trosmart/v1/" + "i̇" * 21_860 + "/command/result")  # 'İ'.lower()
    assert publish_topic_problem("homeassistant#/sensor/x/config")
    assert publish_topic_problem("a\udc80b")  # a lone surrogate cannot be encoded
    assert publish_topic_problem("trosmart/v1/70b3d57ed0001234/senml") is None


@pytest.mark.parametrize("level", ["70B3D57ED0001234", "70b3d57ed0001234"])
def test_a_device_id_is_16_hex_digits(level: str) -> None:
    assert device_id(level) == "70b3d57ed0001234"


@pytest.mark.parametrize("level", ["", "70b3d57ed000123", "70b3d57ed00012345", "７０b3d57ed0001234",
                                   "70b3d57ed000123g", "a" * 65_510])
def test_anything_else_is_not_a_device_id(level: str) -> None:
    assert device_id(level) is None


@pytest.mark.parametrize("prefix", ["", "a/#", "a/+/b", "a/", "a//b", "x" * 2000])
def test_a_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(BridgeError):
        check_prefix(prefix, "prefix")


# --- configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "value", "needle"), [
    ("home_assistant_prefix", "homeassistant/#", "home_assistant_prefix"),
    ("prefix", "trosmart/+", "prefix"),
    ("log_level", "LOUD", "log_level"),
    ("max_packet_bytes", 70_000, "max_packet_bytes"),
    ("input_queue_bytes", 1000, "input_queue_bytes"),
])
def test_check_names_the_bad_key(key: str, value: Any, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        config.parse(_doc(**{key: value}))


def test_log_level_is_case_insensitive() -> None:
    assert config.parse(_doc(log_level="debug")).log_level == "DEBUG"


def test_a_password_in_cleartext_to_another_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "secret")
    with pytest.raises(ConfigError, match=r"\[city\] a password would travel in cleartext"):
        config.parse(_doc(city={"host": "broker.example", "password_env": "PW", "username": "u"}))
    ok = config.parse(_doc(city={"host": "broker.example", "password_env": "PW", "username": "u",
                                 "allow_plaintext": True}))
    assert ok.city.allow_plaintext
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.53"):
        config.parse(_doc(city={"host": host, "password_env": "PW"}))
    config.parse(_doc(city={"host": "broker.example", "password_env": "PW", "tls": True}))


# --- the input queue ---------------------------------------------------------------------------
def test_the_input_queue_is_bounded_by_bytes() -> None:
    q: BatchQueue[bytes] = BatchQueue(1000, max_bytes=100, size=len)
    assert q.put(b"x" * 60, 0.01, lambda: False)
    assert q.put(b"x" * 60, 0.01, lambda: False)  # 60 < 100: still room for one more
    assert not q.put(b"x", 0.01, lambda: False)  # 120 >= 100: full, and the caller gave up
    assert q.bytes == 120
    released = threading.Event()

    def take_later() -> None:
        released.wait(5)
        q.take(1, 1.0)

    t = threading.Thread(target=take_later)
    t.start()
    released.set()
    assert q.put(b"y" * 10, 1.0, lambda: True)  # waits for the take, then goes in
    t.join()
    assert q.bytes == 70 and len(q) == 2


def test_one_item_larger_than_the_byte_bound_still_goes_in() -> None:
    q: BatchQueue[bytes] = BatchQueue(10, max_bytes=100, size=len)
    assert q.put(b"x" * 500, 0.01, lambda: False)
    assert q.take(5, 0.0) == [b"x" * 500] and q.bytes == 0


# --- parked rows -------------------------------------------------------------------------------
def test_parked_rows_are_listed_replayed_in_order_and_dropped(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite3")
    s.commit([OutRow(f"t/{i}", b"%d" % i) for i in range(4)])
    rows = s.fetch(0, 10)
    s.park([(rows[1], "why 1"), (rows[2], "why 2")])
    assert [r.topic for r in s.fetch(0, 10)] == ["t/0", "t/3"]
    parked = s.parked()
    assert [(p.topic, p.reason) for p in parked] == [("t/1", "why 1"), ("t/2", "why 2")]
    assert s.unpark([parked[1].id, parked[0].id, 999], replay=True) == 2
    assert [r.topic for r in s.fetch(0, 10)] == ["t/0", "t/3", "t/1", "t/2"]  # old order kept
    s.park([(s.fetch(0, 10)[0], "again")])
    assert s.unpark([p.id for p in s.parked()], replay=False) == 1
    assert s.parked_count() == 0 and s.depth()[0] == 3
    s.close()


def test_a_replayed_retained_row_does_not_overwrite_a_newer_one(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite3")
    s.commit([OutRow("t/meta", b"old", retain=True)])
    s.park([(s.fetch(0, 10)[0], "refused")])
    s.commit([OutRow("t/meta", b"new", retain=True)])
    assert s.unpark([s.parked()[0].id], replay=True) == 1
    assert [r.payload for r in s.fetch(0, 10)] == [b"new"]
    s.close()


# --- the gate before the outbox ------------------------------------------------------------------
def test_a_row_whose_topic_mqtt_forbids_becomes_a_dead_letter(tmp_path: Path) -> None:
    cfg = config.parse(_doc(state_dir=str(tmp_path)))
    p = Processor(cfg, PipelineMetrics(), {}, lambda keys: set(), lambda cid: None, {"cs": "chirpstack"})
    b = Batch()
    b.rows += [OutRow("trosmart/v1/x/" + "k" * 70_000, b"[1]"), OutRow("trosmart/v1/x/senml", b"[2]")]
    b.keep("trosmart/v1/x/a#b", b"3")
    rows = p.checked_rows(b)
    assert [r.topic for r in rows] == ["trosmart/v1/_deadletter", "trosmart/v1/x/senml",
                                       "trosmart/v1/_deadletter"]
    assert b'"reason":"unpublishable_topic"' in rows[0].payload
    assert b'"topic_chars":70014' in rows[0].payload


# --- secret files ---------------------------------------------------------------------------------
def test_a_secret_file_is_0600_from_its_creation(tmp_path: Path) -> None:
    p = tmp_path / "secrets.json"
    p.write_text("old")
    os.chmod(p, 0o644)
    old_umask = os.umask(0)  # even a permissive umask gives nothing away
    try:
        write_secret(p, '{"appkey": "00"}')
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert p.read_text() == '{"appkey": "00"}'
    assert [x.name for x in tmp_path.iterdir()] == ["secrets.json"]


# --- a dead thread makes the bridge fatal ----------------------------------------------------------
def test_a_dead_worker_link_thread_makes_the_bridge_fatal(mosquitto: Mosquitto, tmp_path: Path) -> None:
    b = harness.start_bridge(harness.bridge_doc(tmp_path / "state", mosquitto.port, mosquitto.port))
    pub = harness.Publisher(mosquitto.port, client_id="lns-" + tmp_path.name[-16:])
    try:
        def broken(_items: Any) -> None:
            raise RuntimeError("publish raised")

        b.sources["cs"].ack = broken  # type: ignore[method-assign]
        pub.publish(lns.cs_topic("70b3d57ed0001234"), lns.dumps(lns.cs_up("70b3d57ed0001234", 1, b"")))
        assert b.fatal_event.wait(30)
        ok, doc = b.health()
        assert not ok and "worker-link" in (doc["fatal"] or "") and "publish raised" in doc["fatal"]
    finally:
        b.stop()
        pub.close()


def test_a_dead_paho_network_thread_makes_the_bridge_fatal(mosquitto: Mosquitto, tmp_path: Path) -> None:
    b = harness.start_bridge(harness.bridge_doc(tmp_path / "state", mosquitto.port, mosquitto.port))
    pub = harness.Publisher(mosquitto.port, client_id="lns-" + tmp_path.name[-16:])
    try:
        ok, _ = b.health()
        assert ok
        client = b.sources["cs"].client

        def paho_bug() -> Any:
            raise RuntimeError("a bug inside paho")

        client._packet_handle = paho_bug  # type: ignore[method-assign]  # the next packet ends the thread
        pub.publish(lns.cs_topic("70b3d57ed0001234"), lns.dumps(lns.cs_up("70b3d57ed0001234", 1, b"")))
        deadline = time.monotonic() + 30
        while client.network_thread_alive():
            assert time.monotonic() < deadline, "paho's network thread did not end"
            time.sleep(0.05)  # the thread ends asynchronously; nothing to wait on
        b.watch()  # what the bridge's main loop calls every second
        assert b.fatal_event.is_set()
        ok, doc = b.health()
        assert not ok and "cs: paho's network thread ended" in (doc["fatal"] or "")
    finally:
        b.stop()
        pub.close()
