"""The RAK3172 emulator speaks the RUI3 dialect of docs/references.md §C over a real pty."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from payload_codec.airtime import uplink_time_on_air_us
from trosmart_tools.virtual_lab import Rak3172Emulator

from .at_client import AtClient

KEY = "2B7E151628AED2A6ABF7158809CF4F3C"


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Iterator[Rak3172Emulator]:
    # 0.02: a join takes ~100 ms; tests that assert "still busy" use 0.1 (~0.5 s of margin)
    marker = request.node.get_closest_marker("time_scale")
    e = Rak3172Emulator("70B3D57ED0000001", time_scale=marker.args[0] if marker else 0.02, seed=7)
    e.start()
    yield e
    e.stop()


@pytest.fixture
def at(emu: Rak3172Emulator) -> Iterator[AtClient]:
    c = AtClient(emu.path)
    yield c
    c.close()


def join(at: AtClient) -> None:
    assert at.cmd("AT+JOIN=1:0:10:1") == ["OK"]
    assert at.wait_for("+EVT:")[-1] == "+EVT:JOINED"


def test_byte_exact_framing_and_case_insensitive_names(at: AtClient) -> None:
    assert at.cmd("at+ver=?") == ["AT+VER=RUI_4.0.5_RAK3172-E", "OK"]
    assert at.cmd("At+DevEui=?") == ["AT+DEVEUI=70B3D57ED0000001", "OK"]
    assert at.raw == b"AT+VER=RUI_4.0.5_RAK3172-E\r\nOK\r\nAT+DEVEUI=70B3D57ED0000001\r\nOK\r\n"


def test_help_form(at: AtClient) -> None:
    lines = at.cmd("AT+DEVEUI?")
    assert lines[-1] == "OK" and lines[0].startswith("AT+DEVEUI,RW: ")
    assert at.cmd("AT+NJS?")[0].startswith("AT+NJS,R: ")


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("AT+FOO=1", "AT_COMMAND_NOT_FOUND"),
        ("AT+DEVEUI=123", "AT_PARAM_ERROR"),
        ("AT+DEVEUI=", "AT_PARAM_ERROR"),
        ("AT+DEVEUI=70B3D57ED000000G", "AT_PARAM_ERROR"),
        ("AT+DR=8", "AT_PARAM_ERROR"),
        ("AT+JOIN=1:0:6:1", "AT_PARAM_ERROR"),
        ("AT+SEND=1:0102", "AT_NO_NETWORK_JOINED"),
        ("AT+BAND=0", "AT_UNSUPPORTED_BAND"),
        ("AT+BFREQ=?", "AT_NO_CLASSB_ENABLE"),
        ("AT+PSEND=01", "AT_MODE_NO_SUPPORT"),
        ("AT+" + "X" * 33, "AT_ERROR"),
        ("HELLO", "AT_ERROR"),
        ("AT+NJS=1", "AT_PARAM_ERROR"),
    ],
)
def test_error_strings(at: AtClient, command: str, status: str) -> None:
    assert at.cmd(command) == [status]


@pytest.mark.time_scale(0.1)
def test_send_argument_errors_after_join(emu: Rak3172Emulator, at: AtClient) -> None:
    join(at)
    assert at.cmd("AT+SEND=224:01") == ["AT_PARAM_ERROR"]
    assert at.cmd("AT+SEND=1:012") == ["AT_PARAM_ERROR"]
    assert at.cmd("AT+SEND=1:" + "00" * 251) == ["AT_PARAM_ERROR"]
    assert at.cmd("AT+SEND=1") == ["AT_PARAM_ERROR"]
    assert at.cmd("AT+DR=0") == ["OK"]
    assert at.cmd("AT+SEND=1:" + "00" * 52) == ["AT_PARAM_ERROR"]  # DR0 carries 51 bytes (§J)
    # ... yet the MAC sends the frame without its payload (service_lora_send: tx_possible false)
    assert at.wait_for("+EVT:")[-1] == "+EVT:TX_DONE"
    assert emu.empty_uplinks == 1
    assert at.cmd("AT+SEND=1:" + "00" * 51) == ["OK"]
    assert at.cmd("AT+SEND=1:00") == ["AT_BUSY_ERROR"]  # the first one is still in the air
    assert at.wait_for("+EVT:")[-1] == "+EVT:TX_DONE"


@pytest.mark.time_scale(0.1)
def test_busy_while_joining_and_join_timing(emu: Rak3172Emulator, at: AtClient) -> None:
    t0 = emu.sim_time_s()
    assert at.cmd("AT+JOIN=1:0:10:1") == ["OK"]
    assert at.cmd("AT+JOIN=1:0:10:1") == ["AT_BUSY_ERROR"]
    assert at.cmd("AT+NJS=?") == ["AT+NJS=0", "OK"]
    assert at.wait_for("+EVT:")[-1] == "+EVT:JOINED"
    t_joined = [t for t, line in emu.trace if line == "+EVT:JOINED"][-1]
    assert 5.0 <= t_joined - t0 <= 6.0  # JOIN_ACCEPT_DELAY1 = 5 s + airtime (§E)
    assert at.cmd("AT+NJS=?") == ["AT+NJS=1", "OK"]


def test_join_failures_on_demand_with_attempts(emu: Rak3172Emulator, at: AtClient) -> None:
    emu.fail_next_joins(2)
    assert at.cmd("AT+JOIN=1:0:7:3") == ["OK"]
    events = [line for line in at.wait_for("+EVT:JOINED", timeout=10) if line.startswith("+EVT")]
    assert events == ["+EVT:JOIN_FAILED_RX_TIMEOUT"] * 2 + ["+EVT:JOINED"]
    assert emu.joins_sent == 3
    assert at.cmd("AT+JOIN=?") == ["AT+JOIN=1:0:7:3", "OK"]


def test_echo_toggles(at: AtClient) -> None:
    """service_mode_cli.c: each byte is echoed as it arrives, Enter echoes LF CR."""
    assert at.cmd("ATE") == ["OK"]
    at.raw = b""
    assert at.cmd("AT+NJS=?") == ["AT+NJS=?\n\rAT+NJS=0", "OK"]
    assert at.raw == b"AT+NJS=?\n\rAT+NJS=0\r\nOK\r\n"
    at.uart.write(b"ATE\r\n")  # echo off: "ATE" and LF CR still come back, then the status
    assert at.line() == "ATE\n\rOK"
    assert at.cmd("AT") == ["OK"]


def test_nwm_reboots_into_p2p_and_back(emu: Rak3172Emulator, at: AtClient) -> None:
    at.uart.write(b"AT+NWM=0\r\n")  # "OK" without CR LF, then the banner (At_NwMode)
    lines = at.wait_for("Current Work Mode")
    assert lines[0] == "OKRAKwireless RAK3172-E Example" and lines[-1] == "Current Work Mode: LoRa P2P."
    assert at.cmd("AT+NJS=?") == ["AT_MODE_NO_SUPPORT"]
    assert at.cmd("AT+PSEND=01") == ["OK"]  # P2P send and receive are emulated (p2p_air.py)
    assert at.wait_for("+EVT:") == ["+EVT:TXP2P DONE"]
    assert at.cmd("AT+CAD=?") == ["AT_ERROR"]  # the other P2P commands are not
    assert at.cmd("AT+VER=?") == ["AT+VER=RUI_4.0.5_RAK3172-E", "OK"]
    at.uart.write(b"AT+NWM=1\r\n")
    banner = at.wait_for("Current Work Mode")
    assert banner[0].startswith("OKRAKwireless") and banner[-1] == "Current Work Mode: LoRaWAN."
    assert emu.reboots == 2


def test_reboot_forgets_join_keeps_nvm(emu: Rak3172Emulator, at: AtClient) -> None:
    assert at.cmd("AT+APPKEY=" + KEY) == ["OK"]
    join(at)
    emu.reboot()
    assert at.wait_for("Current Work Mode")[0].startswith("RAKwireless")
    assert at.cmd("AT+NJS=?") == ["AT+NJS=0", "OK"]
    assert at.cmd("AT+APPKEY=?") == ["AT+APPKEY=" + KEY, "OK"]


def test_keys_never_logged(at: AtClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="trosmart_tools.virtual_lab"):
        assert at.cmd("AT+APPKEY=" + KEY.lower()) == ["OK"]
        assert at.cmd("AT+DEVEUI=?")[-1] == "OK"
    assert "AT+APPKEY=<hidden>" in caplog.text
    assert KEY not in caplog.text.upper()


def test_uplink_counters_and_confirmed_failure(emu: Rak3172Emulator, at: AtClient) -> None:
    join(at)
    assert at.cmd("AT+SEND=1:0102") == ["OK"]
    assert at.wait_for("+EVT:")[-1] == "+EVT:TX_DONE"
    assert at.cmd("AT+CFM=1") == ["OK"]
    assert at.cmd("AT+RETY=2") == ["OK"]
    emu.drop_next_acks(1)
    assert at.cmd("AT+SEND=1:03") == ["OK"]
    assert at.wait_for("+EVT:")[-1] == "+EVT:SEND_CONFIRMED_FAILED(4)"
    assert at.cmd("AT+CFS=?") == ["AT+CFS=0", "OK"]
    assert (emu.uplinks, emu.fcnt_up) == (2, 2)
    # airtime: join + 1 uplink of 2 B + 3 transmissions of 1 B at DR5 (SF7), docs/references.md §J
    want = (uplink_time_on_air_us(10, 7) + uplink_time_on_air_us(2, 7) + 3 * uplink_time_on_air_us(1, 7)) / 1000
    assert emu.airtime_ms_total == pytest.approx(want)


@pytest.fixture
def fast_at() -> Iterator[tuple[Rak3172Emulator, AtClient]]:
    # 1 h = 1.8 s: the ~24 uplinks (tens of ms) end long before the window can slide
    e = Rak3172Emulator("70B3D57ED0000002", time_scale=0.0005, seed=3)
    c = AtClient(e.start())
    yield e, c
    c.close()
    e.stop()


def test_duty_cycle_per_subband(fast_at: tuple[Rak3172Emulator, AtClient]) -> None:
    """SF12 uplinks stop with AT_BUSY_ERROR once both 1 % sub-bands used 36 s in the hour."""
    emu, at = fast_at
    assert at.cmd("AT+DR=0") == ["OK"]
    join(at)
    join_ms = uplink_time_on_air_us(10, 12) / 1000  # 23-byte Join-Request at SF12
    toa_ms = uplink_time_on_air_us(51, 12) / 1000
    expected = int((36000 - join_ms) // toa_ms) + int(36000 // toa_ms)  # band M + band L
    sent = 0
    t_first = emu.sim_time_s()
    while True:
        now = emu.sim_time_s()
        reply = at.cmd("AT+SEND=1:" + "00" * 51)
        if reply[-1] == "AT_BUSY_ERROR":
            # the wait the module announces: until the first uplink leaves the 1 h window
            assert len(reply) == 2 and reply[0].startswith("Restricted_Wait_"), reply
            wait_s = int(reply[0].split("_")[2]) / 1000
            assert t_first + 3600 - now - 5 <= wait_s <= t_first + 3600 - now + 5, (wait_s, now - t_first)
            break
        assert reply == ["OK"]
        assert at.wait_for("+EVT:")[-1] == "+EVT:TX_DONE"
        sent += 1
        assert sent <= expected
    assert sent == expected
    # an hour of simulated time later the window has slid past the first transmissions
    deadline = time.monotonic() + 20
    while emu.sim_time_s() < t_first + 3600 + 60:
        assert time.monotonic() < deadline
        time.sleep(0.01)  # waiting for simulated time to pass, not for another thread
    assert at.cmd("AT+SEND=1:" + "00" * 51) == ["OK"]
