"""The raw-radio P2P backend (firmware/lib/lora_p2p.py) on the simulated `lora` radio
(board/lora_sim.py) and the shared air (p2p_air.Air over loopback UDP): its radio settings, its
refusals, and that bare radios, RAK3172 emulators and a LoRaWAN gateway hear each other exactly
when a real air would let them (frequency, SF, bandwidth, IQ, sync word)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from lora_p2p import SYNCWORD, LoraP2P, P2PConfigError
from p2p_receiver import relay

from trosmart_tools.virtual_lab import HostUart, Rak3172Emulator
from trosmart_tools.virtual_lab.board.lora_sim import AirLink, SimRadio
from trosmart_tools.virtual_lab.lorawan_server import LoRaWANServer
from trosmart_tools.virtual_lab.p2p_air import Air

FREQ, SF, BW = 868100000, 7, 125


def _ms() -> int:
    return int(time.monotonic() * 1000)


def _sleep(ms: int) -> None:
    time.sleep(ms / 1000)


def bare(air: Air, port: int) -> LoraP2P:
    return LoraP2P(SimRadio(AirLink("127.0.0.1", port, timeout_s=5), ticks_ms=_ms, sleep_ms=_sleep))


@pytest.fixture
def air() -> Iterator[tuple[Air, int]]:
    a = Air(gateway=LoRaWANServer())
    port = a.serve_udp()
    yield a, port
    a.close()


def receive(radio: LoraP2P, want: int, timeout_s: float = 10.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        got += radio.poll(200)
    return got


def test_settings_are_rui3_p2p_and_refusals_name_the_setting(air: tuple[Air, int]) -> None:
    r = bare(*air)
    modem = r.modem
    assert isinstance(modem, SimRadio)
    assert r.configure(FREQ, SF, BW) == 1
    c = modem.cfg
    assert (c["freq_khz"], c["sf"], c["bw"], c["coding_rate"], c["preamble_len"]) == (868100, 7, "125", 5, 8)
    assert c["syncword"] == SYNCWORD == 0x12 and c["crc_en"] and not c["implicit_header"]
    assert not c["invert_iq_tx"] and not c["invert_iq_rx"]
    with pytest.raises(P2PConfigError, match="p2p_freq_hz"):
        r.configure(868700000, SF, BW)  # a 0.1 % sub-band
    with pytest.raises(P2PConfigError, match="p2p_bw_khz"):
        r.configure(FREQ, 9, 250)
    with pytest.raises(P2PConfigError, match="txp"):
        r.configure(FREQ, SF, BW, txp=20)  # above EU868's 16 dBm EIRP
    with pytest.raises(P2PConfigError, match=r"1\.\.239"):
        r.send(bytes(240), 100)
    assert not r.poll(10)  # not listening: nothing, no wait


def test_bare_radios_and_rak3172s_hear_each_other_a_gateway_does_not(air: tuple[Air, int]) -> None:
    a, port = air
    tx, rx, off = bare(a, port), bare(a, port), bare(a, port)
    for r in (tx, rx):
        r.configure(FREQ, SF, BW)
    off.configure(868300000, SF, BW)  # another channel
    emu = Rak3172Emulator("70B3D57ED00000FF", air=a, time_scale=0.01)
    emu.start()
    try:
        from rak3172 import RAK3172
        from rak3172_p2p import RakP2P

        uart = HostUart(emu.path)
        rak = RakP2P(RAK3172(uart))
        rak.configure(FREQ, SF, BW)
        rak.listen()
        rx.listen()
        off.listen()
        assert not rx.poll(50) and not off.poll(50)
        assert a.listening() == 2  # each asked the air within its lease
        tx.send(b"\x11bare", 10)
        assert receive(rx, 1) == [(a.rssi, a.snr, b"\x11bare")]  # RxPacket.snr is dB x 4: back to dB
        deadline = time.monotonic() + 5
        got: list[Any] = []
        while not got and time.monotonic() < deadline:
            got = rak.poll(100)
        assert got == [(a.rssi, a.snr, b"\x11bare")]  # a RAK3172 hears the bare radio
        rak.stop()
        rak.send(b"\x11rak", 100)  # and the bare radio hears a RAK3172
        assert receive(rx, 1) == [(a.rssi, a.snr, b"\x11rak")]
        assert off.poll(50) == []
        uart.close()
    finally:
        emu.stop()
    gw = a.gateway
    assert gw.unheard == 2 and gw.rejected == []  # the private sync word: not demodulated, not a Join-Request
    tx.modem.configure({"syncword": 0x34})  # with LoRaWAN's public sync word a gateway would take it
    tx.send(b"\x00" + bytes(22), 10)  # a 23-byte frame whose MHDR says Join-Request
    assert gw.unheard == 2 and gw.rejected and rx.poll(50) == []  # and the P2P receiver no longer hears it


def test_a_receiver_that_stopped_asking_misses_what_is_sent(air: tuple[Air, int]) -> None:
    a, port = air
    tx, rx = bare(a, port), bare(a, port)
    for r in (tx, rx):
        r.configure(FREQ, SF, BW)
    rx.listen()
    rx.poll(20)
    lines: list[str] = []
    runs = iter(range(3))
    relay(rx, lines.append, running=lambda: next(runs, None) is not None)  # three polls, then gone
    assert lines == ["p2p receiver: listening"]
    deadline = time.monotonic() + 5
    while a.listening() and time.monotonic() < deadline:
        time.sleep(0.05)  # the air's lease ends: nobody receives any more
    tx.send(b"\x11lost", 10)
    assert a.missed == 1
    rx2 = bare(a, port)  # the same board powered up again: a new radio
    rx2.configure(FREQ, SF, BW)
    rx2.listen()
    rx2.poll(20)
    tx.send(b"\x11back", 10)
    assert receive(rx2, 1) == [(a.rssi, a.snr, b"\x11back")]
