"""Property tests for the driver's event/line parser and the join back-off (hypothesis),
plus parser agreement between CPython and the real MicroPython."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payload_codec.airtime import EU868, uplink_time_on_air_us
from trosmart_tools.mpy import MicroPythonBatch

from .conftest import LIB, MPY

SLOTS = st.sampled_from(["1", "2", "B", "C"])
PAYLOAD = st.binary(min_size=0, max_size=242)


def rx_line(slot: str, rssi: int, snr: int, port: int, data: bytes, multicast: bool, style: int) -> str:
    cast = "MULTICAST" if multicast else "UNICAST"
    hexs = data.hex()
    if style == 0:  # RUI3 >= 3.2 (docs/references.md §C.4)
        return f"+EVT:RX_{slot}:{rssi}:{snr}:{cast}:{port}:{hexs}"
    if style == 1:  # lower case, spaces around separators
        return f"+evt:rx_{slot.lower()} : {rssi} : {snr} : {cast.lower()} : {port} : {hexs.upper()}"
    if style == 2:  # labelled, comma separated (older RUI3 print style)
        return f"+EVT:RX_{slot}, RSSI {rssi}, SNR {snr}, {cast}, {port}:{hexs}"
    return f"noise before +EVT:RX_{slot}:{rssi}:{snr}:{cast}:{port}:{hexs}\r"  # glued to noise


@settings(max_examples=300, deadline=None)
@given(SLOTS, st.integers(-150, 0), st.integers(-30, 30), st.integers(0, 255), PAYLOAD, st.booleans(),
       st.integers(0, 3))
def test_rx_event_parses_in_every_style(slot: str, rssi: int, snr: int, port: int, data: bytes,
                                        multicast: bool, style: int) -> None:
    import rak3172

    ev = rak3172.parse_event(rx_line(slot, rssi, snr, port, data, multicast, style))
    assert ev is not None and ev[0] == "RX"
    assert ev[1].as_tuple() == (slot, rssi, snr, port, data, multicast)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80))
def test_any_printable_line_parses_or_is_not_an_event(line: str) -> None:
    import rak3172

    ev = rak3172.parse_event(line)
    if "+EVT:" not in line.upper():
        assert ev is None
    else:
        assert ev is not None
        assert ev[0] in {"JOINED", "JOIN_FAILED", "TX_DONE", "CONFIRMED_OK", "CONFIRMED_FAILED", "RX",
                         "LINKCHECK", "TIMEREQ", "SWITCH_FAILED", "BAD", "OTHER"}


@given(st.sampled_from(["OK", "AT_ERROR", "AT_PARAM_ERROR", "AT_BUSY_ERROR", "AT_TEST_PARAM_OVERFLOW",
                        "AT_NO_CLASSB_ENABLE", "AT_NO_NETWORK_JOINED", "AT_RX_ERROR", "AT_MODE_NO_SUPPORT",
                        "AT_COMMAND_NOT_FOUND", "AT_UNSUPPORTED_BAND"]),
       st.text(" \t", max_size=3), st.text(" \t", max_size=3), st.randoms())
def test_status_lines_are_case_and_space_insensitive(status: str, pre: str, post: str, rnd: random.Random) -> None:
    import rak3172

    mixed = "".join(c.lower() if rnd.random() < 0.5 else c for c in status)
    assert rak3172.status_of(pre + mixed + post) == status


@given(st.integers(0, 1), st.integers(0, 30), st.integers(0, 20), st.integers(-150, 0), st.integers(-20, 20),
       st.sampled_from([":", ", "]))
def test_linkcheck_event(status: int, margin: int, gws: int, rssi: int, snr: int, sep: str) -> None:
    import rak3172

    line = "+EVT:LINKCHECK" + "".join(sep + str(v) for v in (status, margin, gws, rssi, snr))
    assert rak3172.parse_event(line) == ("LINKCHECK", (status, margin, gws, rssi, snr))


def test_fixed_events() -> None:
    import rak3172

    assert rak3172.parse_event("+EVT:TIMEREQ_OK") == ("TIMEREQ", True)
    assert rak3172.parse_event("+EVT:TIMEREQ_FAILED") == ("TIMEREQ", False)
    assert rak3172.parse_event("+EVT:SWITCH_FAILED") == ("SWITCH_FAILED", None)
    assert rak3172.parse_event("+EVT:LINKCHECK:1:0:0") == ("BAD", "LINKCHECK:1:0:0")


@given(st.integers(0, 255))
def test_confirmed_failed_status(n: int) -> None:
    import rak3172

    assert rak3172.parse_event(f"+EVT:SEND_CONFIRMED_FAILED({n})") == ("CONFIRMED_FAILED", n)


LINE = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=120)


@settings(max_examples=200, deadline=None)
@given(st.lists(LINE, min_size=1, max_size=12), st.integers(1, 70), st.lists(st.sampled_from(
    [b"", b"\x00", b"\xff", b"\r"]), min_size=12, max_size=12))
def test_line_reader_reassembles_any_chunking(lines: list[str], chunk: int, junk: list[bytes]) -> None:
    """Lines split across reads at any size, with NUL/0xFF/CR noise, come out whole."""
    import rak3172
    from rak_fake_uart import FakeClock, FakeUart

    stream = b"".join(junk[i] + line.encode() + b"\r\n" for i, line in enumerate(lines))
    clock = FakeClock()
    m = rak3172.RAK3172(FakeUart([("r", stream)], clock, chunk), ticks_ms=clock.ticks_ms,
                        sleep_ms=clock.sleep_ms)
    got = []
    while True:
        line = m._readline(m._deadline(10))
        if line is None:
            break
        got.append(line)
    assert got == lines


# ---- join back-off (LoRaWAN 1.0.4, docs/references.md §E) ---------------------------------------------
BUDGETS = ((0, 3600, 36000), (3600, 39600, 36000))  # (start, end, ms) of hour 0 and hours 1-11


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 5), st.integers(0, 7200), st.lists(st.integers(0, 4000), min_size=1, max_size=60))
def test_backoff_never_exceeds_the_budgets(dr: int, start: int, waits: list[int]) -> None:
    """Joining as soon as allowed (plus arbitrary extra waits) stays within every window."""
    import rak3172

    airtime = rak3172.join_airtime_ms(dr)
    b = rak3172.JoinBackoff()
    now = start
    sent: list[int] = []
    for w in waits:
        now = b.allowed_at_s(now + w, airtime)
        b.record(now, airtime)
        sent.append(now)
        b = rak3172.JoinBackoff(b.state())  # persisted and restored every time
    for lo, hi, budget in BUDGETS:
        assert sum(airtime for t in sent if lo <= t < hi) <= budget
    day0 = 39600
    for t0 in sent:
        if t0 >= day0:
            k = (t0 - day0) // 86400
            lo = day0 + k * 86400
            assert sum(airtime for t in sent if lo <= t < lo + 86400) <= 8700
    gaps = [b2 - a for a, b2 in itertools.pairwise(sent)]
    assert all(g * 1000 >= airtime * 100 for g in gaps)  # 1 % duty cycle per request


def test_backoff_first_hour_count_at_sf12() -> None:
    import rak3172

    airtime = rak3172.join_airtime_ms(0)
    b = rak3172.JoinBackoff()
    now, count = 0, 0
    while True:
        now = b.allowed_at_s(now, airtime)
        if now >= 3600:
            break
        b.record(now, airtime)
        count += 1
    assert count == 36000 // airtime  # 24 SF12 joins fit into 36 s
    assert now == 3600  # the next one waits for the second window


def test_join_airtime_table_matches_the_formula() -> None:
    import rak3172

    for dr in range(6):
        sf, bw, _ = EU868[dr]
        exact_us = uplink_time_on_air_us(10, sf, bw)  # 23-byte PHY = 10 + 13 (docs/references.md §J)
        assert rak3172.join_airtime_ms(dr) == -(-exact_us // 1000)
    with pytest.raises(ValueError, match=r"0\.\.5"):
        rak3172.join_airtime_ms(6)


# ---- CPython and MicroPython agree -------------------------------------------------------------
def corpus(n: int, seed: int = 20261128) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        kind = rnd.randrange(4)
        if kind == 0:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
            out.append(rx_line(rnd.choice("12BC"), -rnd.randrange(150), rnd.randrange(-20, 20),
                               rnd.randrange(256), data, rnd.random() < 0.2, rnd.randrange(4)))
        elif kind == 1:
            ev = rnd.choice(["JOINED", "JOIN_FAILED_RX_TIMEOUT", "TX_DONE", "SEND_CONFIRMED_OK",
                             f"SEND_CONFIRMED_FAILED({rnd.randrange(12)})", "LINKCHECK:0:10:1:-80:7",
                             "LINKCHECK:1:0:0:0:0", "TIMEREQ_OK", "TIMEREQ_FAILED", "SWITCH_FAILED"])
            out.append("+EVT:" + (ev.lower() if rnd.random() < 0.3 else ev))
        else:
            alphabet = "+EVT:RX_12:-,0aF UNICAST()"
            out.append("".join(rnd.choice(alphabet) for _ in range(rnd.randrange(30))))
    return out


@pytest.mark.micropython
def test_parser_agrees_on_micropython(micropython: str) -> None:
    import rak_scenarios

    lines = corpus(400)
    batch = MicroPythonBatch(MPY / "rak_batch.py", path=[LIB, MPY], heapsize="256k")
    mpy = batch.call_many([{"parse": line} for line in lines])
    cpy = [rak_scenarios.parsed(line) for line in lines]
    assert sum(1 for p in cpy if p and p[0] == "RX") > 50  # the corpus exercises downlinks
    assert mpy == cpy
