"""Pure modules: decoding, meta (packet loss), commands, topics, store, config."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import payload_codec
from bridge import chirpstack, commands, config, decoding, meta
from bridge.errors import CommandRejected, ConfigError, InputError
from bridge.model import Uplink
from bridge.store import OutRow, Store
from bridge.topics import CityTopics
from tests.bridge import lns

EUI = "70b3d57ed0001234"


def _up(data: bytes, f_port: int = 1, f_cnt: int | None = 1, obj: dict | None = None) -> Uplink:
    up = chirpstack.parse(lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, f_cnt, data, f_port=f_port,
                                                                      obj=obj)))
    assert isinstance(up, Uplink)
    return up


def test_trosmart_measurement_to_senml() -> None:
    frame = payload_codec.encode({"temperature": 21.4, "humidity": 48.5, "pressure": 1013.2,
                                  "battery_voltage": 3.71})
    d = decoding.decode(_up(frame), "trosmart", None)
    assert d.kind == "measurement"
    assert d.senml[0]["bn"] == f"urn:dev:mac:{EUI}:" and d.senml[0]["bt"] == 1767225600.5
    assert {r["n"]: r["v"] for r in d.senml} == {"temperature": 21.4, "humidity": 48.5,
                                                 "pressure": 1013.2, "battery_voltage": 3.71}
    assert d.latest["temperature"] == {"v": 21.4, "u": "Cel", "t": 1767225600.5}


def test_batch_latest_value_is_newest_sample() -> None:
    frame = payload_codec.encode_batch([(-600, {"temperature": 20.0}), (0, {"temperature": 22.0})])
    d = decoding.decode(_up(frame), "trosmart", None)
    temps = [(r.get("t", 0), r["v"]) for r in d.senml]
    assert temps == [(-600, 20.0), (0, 22.0)]
    assert d.latest["temperature"]["v"] == 22.0


def test_layout_announcement_then_measurement() -> None:
    ann = payload_codec.encode_layout(7, ["temperature", "co2"])
    d = decoding.decode(_up(ann, f_port=3), "trosmart", None)
    assert d.layout == (7, ["temperature", "co2"])
    frame = payload_codec.encode({"temperature": 19.5, "co2": 800}, layout=(7, ["temperature", "co2"]))
    with pytest.raises(decoding.NeedsLayout) as e:
        decoding.decode(_up(frame), "trosmart", {})
    assert e.value.layout_id == 7 and e.value.reason == "unknown_layout"
    d2 = decoding.decode(_up(frame), "trosmart", {7: ["temperature", "co2"]})
    assert d2.latest["co2"]["v"] == 800


def test_status_frame_gives_firmware() -> None:
    frame = payload_codec.encode_status({"firmware": "1.4.2", "uptime_s": 100})
    d = decoding.decode(_up(frame, f_port=2), "trosmart", None)
    assert d.kind == "status" and d.firmware == "1.4.2" and d.latest == {}


@pytest.mark.parametrize(
    ("frame", "port", "reason"),
    [
        (b"\x21", 5, "unknown_port"),
        (b"\xe1\x00", 1, "unsupported_version"),
        (b"\x2d", 1, "truncated_frame"),
        (b"\x21" + b"\xff" * 30, 1, "corrupt_frame"),
    ],
)
def test_trosmart_errors_have_reasons(frame: bytes, port: int, reason: str) -> None:
    with pytest.raises(InputError) as e:
        decoding.decode(_up(frame, f_port=port), "trosmart", None)
    assert e.value.reason == reason


def test_passthrough_flattens_object() -> None:
    up = _up(b"\x01", obj={"temperature": 21.5, "door": True, "gps": {"lat": 50.8}, "l": [1, "x"],
                           "n": None})
    d = decoding.decode(up, "passthrough", None)
    vals = {r["n"]: r.get("v", r.get("vb", r.get("vs"))) for r in d.senml}
    assert vals == {"temperature": 21.5, "door": True, "gps.lat": 50.8, "l.0": 1, "l.1": "x"}
    with pytest.raises(InputError, match="no_object"):
        decoding.decode(_up(b"\x01"), "passthrough", None)


def test_nan_and_infinity_are_not_json() -> None:
    """RFC 8259 §6: no NaN or Infinity literals; an LNS message with one is dead-lettered."""
    for literal in ("NaN", "Infinity", "-Infinity", "1e400"):
        doc = lns.dumps(lns.cs_up(EUI, 1, b"\x01", obj={"t": 1.5})).replace(b"1.5", literal.encode())
        with pytest.raises(InputError, match="invalid_json"):
            chirpstack.parse(lns.cs_topic(EUI), doc)


def test_lpp_mode_uses_the_codec_lpp_module() -> None:
    d = decoding.decode(_up(bytes.fromhex("016700EB026864037327100402015E")), "lpp", None)
    assert d.senml[0]["bn"] == f"urn:dev:mac:{EUI}:" and d.senml[0]["bt"] == 1767225600.5
    assert {r["n"]: r["v"] for r in d.senml} == {"temperature/1": 23.5, "humidity/2": 50.0,
                                                 "pressure/3": 1000.0, "analog_input/4": 3.5}
    assert d.latest["temperature/1"]["v"] == 23.5
    with pytest.raises(InputError, match="corrupt_frame"):
        decoding.decode(_up(bytes.fromhex("01ff00")), "lpp", None)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=1, max_size=64), port=st.integers(0, 255))
def test_random_frames_decode_or_give_reason(data: bytes, port: int) -> None:
    try:
        decoding.decode(_up(data, f_port=port), "trosmart", {1: ["temperature"]})
    except InputError as e:
        assert e.reason in ("unknown_port", "unsupported_version", "truncated_frame",
                            "corrupt_frame", "unknown_layout")


def test_meta_counts_gaps_and_resets() -> None:
    s: dict = {}
    for f_cnt in (10, 11, 14, 15):
        meta.fold(s, _up(b"\x01", f_cnt=f_cnt))
    assert (s["frames"], s["lost"], s["packet_loss"]) == (4, 2, round(2 / 6, 4))
    meta.fold(s, _up(b"\x01", f_cnt=0))  # rejoin: counter restarts
    assert s["lost"] == 2 and s["f_cnt"] == 0 and s["sessions"] == 2
    assert s["rssi"] == -70 and s["gateway"] == "0016c001ff10a230"


def test_commands_encode_and_reject() -> None:
    _cmd, cid, frame = commands.parse_command(b'{"set_interval_s": 600, "id": "c-1"}')
    assert cid == "c-1" and payload_codec.decode_downlink(frame) == {"set_interval_s": 600}
    for bad, reason in [(b"{", "invalid_json"), (b"[]", "invalid_command"),
                        (b'{"set_interval_s": 1}', "invalid_command"),
                        (b'{"selfdestruct": true}', "invalid_command"),
                        (b'{"id": 5, "reboot": true}', "invalid_command"),
                        (b"{}" + b" " * 5000, "oversize")]:
        with pytest.raises(CommandRejected) as e:
            commands.parse_command(bad)
        assert e.value.reason == reason
    cs = json.loads(commands.lns_message("chirpstack", EUI, frame, "q1", False))
    assert cs["fPort"] == payload_codec.fports.COMMAND and cs["devEui"] == EUI and cs["id"] == "q1"
    tts = json.loads(commands.lns_message("tts", EUI, frame, "q1", True))
    assert tts["downlinks"][0]["correlation_ids"] == ["trosmart:cmd:q1"]


def test_rate_limiter() -> None:
    rl = commands.RateLimiter(60)
    rl.check("a", 100.0)
    rl.check("b", 100.0)
    with pytest.raises(CommandRejected, match="rate_limited"):
        rl.check("a", 130.0)
    rl.check("a", 161.0)


def test_topics() -> None:
    t = CityTopics("city/trosmart/v1")
    assert t.senml(EUI) == f"city/trosmart/v1/{EUI}/senml"
    assert t.value(EUI, "a/b+#") == f"city/trosmart/v1/{EUI}/a_b__"
    assert t.command_device(f"city/trosmart/v1/{EUI}/command") == EUI
    assert t.command_device(f"city/trosmart/v1/{EUI}/command/result") is None
    assert t.command_device("other/x/command") is None


def test_store_outbox_replaces_retained_and_keeps_order(tmp_path: Path) -> None:
    s = Store(tmp_path / "db")
    s.commit([OutRow("a/senml", b"1"), OutRow("a/meta", b"m1", retain=True)], [("k1", 1.0)])
    s.commit([OutRow("a/senml", b"2"), OutRow("a/meta", b"m2", retain=True)], [("k1", 2.0)])
    rows = s.fetch(0, 10)
    assert [(r.topic, r.payload) for r in rows] == [("a/senml", b"1"), ("a/senml", b"2"),
                                                    ("a/meta", b"m2")]
    assert s.fetch(rows[1].id, 10) == rows[2:]
    assert s.seen("k1") and not s.seen("k2")
    s.delete([rows[0].id])
    assert s.depth()[0] == 2
    extra = [OutRow(f"b/{i}", b"x") for i in range(6)]
    s.commit(extra)
    ids = [r.id for r in s.fetch(rows[2].id, 10)]
    s.delete([ids[4], ids[0], ids[1], ids[3]])  # out of order, with gaps: only these go
    assert [r.topic for r in s.fetch(rows[2].id, 10)] == ["b/2", "b/5"]
    s.delete([ids[2], ids[5]])
    s.close()
    s2 = Store(tmp_path / "db")  # survives reopening
    assert [r.payload for r in s2.fetch(0, 10)] == [b"2", b"m2"]
    assert s2.prune_seen(1.5) == 1 and not s2.seen("k1")


def _cfg(**src: object) -> dict:
    return {"city": {"port": 1883}, "source": [{"name": "cs", **src}]}


def test_config_defaults_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = config.parse(_cfg())
    assert c.sources[0].topics == ["application/+/device/+/event/+"] and c.sources[0].protocol == "5"
    assert config.parse(_cfg(lns="tts")).sources[0].protocol == "3.1.1"
    for doc, msg in [
        ({"source": []}, r"\[city\] is missing"),
        ({"city": {}}, "at least one"),
        (_cfg(lns="ttn"), "lns must be"),
        (_cfg(password="x"), "must not be inline"),
        (_cfg(port="1883"), "port must be an integer"),
        (_cfg(protocol="4"), "protocol must be"),
        (_cfg(password_env="NOPE_NOT_SET"), "not set"),
        ({**_cfg(), "decode": {"default": "magic"}}, "mode must be"),
        ({**_cfg(), "bridge": {"colour": "red"}}, "unknown key"),
        ({**_cfg(), "bridge": {"drain_window": 65536}}, "drain_window must be <= 65535"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            config.parse(doc)
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    os.chmod(secret, 0o644)
    with pytest.raises(ConfigError, match="0600"):
        config.parse(_cfg(password_file=str(secret), username="u"))
    os.chmod(secret, 0o600)
    assert config.parse(_cfg(password_file=str(secret), username="u")).sources[0].password == "s3cret"
    monkeypatch.setenv("CITY_PW", "pw2")
    c2 = config.parse({"city": {"password_env": "CITY_PW", "username": "b"}, "source": [{}]})
    assert c2.city.password == "pw2" and "pw2" not in repr(c2)


def test_example_config_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge import app

    monkeypatch.setenv("TROSMART_CITY_PASSWORD", "S3cret-city")
    monkeypatch.setenv("TROSMART_CS_PASSWORD", "S3cret-cs")
    example = Path(__file__).resolve().parents[2] / "examples" / "bridge.toml"
    summary = app.check(str(example))
    assert "S3cret" not in json.dumps(summary)
    assert summary["prefix"] == "trosmart/v1"


def test_cli_check_and_errors(tmp_path: Path) -> None:
    import subprocess
    import sys

    ok = tmp_path / "ok.toml"
    ok.write_text('[city]\nport = 1883\n[[source]]\nname = "cs"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[city]\nport = "x"\n[[source]]\n')
    cli = [sys.executable, "-m", "trosmart_tools.cli", "bridge", "--check", "--config"]
    r = subprocess.run([*cli, str(ok)], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["sources"][0].startswith("cs (chirpstack)")
    r = subprocess.run([*cli, str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "port must be an integer" in r.stderr
