"""The plugin's own parsers (no board needed): --uplinks URLs, LNS event shapes, event timestamps."""

from __future__ import annotations

import base64
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .uplinks import UplinkObserver, UplinkUrlError, _chirpstack, _event_time, _tts, parse_url


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
    data = base64.b64encode(b"\x01\x02").decode()
    cs = _chirpstack("application/abc/device/70B3D57ED0001234/event/up", {"fPort": 1, "fCnt": 5, "dr": 5,
                                                                           "data": data})
    tts = _tts("v3/app@ttn/devices/node-1/up", {
        "end_device_ids": {"dev_eui": "70B3D57ED0001234"},
        "uplink_message": {"f_port": 1, "f_cnt": 5, "frm_payload": data,
                           "settings": {"data_rate": {"lora": {"spreading_factor": 7}}}}})
    assert cs == tts == ("up", "70b3d57ed0001234", {"fport": 1, "fcnt": 5, "dr": 5, "frame": b"\x01\x02"})
    # TTS omits zero values (docs/references.md §L0.6): f_cnt 0 is absent
    _, _, f = _tts("v3/app@ttn/devices/node-1/up", {"end_device_ids": {"dev_eui": "00"},
                                                      "uplink_message": {"f_port": 2, "frm_payload": data}})
    assert f["fcnt"] == 0 and f["dr"] is None
    assert _chirpstack("application/abc/device/x/event/log", {}) is None
    assert _tts("v3/app@ttn/devices/node-1/down/ack", {}) is None


def test_event_time_keeps_nanoseconds_and_zones() -> None:
    assert _event_time({"time": "2022-07-18T09:34:15.775023242+00:00"}) == pytest.approx(1658136855.775023242)
    assert _event_time({"received_at": "2022-07-18T11:34:15Z"}) == 1658136855.0 + 7200
    assert _event_time({"time": "yesterday"}) is None
    assert _event_time({}) is None


@given(st.datetimes(min_value=datetime.datetime(1971, 1, 1), max_value=datetime.datetime(2200, 1, 1)),
       st.integers(0, 999_999_999))
def test_event_time_round_trips_any_rfc3339_stamp(dt: datetime.datetime, ns: int) -> None:
    utc = dt.replace(microsecond=0, tzinfo=datetime.timezone.utc)
    stamp = utc.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d+00:00" % ns
    assert _event_time({"time": stamp}) == pytest.approx(utc.timestamp() + ns / 1e9, abs=1e-6)


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
