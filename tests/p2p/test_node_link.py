"""The node's P2P link: the envelope counter never repeats across reboots, and the link seals
the same bytes on MicroPython (cryptolib) as on CPython (cryptography)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from p2p_link import EnvelopeCounter, P2PLink, open_link

import payload_codec
from bridge.aes import Aes128
from payload_codec import envelope
from trosmart_tools.mpy import run

from .conftest import LIB
from .fakes import Rtc

KEY = bytes(range(16))
FRAMES = [payload_codec.encode({"temperature": 20 + i, "battery_voltage": 3.5}) for i in range(5)]


class FakeRadio:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, int]] = []

    def send(self, data: bytes, airtime_ms: int, timeout_ms: int = 0) -> None:
        self.sent.append((bytes(data), airtime_ms))


def test_counter_is_contiguous_across_wakes_and_never_reused_after_power_loss(tmp_path: Path) -> None:
    from lorawan_store import FLASH_EVERY

    rtc = Rtc()
    used: list[int] = []
    writes = 0
    for boot in range(6):
        c = EnvelopeCounter(rtc, str(tmp_path))  # every wake from deep sleep restarts the interpreter
        assert c.source == ("rtc" if boot > 1 else "")  # boot 0 took none
        used += [c.take() for _ in range(boot)]
        writes += c.flash_writes
    assert used == list(range(15))  # no value skipped across wakes (the receiver would report it lost)
    assert writes == 1  # flash once per FLASH_EVERY values, not per value
    # power loss: RTC memory is gone; the flash ceiling skips ahead, below it nothing is reused
    c = EnvelopeCounter(Rtc(), str(tmp_path))
    assert c.source == "flash"
    first = c.take()
    assert 15 <= first <= 15 + FLASH_EVERY
    more = [c.take() for _ in range(3 * FLASH_EVERY)]
    assert more == list(range(first + 1, first + 1 + 3 * FLASH_EVERY))
    # a write cut before its rename leaves the old record; a corrupt RTC record falls back to flash
    (tmp_path / "p2p_counter.dat.tmp").write_bytes(b"\xff" * 20)
    bad = Rtc()
    bad.memory(b"\x00" * 18)
    c = EnvelopeCounter(bad, str(tmp_path))
    assert c.source == "flash" and c.take() > more[-1]


def test_the_earlier_firmwares_counter_file_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / "p2p_counter.dat").write_text("42")  # the next value, as the earlier firmware wrote it
    c = EnvelopeCounter(Rtc(), str(tmp_path))
    assert c.source == "flash" and c.take() == 42  # no reuse: the receiver accepted up to 41
    assert (tmp_path / "p2p_counter.dat").read_bytes()[:2] == b"\x32\x50"  # rewritten as a record
    assert EnvelopeCounter(Rtc(), str(tmp_path)).take() > 42


def test_link_seals_each_frame_with_the_next_counter(tmp_path: Path) -> None:
    radio = FakeRadio()
    link = P2PLink(radio, Aes128(KEY), 0xA1, EnvelopeCounter(Rtc(), str(tmp_path)), 5)
    assert link.is_joined()
    for f in FRAMES:
        assert link.send(payload_codec.MEASUREMENT, f) == []
    opened = [envelope.open_envelope(d, lambda _: envelope.Signer(Aes128(KEY))) for d, _ in radio.sent]
    assert [o[1] for o in opened] == [0, 1, 2, 3, 4] and [o[3] for o in opened] == FRAMES
    # airtime of the envelope at DR5 (SF7/125) = the ledger's LoRaWAN figure for the frame
    from payload_codec.airtime import uplink_time_on_air_us
    assert [a for _, a in radio.sent] == [(uplink_time_on_air_us(len(f), 7) + 999) // 1000 for f in FRAMES]


def test_open_link_names_what_is_missing(tmp_path: Path) -> None:
    logs: list[str] = []
    sec = tmp_path / "secrets.json"
    sec.write_text(json.dumps({"deveui": "70B3D57ED00000A1"}))
    cfg: dict[str, Any] = {"p2p_sf": 7, "p2p_bw_khz": 125, "p2p_freq_hz": 868100000}
    radio = object()
    assert open_link(radio, cfg, str(sec), Rtc(), log=logs.append) == (radio, None)
    assert "p2p_key" in logs[-1] and "000102" not in "".join(logs)


def test_micropython_seals_the_same_bytes(micropython: str, tmp_path: Path) -> None:
    script = tmp_path / "seal.py"
    (tmp_path / "m").mkdir()
    (tmp_path / "c").mkdir()
    script.write_text(
        "import cryptolib, json\n"
        "from p2p_link import EnvelopeCounter, P2PLink\n"
        "class Rtc:\n"
        "    data = b''\n"
        "    def memory(self, d=None):\n"
        "        if d is None: return self.data\n"
        "        self.data = bytes(d)\n"
        "class R:\n"
        "    def __init__(self): self.sent = []\n"
        "    def send(self, d, a, t=0): self.sent.append((bytes(d).hex(), a))\n"
        "r = R()\n"
        f"c = EnvelopeCounter(Rtc(), {str(tmp_path / 'm')!r})\n"
        "link = P2PLink(r, cryptolib.aes(bytes(range(16)), 1), 0xA1, c, 5)\n"
        f"for h in {[f.hex() for f in FRAMES]!r}:\n"
        "    link.send(1, bytes.fromhex(h))\n"
        "print(json.dumps(r.sent))\n")
    out = run([str(script)], path=[LIB])
    assert out.returncode == 0, out.stderr
    radio = FakeRadio()
    link = P2PLink(radio, Aes128(KEY), 0xA1, EnvelopeCounter(Rtc(), str(tmp_path / "c")), 5)
    for f in FRAMES:
        link.send(1, f)
    assert json.loads(out.stdout) == [[d.hex(), a] for d, a in radio.sent]
