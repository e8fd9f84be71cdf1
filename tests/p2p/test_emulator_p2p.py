"""The emulator's P2P commands, each as RUI3 v5.0.0 atcmd_p2p.c / service_lora_p2p.c has it,
and the driver's P2P mode (rak3172_p2p) against it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import rak3172_p2p

from tests.firmware_driver.at_client import AtClient
from trosmart_tools.virtual_lab import HostUart, Rak3172Emulator
from trosmart_tools.virtual_lab.p2p_air import RX_ON_MSG, Air

SCALE = 0.01


@pytest.fixture
def pair() -> Iterator[tuple[AtClient, AtClient, Air]]:
    air = Air()
    a = Rak3172Emulator("AC1F09FFFE000001", air=air, time_scale=SCALE)
    b = Rak3172Emulator("AC1F09FFFE000002", air=air, time_scale=SCALE)
    a.start()
    b.start()
    ca, cb = AtClient(a.path), AtClient(b.path)
    try:
        yield ca, cb, air
    finally:
        ca.close()
        cb.close()
        a.stop()
        b.stop()


def p2p_mode(c: AtClient) -> None:
    c.uart.write(b"AT+NWM=0\r\n")
    c.wait_for("Current Work Mode: LoRa P2P.")


def test_p2p_commands_need_p2p_mode(pair: tuple[AtClient, AtClient, Air]) -> None:
    a, _, _ = pair
    assert a.cmd("AT+PSEND=0102")[-1] == "AT_MODE_NO_SUPPORT"
    p2p_mode(a)
    assert a.cmd("AT+P2P=?") == ["AT+P2P=868000000:7:0:0:8:14", "OK"]
    assert a.cmd("AT+SEND=2:01")[-1] == "AT_MODE_NO_SUPPORT"


def test_argument_checks(pair: tuple[AtClient, AtClient, Air]) -> None:
    a, _, _ = pair
    p2p_mode(a)
    for bad in ("AT+P2P=149999999:7:0:0:8:14", "AT+P2P=868100000:4:0:0:8:14", "AT+P2P=868100000:7:0:4:8:14",
                "AT+P2P=868100000:7:0:0:4:14", "AT+P2P=868100000:7:0:0:8:23", "AT+P2P=868100000:7:10:0:8:14",
                "AT+P2P=868100000:7:0:0:8", "AT+PSEND=010", "AT+PSEND=" + "00" * 240, "AT+PSEND=zz",
                "AT+PRECV=65536", "AT+PRECV=x"):
        assert a.cmd(bad)[-1] == "AT_PARAM_ERROR", bad
    assert a.cmd("AT+P2P=868100000:9:250:1:12:20")[-1] == "OK"
    assert a.cmd("AT+P2P=?")[0] == "AT+P2P=868100000:9:1:1:12:20"  # bandwidth answered as index


def test_receive_modes_and_busy_rules(pair: tuple[AtClient, AtClient, Air]) -> None:
    a, b, air = pair
    p2p_mode(a)
    p2p_mode(b)
    assert b.cmd("AT+PRECV=?") == ["P2P_RX_OFF", "OK"]
    assert b.cmd("AT+PRECV=65534")[-1] == "OK"
    assert b.cmd("AT+PRECV=?") == ["P2P_RX_ON", "OK"]
    assert b.cmd("AT+P2P=868100000:7:0:0:8:14") == [RX_ON_MSG, "AT_BUSY_ERROR"]
    assert b.cmd("AT+PSEND=01")[-1] == "AT_BUSY_ERROR"  # RX on: the radio is busy
    assert b.cmd("AT+PRECV=65535") == ["P2P_RX_ON already", "AT_BUSY_ERROR"]
    assert a.cmd("AT+PSEND=A1B2")[-1] == "OK"
    a.wait_for("+EVT:TXP2P DONE")
    assert b.wait_for("+EVT:RXP2P:")[-1] == "+EVT:RXP2P:%d:%d:A1B2" % (air.rssi, air.snr)
    # a different frequency is not heard
    assert a.cmd("AT+P2P=868300000:7:0:0:8:14")[-1] == "OK"
    assert a.cmd("AT+PSEND=C3")[-1] == "OK"
    a.wait_for("+EVT:TXP2P DONE")
    assert b.cmd("AT+PRECV=0")[-1] == "OK"
    assert b.cmd("AT+PRECV=100")[-1] == "OK"  # a timed receive ends with an event
    assert b.wait_for("+EVT:RXP2P")[-1] == "+EVT:RXP2P RECEIVE TIMEOUT"
    assert b.cmd("AT+PRECV=65533")[-1] == "OK"  # continuous receive that still sends
    assert b.cmd("AT+PSEND=01")[-1] == "OK"
    b.wait_for("+EVT:TXP2P DONE")
    assert "C3" not in b.raw.decode() and len(air.sent) == 3


def test_a_single_receive_takes_one_packet(pair: tuple[AtClient, AtClient, Air]) -> None:
    a, b, _ = pair
    p2p_mode(a)
    p2p_mode(b)
    assert b.cmd("AT+PRECV=65535")[-1] == "OK"
    for h in ("01", "02"):
        assert a.cmd("AT+PSEND=" + h)[-1] == "OK"
        a.wait_for("+EVT:TXP2P DONE")
    assert b.wait_for("+EVT:RXP2P:")[-1].endswith(":01")
    assert b.cmd("AT+PRECV=?") == ["P2P_RX_OFF", "OK"]  # OnRxDone: standby after one packet


@pytest.fixture
def radios() -> Iterator[tuple[object, object, Air]]:
    from rak3172 import RAK3172
    from rak3172_p2p import RakP2P

    air = Air()
    emus = [Rak3172Emulator("AC1F09FFFE00000%d" % i, air=air, time_scale=SCALE) for i in (1, 2)]
    uarts = []
    for e in emus:
        e.start()
        uarts.append(HostUart(e.path))
    try:
        yield RakP2P(RAK3172(uarts[0])), RakP2P(RAK3172(uarts[1])), air
    finally:
        for u in uarts:
            u.close()
        for e in emus:
            e.stop()


def test_driver_configures_sends_and_receives(radios: tuple[Any, Any, Air]) -> None:
    tx, rx, air = radios
    assert tx.configure(868100000, 7, 125) == 2  # AT+NWM=0 (a reboot) and AT+P2P
    assert tx.configure(868100000, 7, 125) == 0  # configured already: nothing written
    rx.configure(868100000, 7, 125)
    rx.listen()
    tx.send(bytes(range(239)), 400)
    got = []
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        got = rx.poll(50)
    assert got == [(air.rssi, air.snr, bytes(range(239)))]
    with pytest.raises(rak3172_p2p.P2PConfigError, match=r"1\.\.239"):
        tx.send(bytes(240), 100)


@pytest.mark.parametrize(("freq", "sf", "bw", "key"), [
    (868800000, 7, 125, "p2p_freq_hz"),  # 868.7-869.2 MHz: 0.1 %
    (868550000, 7, 125, "p2p_freq_hz"),  # the channel's upper edge leaves the 868.0-868.6 band
    (868100000, 6, 125, "p2p_sf"),
    (868100000, 9, 250, "p2p_bw_khz"),  # 250 kHz only at SF7 (EU868 DR6)
    (868100000, 7, 500, "p2p_bw_khz"),
])
def test_driver_refuses_settings_outside_eu868(radios: tuple[Any, Any, Air], freq: int, sf: int, bw: int,
                                               key: str) -> None:
    with pytest.raises(rak3172_p2p.P2PConfigError, match=key):
        radios[0].configure(freq, sf, bw)


def test_rxp2p_lines_are_parsed_leniently_and_bad_ones_refused() -> None:
    assert rak3172_p2p.parse_rxp2p("RXP2P:-70:8:0A0b") == (-70, 8, b"\x0a\x0b")
    for bad in ("RXP2P:-70:8", "RXP2P:-70:8:0A0", "RXP2P:x:8:00", "RXP2P:-70:8:" + "00" * 240, "RXP2P:1:2:3:4"):
        assert rak3172_p2p.parse_rxp2p(bad) is None, bad
