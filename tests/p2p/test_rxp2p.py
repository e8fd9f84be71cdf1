"""payload_codec.rxp2p, the receiver's console line: what a receiver prints is parsed back exactly,
anything else is refused with LineError only, and MicroPython agrees with CPython line for line."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payload_codec import rxp2p
from payload_codec.errors import DecodeError
from trosmart_tools.mpy import run

rssi = st.integers(-200, 20)
snr = st.integers(-30, 30)
payload = st.binary(min_size=0, max_size=239)


@settings(deadline=None)
@given(rssi, snr, payload)
def test_a_printed_line_parses_back(r: int, s: int, data: bytes) -> None:
    line = rxp2p.format_line(r, s, data)
    assert line == f"+EVT:RXP2P:{r}:{s}:{data.hex().upper()}"  # RUI3 OnRxDone's format
    assert rxp2p.parse_line(line) == (r, s, data)
    assert rxp2p.parse_line(line[len("+EVT:"):] + "\r\n") == (r, s, data)  # the driver's event text


@settings(deadline=None)
@given(st.text(max_size=80) | st.builds(lambda a, b: rxp2p.PREFIX + a + ":" + b, st.text(max_size=8),
                                         st.text(max_size=40)))
def test_anything_else_is_a_line_error_or_a_valid_packet(text: str) -> None:
    try:
        r, s, data = rxp2p.parse_line(text)
    except rxp2p.LineError as e:
        assert isinstance(e, DecodeError) and str(e)
        return
    assert isinstance(data, bytes) and len(data) <= 239 and -9999 <= r <= 9999 and -9999 <= s <= 9999


@pytest.mark.parametrize("line", [
    "+EVT:RXP2P:-60:9:ABC",  # odd hex
    "+EVT:RXP2P:-60:9:" + "00" * 240,  # longer than AT+PSEND carries
    "+EVT:RXP2P:+60:9:00", "+EVT:RXP2P:1_0:9:00", "+EVT:RXP2P:٣:9:00", "+EVT:RXP2P:--1:9:00",
    "+EVT:RXP2P:-60:9", "+EVT:RXP2P:-60:9:00:00", "+EVT:TXP2P:-60:9:00", "+EVT:RXP2P RECEIVE TIMEOUT",
    "+EVT:RXP2P:-60:9:0G",
])
def test_hostile_lines_are_refused(line: str) -> None:
    with pytest.raises(rxp2p.LineError):
        rxp2p.parse_line(line)


LINES = ["+EVT:RXP2P:-60:9:11000000A1", "RXP2P:-120:-20:", " +EVT:RXP2P: -7 : 3 :AB CD\r\n", "+EVT:RXP2P:-60:9:ABC",
         "+EVT:RXP2P:+1:0:00", "+EVT:RXP2P:-60:9:" + "0F" * 239, "+EVT:RXP2P:-60:9:" + "00" * 240, "garbage", ""]


def _cpython(line: str) -> list[object]:
    try:
        r, s, d = rxp2p.parse_line(line)
        return [r, s, d.hex()]
    except rxp2p.LineError:
        return ["LineError"]


def test_micropython_parses_and_prints_the_same(micropython: str, tmp_path: object) -> None:
    script = (
        "import json\nfrom payload_codec import rxp2p\nout = []\n"
        f"for line in json.loads({json.dumps(json.dumps(LINES))}):\n"
        "    try:\n"
        "        r, s, d = rxp2p.parse_line(line)\n"
        "        out.append([r, s, d.hex()])\n"
        "    except rxp2p.LineError:\n"
        "        out.append(['LineError'])\n"
        "out.append(rxp2p.format_line(-60, -3, bytes([0, 171, 255])))\n"
        "print(json.dumps(out))\n")
    got = run(["-c", script])
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == [*[_cpython(x) for x in LINES], rxp2p.format_line(-60, -3, b"\x00\xab\xff")]
