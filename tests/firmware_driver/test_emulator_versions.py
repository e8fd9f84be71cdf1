"""The emulator's RUI3 version differences, each as RUI3's source has it (docs/rak3172.md §5).

Every test runs for every version in ``VERSIONS``; the expectation is computed from the
version, the way the RAK-STM32-RUI tag it names behaves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from trosmart_tools.virtual_lab.rak3172_emulator import (
    JOIN_REARM_SINCE,
    TX_DONE_SINCE,
    VERSIONS,
    Rak3172Emulator,
    version_tuple,
)

from .at_client import AtClient

SCALE = 0.01  # a 5 s join accept in 50 ms; windows below keep seconds of simulated margin


class Downlinks:
    """A network that accepts joins and answers uplinks from a list of (port, data, confirmed)."""

    def __init__(self) -> None:
        self.queue: list[tuple[int, bytes, bool]] = []

    def join(self, deveui: str) -> bool:
        return True

    def uplink(self, deveui: str, fport: int, payload: bytes, fcnt: int, confirmed: bool, dr: int,
               **kw: object) -> tuple[int, bytes, bool] | None:
        return self.queue.pop(0) if self.queue else None


@pytest.fixture(params=sorted(VERSIONS))
def rui(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lab(rui: str) -> Iterator[tuple[Rak3172Emulator, AtClient, Downlinks]]:
    net = Downlinks()
    emu = Rak3172Emulator("70B3D57ED0000009", network=net, time_scale=SCALE, seed=5, rui=rui)  # type: ignore[arg-type]
    at = AtClient(emu.start())
    yield emu, at, net
    at.close()
    emu.stop()


def events_within(emu: Rak3172Emulator, since: float, sim_s: float) -> list[str]:
    """The +EVT / Restricted lines the emulator printed in ``sim_s`` simulated seconds after ``since``."""
    deadline = time.monotonic() + 10
    while emu.sim_time_s() < since + sim_s:
        assert time.monotonic() < deadline
        time.sleep(0.005)  # letting simulated time pass
    return [line for t, line in list(emu.trace) if t >= since]


def cmd(at: AtClient, text: str) -> list[str]:
    """The command's answer without the events printed meanwhile (checked through emu.trace)."""
    return [x for x in at.cmd(text) if not x.startswith("+EVT")]


def join(at: AtClient) -> None:
    assert at.cmd("AT+JOIN=1:0:7:0") == ["OK"]
    assert at.wait_for("+EVT:")[-1] == "+EVT:JOINED"


def test_version_and_banner(rui: str, lab: tuple[Rak3172Emulator, AtClient, Downlinks]) -> None:
    _, at, _ = lab
    assert at.cmd("AT+VER=?") == [f"AT+VER=RUI_{rui}_RAK3172-E", "OK"]
    at.uart.write(b"ATZ\r\n")  # no status line: the banner is the answer (At_Reboot)
    lines = at.wait_for("Current Work Mode")
    first = "RAKwireless RAK3172-E" if version_tuple(rui) >= (4, 2, 0) else "RAKwireless RAK3172-E Example"
    assert lines == [first, "-" * 54, f"Version: RUI_{rui}_RAK3172-E", "Current Work Mode: LoRaWAN."]
    at.uart.write(b"AT+NWM=1\r\n")  # "OK" without CR LF, then the restart (At_NwMode)
    assert at.wait_for("Current Work Mode")[0] == "OK" + first


def test_unconfirmed_and_failed_confirmed_events(rui: str, lab: tuple[Rak3172Emulator, AtClient, Downlinks]) -> None:
    emu, at, _ = lab
    join(at)
    t0 = emu.sim_time_s()
    assert at.cmd("AT+SEND=1:01") == ["OK"]
    done = events_within(emu, t0, 5)  # TX_DONE at airtime + RX2DL 2 s + 0.2 s
    new = version_tuple(rui) >= TX_DONE_SINCE
    assert done == (["+EVT:TX_DONE"] if new else [])
    assert cmd(at, "AT+CFM=1") == ["OK"]
    emu.drop_next_acks(1)
    assert at.cmd("AT+SEND=1:02") == ["OK"]
    assert at.wait_for("+EVT:")[-1] == ("+EVT:SEND_CONFIRMED_FAILED(4)" if new else "+EVT:SEND_CONFIRMED_FAILED")


def test_join_retries_count_and_refusal_rearm(rui: str, lab: tuple[Rak3172Emulator, AtClient, Downlinks]) -> None:
    emu, at, _ = lab
    emu.fail_next_joins(5)
    t0 = emu.sim_time_s()
    assert at.cmd("AT+JOIN=1:0:7:1") == ["OK"]  # max 1: two Join-Requests
    assert events_within(emu, t0, 30) == ["+EVT:JOIN_FAILED_RX_TIMEOUT"] * 2  # at 6.3 s and 19.5 s, no third
    assert emu.joins_sent == 2
    # the join sub-band full until 3 s from now: AT+JOIN is refused with the wait
    emu._dc["M"].insert(0, (emu.sim_time_s() - 3597, 36000.0))  # the oldest transmission
    t1 = emu.sim_time_s()
    emu.fail_next_joins(0)
    reply = cmd(at, "AT+JOIN=1:0:7:1")
    assert reply[-1] == "AT_BUSY_ERROR" and reply[0].startswith("Restricted_Wait_"), reply
    assert 2000 <= int(reply[0].split("_")[2]) <= 3000
    later = [e for e in events_within(emu, t1, 20) if e.startswith("+EVT")]  # retry at 7 s, accept 5 s on
    # >= 4.1.0 re-arms its one-shot timer after the refusal; older versions do not retry
    assert later == (["+EVT:JOINED"] if version_tuple(rui) >= JOIN_REARM_SINCE else [])


def test_downlink_after_confirm_and_own_empty_uplinks(rui: str,
                                                      lab: tuple[Rak3172Emulator, AtClient, Downlinks]) -> None:
    emu, at, net = lab
    join(at)
    assert cmd(at, "AT+CFM=1") == ["OK"]
    net.queue.append((10, b"\x01\x02", True))  # a confirmed downlink
    t0 = emu.sim_time_s()
    assert at.cmd("AT+SEND=1:01") == ["OK"]
    lines = at.wait_for("+EVT:RX_1")
    # LoRaMacProcess: McpsConfirm before McpsIndication
    assert [x for x in lines if x.startswith("+EVT")] == ["+EVT:SEND_CONFIRMED_OK", lines[-1]]
    assert lines[-1].endswith(":UNICAST:10:0102")
    # the module answers the confirmed downlink with an empty uplink: busy meanwhile
    assert cmd(at, "AT+SEND=1:02") == ["AT_BUSY_ERROR"]
    events = events_within(emu, t0, 8)
    assert emu.empty_uplinks == 1
    assert events.count("+EVT:TX_DONE") == (1 if version_tuple(rui) >= TX_DONE_SINCE else 0)
    assert cmd(at, "AT+CFM=0") == ["OK"]
    emu.frame_pending_next(1)
    net.queue.append((11, b"\x05", False))
    assert cmd(at, "AT+SEND=1:03") == ["OK"]
    assert at.wait_for("+EVT:RX_1")[-1].endswith(":UNICAST:11:05")
    deadline = time.monotonic() + 10
    while emu.empty_uplinks < 2:
        assert time.monotonic() < deadline
        time.sleep(0.005)  # the FPending answer is scheduled on the emulator's thread
