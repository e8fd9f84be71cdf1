"""The bridge's P2P receiver side without a port: replay guard, keys, config, and every line a
receiver may print (hostile ones included) -> an uplink or a dead letter with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import payload_codec
from bridge import config, p2p_uplink
from bridge.aes import Aes128
from bridge.errors import ConfigError, InputError
from bridge.model import InMessage, Uplink
from bridge.replay import DUPLICATE, FRESH, ReplayGuard
from bridge.serial_source import SerialSource
from payload_codec import envelope, p2p_radio
from tests.p2p.keys import write_keys

EUI = "70B3D57ED00000A1"
KEY = bytes(range(16))
DEV = int(EUI[-8:], 16)
FRAME = payload_codec.encode({"temperature": 21.5, "battery_voltage": 3.6})


def serial_doc(tmp: Path, **src: Any) -> dict[str, Any]:
    s = {"name": "ws", "lns": "serial", "device": "/dev/ttyUSB0"}
    if "keys_file" not in src:
        keys = tmp / "keys.json"
        s["keys_file"] = str(keys) if keys.exists() else write_keys(keys, {EUI: KEY.hex()})
    s.update(src)
    return {"city": {"port": 1883}, "bridge": {"state_dir": str(tmp / "state")}, "source": [s]}


def make_source(tmp: Path) -> tuple[SerialSource, list[InMessage]]:
    cfg = config.parse(serial_doc(tmp))
    got: list[InMessage] = []
    (tmp / "state").mkdir(exist_ok=True)
    src = SerialSource(cfg.sources[0], tmp / "state", got.append, lambda n, up: None)
    return src, got


def seal(counter: int, key: bytes = KEY, dev: int = DEV, frame: bytes = FRAME) -> bytes:
    return envelope.seal(envelope.Signer(Aes128(key)), dev, counter, 1, frame)


def line(data: bytes, rssi: int = -80, snr: int = 5) -> str:
    return "+EVT:RXP2P:%d:%d:%s" % (rssi, snr, data.hex().upper())


def outcome(msg: InMessage) -> Uplink | str:
    try:
        up = p2p_uplink.parse(msg.topic, msg.payload)
    except InputError as e:
        return e.reason
    assert isinstance(up, Uplink)
    return up


def test_replay_guard_persists_and_tells_duplicates_from_replays(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    g = ReplayGuard(p)
    assert g.check(1, 5, b"abcd") == FRESH
    assert g.check(1, 5, b"abcd") == DUPLICATE
    with pytest.raises(InputError, match="not above the last accepted 5") as e:
        g.check(1, 5, b"abce")
    assert e.value.reason == "replayed"
    with pytest.raises(InputError):
        g.check(1, 4, b"abcd")
    assert g.check(2, 0, b"0000") == FRESH  # per device
    g2 = ReplayGuard(p)  # a restarted bridge remembers
    assert g2.last(1) == 5 and g2.last(2) == 0
    with pytest.raises(InputError):
        g2.check(1, 3, b"abcd")
    assert p.stat().st_mode & 0o077 == 0
    p.write_text("{not json")
    with pytest.raises(InputError, match="cannot be read"):
        ReplayGuard(p)


def test_config_names_the_bad_key(tmp_path: Path) -> None:
    cfg = config.parse(serial_doc(tmp_path))
    s = cfg.sources[0]
    assert (s.lns, s.device, s.baud, s.receiver, s.p2p_freq_hz) == ("serial", "/dev/ttyUSB0", 115200, "rak3172",
                                                                     868100000)
    cases = [({"device": ""}, "device is missing"), ({"receiver": "x"}, "receiver must be"),
             ({"p2p_freq_hz": 868800000}, "p2p_freq_hz"), ({"p2p_sf": 6}, "p2p_sf"),
             ({"baud": 0}, "baud"), ({"bogus": 1}, "bogus"),
             ({"keys_file": write_keys(tmp_path / "k644.json", {EUI: KEY.hex()}, 0o644)}, "0600")]
    for extra, msg in cases:
        with pytest.raises(ConfigError, match=msg):
            config.parse(serial_doc(tmp_path, **extra))
    with pytest.raises(ConfigError, match="device"):  # serial keys are for lns = "serial" only
        config.parse({"city": {}, "source": [{"lns": "chirpstack", "device": "/dev/x"}]})


def test_keys_file_errors_name_the_entry(tmp_path: Path) -> None:
    from bridge import p2p_keys

    for i, (doc, msg) in enumerate([({EUI: "00"}, EUI), ({"XYZ": KEY.hex()}, "XYZ"), ([], "object"),
                                    ({EUI: KEY.hex(), "00000000" + EUI[-8:]: KEY.hex()}, "share")]):
        with pytest.raises(ConfigError, match=msg):
            p2p_keys.load(write_keys(tmp_path / f"k{i}.json", doc), "source ws")


def test_packets_become_uplinks_or_dead_letters_with_reasons(tmp_path: Path) -> None:
    src, got = make_source(tmp_path)
    other = bytes(range(16, 32))
    src._packet(line(seal(1)))
    src._packet(line(seal(1)))  # heard twice: a duplicate, dropped without a dead letter
    src._packet(line(seal(0)))  # older counter: replayed
    forged = bytearray(seal(2))
    forged[-5] ^= 1
    src._packet(line(bytes(forged)))
    src._packet(line(seal(3, key=other)))  # nobody's key: bad_mic
    src._packet(line(seal(4, dev=0xBEEF)))
    src._packet(line(seal(5)[:10]))
    src._packet("+EVT:RXP2P:-80:5:XYZ")
    src._packet(line(seal(6, frame=b"\xff")))  # a valid envelope, an undecodable frame
    assert src.duplicates == 1
    out = [outcome(m) for m in got]
    up = out[0]
    assert isinstance(up, Uplink)
    assert (up.dev_eui, up.f_cnt, up.f_port, up.data, up.lns) == (EUI.lower(), 1, 1, FRAME, "serial")
    assert up.receptions[0].rssi == -80 and up.receptions[0].snr == 5
    assert out[1:7] == ["replayed", "bad_mic", "bad_mic", "unknown_device", "malformed", "bad_line"]
    last = out[7]
    assert isinstance(last, Uplink) and last.data == b"\xff"  # the pipeline dead-letters the codec error
    for m in got[1:7]:
        assert "line" in json.loads(m.payload)  # the raw line (and bytes) travel in the dead letter


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=700))
def test_no_line_raises(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    src, got = make_source(tmp_path_factory.mktemp("h"))
    src._packet("+EVT:RXP2P:" + text)
    assert len(got) == 1 and isinstance(outcome(got[0]), str)


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(st.integers(863_000_000, 870_000_000), st.sampled_from([6, 7, 8, 9, 10, 11, 12, 13]),
       st.sampled_from([62, 125, 250, 500]))
def test_accepted_radio_settings_lie_inside_a_subband(freq: int, sf: int, bw: int) -> None:
    try:
        duty = p2p_radio.check(freq, sf, bw)
    except p2p_radio.RadioSettingsError:
        return
    assert 7 <= sf <= 12 and (bw == 125 or (bw == 250 and sf == 7)) and duty in (10, 100)
    lo, hi = freq - bw * 500, freq + bw * 500
    assert any(a * 1000 <= lo and hi <= b * 1000 for a, b, _ in p2p_radio.SUBBANDS)
    assert p2p_radio.data_rate(sf, bw) == (6 if bw == 250 else 12 - sf)
