"""The plugin's own parsing (no board needed): --uplinks URLs, LNS event shapes (read by the
bridge's format modules), event timestamps."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.bridge import lns

from .uplinks import UplinkObserver, UplinkUrlError, _parse, parse_url


def test_parse_url_defaults_and_credentials_from_the_environment() -> None:
    env = {"TROSMART_MQTT_USERNAME": "troisdorf-air@ttn", "TROSMART_MQTT_PASSWORD": "NNSXS.secret"}
    s = parse_url("mqtts://eu1.cloud.thethings.network/tts", env)
    assert (s.host, s.port, s.tls, s.dialect, s.username, s.password) == (
        "eu1.cloud.thethings.network", 8883, True, "tts", "troisdorf-air@ttn", "NNSXS.secret")
    assert "secret" not in repr(s)
    s = parse_url("mqtt://127.0.0.1:1884", {})
    assert (s.port, s.tls, s.dialect, s.username) == (1884, False, "chirpstack", None)


@pytest.mark.parametrize("url", ["http://x/tts", "mqtt:///tts", "mqtt://user:pw@host/tts", "mqtt://host/loriot"])
def test_parse_url_refuses(url: str) -> None:
    with pytest.raises(UplinkUrlError):
        parse_url(url, {})


def test_chirpstack_and_tts_events_give_the_same_fields() -> None:
    eui = "70b3d57ed0001234"
    cs = _parse("chirpstack", lns.cs_topic(eui), lns.dumps(lns.cs_up(eui, 5, b"\x01\x02")))
    tts = _parse("tts", lns.tts_topic("node-1"), lns.dumps(lns.tts_up(eui, 5, b"\x01\x02")))
    assert cs == tts == ("up", eui, {"fport": 1, "fcnt": 5, "dr": 5, "frame": b"\x01\x02",
                                     "vt": pytest.approx(1767225600.5)})
    # TTS omits zero values (docs/references.md §L0.6): f_cnt 0 is absent
    doc = lns.tts_up(eui, 0, b"\x01", f_port=2)
    del doc["uplink_message"]["settings"]
    up = _parse("tts", lns.tts_topic("node-1"), lns.dumps(doc))
    assert up is not None and up[2]["fcnt"] == 0 and up[2]["dr"] is None
    log = {"time": "2026-01-01T00:00:00Z", "deviceInfo": {"devEui": eui}, "level": "INFO"}
    assert _parse("chirpstack", lns.cs_topic(eui, "log"), lns.dumps(log)) is None
    ack = {"end_device_ids": {"dev_eui": eui}, "downlink_ack": {}}
    assert _parse("tts", lns.tts_topic("node-1", "down/ack"), lns.dumps(ack)) is None


def test_event_time_network_server_else_gateway_else_arrival() -> None:
    eui = "70b3d57ed0001234"
    doc = lns.tts_up(eui, 5, b"\x01", t=1658136855.5)
    up = _parse("tts", lns.tts_topic("node-1"), lns.dumps(doc))
    assert up is not None and up[2]["vt"] == pytest.approx(1658136855.5)
    del doc["received_at"], doc["uplink_message"]["received_at"]
    doc["uplink_message"]["rx_metadata"][0]["time"] = "2022-07-18T11:34:15Z"
    up = _parse("tts", lns.tts_topic("node-1"), lns.dumps(doc))
    assert up is not None and up[2]["vt"] == 1658136855.0 + 7200
    del doc["uplink_message"]["rx_metadata"]
    before = time.time()
    up = _parse("tts", lns.tts_topic("node-1"), lns.dumps(doc))
    assert up is not None and before <= up[2]["vt"] <= time.time()


class _Msg:
    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic, self.payload = topic, payload


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=12)
TOPICS = st.sampled_from(["application/a/device/0011223344556677/event/up", "application/a/device/x/event/join",
                          "v3/a@ttn/devices/d/up", "v3/a@ttn/devices/d/join", "other/topic"])


@given(TOPICS, JSON, st.sampled_from(["chirpstack", "tts"]))
def test_observer_survives_any_json_event(topic: str, body: object, dialect: str) -> None:
    import json

    obs = UplinkObserver(parse_url(f"mqtt://127.0.0.1:1/{dialect}", {}))
    obs.watch("0011223344556677")
    obs._on_message(None, None, _Msg(topic, json.dumps(body).encode()))  # must not raise
    obs._on_message(None, None, _Msg(topic, b"\xff not json"))
    assert len(obs.errors) >= 1  # the non-JSON message is recorded, not lost silently
