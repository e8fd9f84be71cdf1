"""Operation: TLS with client certificates and username/password (MQTT 3.1.1 and 5 on
different connections), scale-out with shared subscriptions, and random input through the
running bridge."""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import payload_codec
from bridge.service import Bridge
from tests.bridge import harness, lns
from trosmart_tools.broker import Mosquitto

FRAME = payload_codec.encode({"temperature": 21.4, "humidity": 50})


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _pki(d: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (RSA 2048, 1 day)."""
    p = {k: d / f"{k}" for k in ("ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt", "cli.key",
                                  "cli.csr", "cli.crt")}
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
             "-keyout", str(p["ca.key"]), "-out", str(p["ca.crt"]))
    for who, cn in (("srv", "127.0.0.1"), ("cli", "trosmart-bridge")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                 "-keyout", str(p[f"{who}.key"]), "-out", str(p[f"{who}.csr"]))
        ext = d / f"{who}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\n" if who == "srv" else "basicConstraints=CA:FALSE\n")
        _openssl("x509", "-req", "-in", str(p[f"{who}.csr"]), "-CA", str(p["ca.crt"]), "-CAkey",
                 str(p["ca.key"]), "-CAcreateserial", "-days", "1", "-extfile", str(ext),
                 "-out", str(p[f"{who}.crt"]))
    for k in ("ca.key", "srv.key", "cli.key"):
        os.chmod(p[k], 0o600)
    return p


def test_tls_client_certificate_and_password(tmp_path: Path, mosquitto: Mosquitto,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="trosmart")
    pki = _pki(tmp_path)
    # with a password file the Mosquitto helper already keeps root (needed for the key files)
    tls_conf = "\n".join([f"cafile {pki['ca.crt']}", f"certfile {pki['srv.crt']}",
                          f"keyfile {pki['srv.key']}", "require_certificate true"])
    city = Mosquitto(username="bridge", password="city-pw", extra_conf=tls_conf).start()
    try:
        pw = tmp_path / "city.pw"
        pw.write_text("city-pw\n")
        os.chmod(pw, 0o600)
        doc = harness.bridge_doc(tmp_path / "s", mosquitto.port, city.port)
        doc["city"].update(tls=True, ca_file=str(pki["ca.crt"]), cert_file=str(pki["cli.crt"]),
                           key_file=str(pki["cli.key"]), username="bridge",
                           password_file=str(pw), protocol="3.1.1")
        b = harness.start_bridge(doc)  # waits until the TLS connection is up
        try:
            pub = harness.Publisher(mosquitto.port)
            eui = "70b3d57ed0009999"
            pub.publish(lns.cs_topic(eui), lns.dumps(lns.cs_up(eui, 1, FRAME)))
            harness.wait_until(lambda: b.metric("published") >= 2, 20,
                               "SenML and meta PUBACKed over TLS")
            pub.close()
        finally:
            b.stop()
        doc["city"]["password_file"] = str(tmp_path / "wrong.pw")
        (tmp_path / "wrong.pw").write_text("nope")
        os.chmod(tmp_path / "wrong.pw", 0o600)
        bad = Bridge(harness.config.parse(doc)).start()
        try:  # refused, retried with back-off; never reported healthy
            harness.wait_until(lambda: bad.metric("connected", connection="cs") == 1, 10,
                               "source up")
            assert not bad.health()[0] and not bad.city.connected.is_set()
        finally:
            bad.stop()
    finally:
        city.close()
    logged = caplog.text + "".join(json.dumps(getattr(r, "fields", {})) for r in caplog.records)
    assert "connecting" in logged and '"user": "bridge"' in logged
    assert "city-pw" not in logged and "nope" not in logged  # structured logs without secrets


def test_subscriptions_restored_after_a_broker_loses_its_sessions(tmp_path: Path,
                                                                  mosquitto: Mosquitto) -> None:
    b = harness.start_bridge(harness.bridge_doc(tmp_path / "s", mosquitto.port, mosquitto.port))
    try:
        mosquitto.restart()  # no persistence: every session and subscription is gone
        harness.wait_until(lambda: b.metric("reconnects", connection="cs") >= 2
                           and b.health()[0], 20, "bridge reconnected")
        col = harness.Collector(mosquitto.port, topic=harness.PREFIX + "/+/senml")
        pub = harness.Publisher(mosquitto.port)
        eui = "70b3d57ed0007777"
        pub.publish(lns.cs_topic(eui), lns.dumps(lns.cs_up(eui, 1, FRAME)))
        assert col.wait_for(f"{eui}/senml")[0][0]["bn"] == f"urn:dev:mac:{eui}:"
        col.close()
        pub.close()
    finally:
        b.stop()


def test_two_instances_share_a_source(tmp_path: Path, mosquitto: Mosquitto) -> None:
    col = harness.Collector(mosquitto.port, topic=harness.PREFIX + "/+/senml")
    bridges = []
    for i in (1, 2):
        src = {"name": "cs", "lns": "chirpstack", "port": mosquitto.port, "shared_group": "trosmart",
               "client_id": f"trosmart-bridge-cs-{i}"}
        bridges.append(harness.start_bridge(harness.bridge_doc(
            tmp_path / f"inst{i}", mosquitto.port, mosquitto.port, sources=[src],
            retained_values=False)))
    pub = harness.Publisher(mosquitto.port)
    n = 2000
    try:
        for i in range(n):
            eui = "70b3d57ed200%04x" % (i % 20)
            pub.publish(lns.cs_topic(eui), lns.dumps(lns.cs_up(eui, i, FRAME, t=1767225600 + i,
                                                               dedup=f"share-{i}")))
        pub.wait_all()
        harness.wait_until(lambda: col.unique_senml() == n, 60, "all shared uplinks",
                           col.cond)

        def shares() -> list[int]:
            return [int(b.metric("uplinks_in", source="cs")) for b in bridges]

        # the counters live in each worker process and follow its commits by a status report
        harness.wait_until(lambda: sum(shares()) >= n, 5, "both workers' counters reported")
        print(f"\n[shared subscription] per instance: {shares()}, at city: {col.count('/senml')}")
        assert sum(shares()) == n and min(shares()) > 0  # each message to exactly one member
        assert col.count("/senml") == n
    finally:
        for b in bridges:
            b.stop()
        col.close()
        pub.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Bridge, harness.Publisher,
                                                                     harness.Collector]]:
    broker = Mosquitto().start()
    tmp = tmp_path_factory.mktemp("live")
    b = harness.start_bridge(harness.bridge_doc(
        tmp / "s", broker.port, broker.port,
        sources=[{"name": "cs", "lns": "chirpstack", "port": broker.port},
                 {"name": "tts", "lns": "tts", "port": broker.port}]))
    pub = harness.Publisher(broker.port)
    col = harness.Collector(broker.port, topic=harness.PREFIX + "/+/senml")
    try:
        yield b, pub, col
    finally:
        b.stop()
        pub.close()
        col.close()
        broker.close()


_topics = st.sampled_from([lns.cs_topic("70b3d57ed0003333", e) for e in
                           ("up", "join", "status", "ack", "txack", "log", "location")]
                          + [lns.tts_topic("d", e) for e in ("up", "join", "down/failed", "down/ack")]
                          + [f"{harness.PREFIX}/70b3d57ed0003333/command"])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=10)
_fields = st.sampled_from(["deduplicationId", "time", "deviceInfo", "fCnt", "fPort", "data",
                           "object", "uplink_message", "end_device_ids", "received_at",
                           "queueItemId", "set_interval_s", "reboot"])
_payloads = (st.binary(max_size=100)
             | st.dictionaries(_fields, _json_values, max_size=6).map(lambda d: json.dumps(d).encode())
             | st.builds(lambda f, p, fp: lns.dumps(lns.cs_up("70b3d57ed0003333", f, p, f_port=fp)),
                         st.integers(0, 2**32 - 1), st.binary(max_size=60), st.integers(1, 255)))


_sentinel = itertools.count(1_800_000_000)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=st.lists(st.tuples(_topics, _payloads), min_size=1, max_size=20))
def test_random_messages_never_stop_the_bridge(
        live: tuple[Bridge, harness.Publisher, harness.Collector], msgs: list) -> None:
    b, pub, col = live
    t = next(_sentinel)
    for topic, payload in msgs:
        pub.publish(topic, payload)
    eui = "70b3d57ed0004444"  # a sentinel uplink after the random ones must still come through
    pub.publish(lns.cs_topic(eui), lns.dumps(lns.cs_up(eui, 1, FRAME, t=t, dedup=f"sentinel-{t}")))
    harness.wait_until(lambda: (f"urn:dev:mac:{eui}:", t) in col.senml_keys(), 20,
                       "the sentinel uplink", col.cond)
    assert b.health()[0]


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_input_session_keeps_messages_while_the_bridge_is_down(tmp_path: Path, mosquitto: Mosquitto,
                                                               protocol: str) -> None:
    src = [{"name": "cs", "lns": "chirpstack", "port": mosquitto.port, "protocol": protocol}]
    doc = harness.bridge_doc(tmp_path / "s", mosquitto.port, mosquitto.port, sources=src)
    harness.start_bridge(doc).stop()  # creates the persistent session, then goes away
    pub = harness.Publisher(mosquitto.port)
    eui = "70b3d57ed0008888"
    for i in range(5):
        pub.publish(lns.cs_topic(eui), lns.dumps(lns.cs_up(eui, i, FRAME, t=1767225600 + i)))
    pub.wait_all()
    col = harness.Collector(mosquitto.port, topic=harness.PREFIX + "/+/senml")
    b = harness.start_bridge(doc)
    try:
        assert len(col.wait_for("/senml", 5)) == 5  # queued by the broker in the bridge's session
    finally:
        b.stop()
        col.close()
        pub.close()
