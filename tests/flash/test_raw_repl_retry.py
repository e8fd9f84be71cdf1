"""The raw-REPL retry of the one serial transport (tools/device/mpremote.py run()): a board that
does not enter the raw REPL the first k times (micropython#16142: an ESP32 still busy in
main.py) is asked again after a bounded back-off, and when it never does, the user gets one
line saying what happened and what to do next.

The peer is a relay on a pty in front of a real virtual board: while it refuses it forwards
nothing to the board and prints the node's log lines instead, so the real mpremote (1.29.0,
``mpremote/transport_serial.py`` ``SerialTransport.enter_raw_repl``: ctrl-C, drain, ctrl-A, then
``read_until(b"raw REPL; CTRL-B to exit\\r\\n", timeout_overall=10)``) times out after 10 s and
fails with "could not enter raw repl"; afterwards it relays both ways. Each attempt is the
relay seeing mpremote's ctrl-A; the gaps between attempts show the back-off.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from trosmart_tools.device import mpremote
from trosmart_tools.device.errors import NotABoard

from .conftest import Board

MPREMOTE_RAW_REPL_TIMEOUT_S = 10.0  # enter_raw_repl(timeout_overall=10), mpremote 1.29.0
SLACK_S = 8.0  # process start and a loaded 2-CPU machine


class RefusingRelay:
    """``link`` -> ``port``; the first ``refuse`` connection attempts never reach the board."""

    def __init__(self, port: str, link: Path, refuse: int) -> None:
        import pty

        self.link = link
        self.refuse = refuse
        self.attempts: list[float] = []  # monotonic time of each ctrl-A mpremote sent
        self._master, slave = pty.openpty()
        tty.setraw(slave)
        link.unlink(missing_ok=True)
        link.symlink_to(os.ttyname(slave))
        self._slave = slave  # kept open: the link survives mpremote closing it between attempts
        self._board = os.open(port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._board)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        next_line = 0.0
        prev = 0
        while not self._stop.is_set():
            ready = select.select([self._master, self._board], [], [], 0.05)[0]
            if self._master in ready:
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    data = b""
                for b in data:
                    if b == 0x01 and prev == 0x0D:  # mpremote's "\r\x01" (raw paste's \x01 follows "A")
                        self.attempts.append(time.monotonic())
                    prev = b
                if len(self.attempts) <= self.refuse:
                    data = b""  # swallowed: a busy node that ignores ctrl-C and ctrl-A
                if data:
                    os.write(self._board, data)
            if self._board in ready:
                try:
                    out = os.read(self._board, 4096)
                except OSError:
                    return
                if len(self.attempts) > self.refuse:
                    os.write(self._master, out)
            if len(self.attempts) <= self.refuse and time.monotonic() >= next_line:
                next_line = time.monotonic() + 0.2  # the running main.py's log, as on a busy ESP32
                with contextlib.suppress(OSError):
                    os.write(self._master, b"node: cycle 7 awake_ms=812 free=61234\r\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._board):
            os.close(fd)
        self.link.unlink(missing_ok=True)


@pytest.fixture
def relay_factory(board: Board, tmp_path: Path) -> Iterator:
    made: list[RefusingRelay] = []

    def make(refuse: int) -> RefusingRelay:
        r = RefusingRelay(board.port, tmp_path / f"relay{len(made)}", refuse)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def _gaps(attempts: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(attempts)]


def test_refused_twice_then_answers_after_the_back_off(relay_factory) -> None:
    relay = relay_factory(refuse=2)
    out = mpremote.run(str(relay.link), ["exec", "print('answered', 6 * 7)"], timeout_s=120)
    assert "answered 42" in out
    assert len(relay.attempts) == 3, relay.attempts  # two refusals, then the third got through
    # each refused attempt lasts mpremote's 10 s, then our pause: 0.5 s, then 1.0 s
    for gap, pause in zip(_gaps(relay.attempts), mpremote.RAW_REPL_BACKOFF_S, strict=False):
        assert MPREMOTE_RAW_REPL_TIMEOUT_S + pause <= gap <= MPREMOTE_RAW_REPL_TIMEOUT_S + pause + SLACK_S, \
            (gap, pause)


def test_never_answers_gives_up_with_one_line(relay_factory) -> None:
    relay = relay_factory(refuse=1000)
    retries = (0.3, 0.6)
    t0 = time.monotonic()
    with pytest.raises(NotABoard) as e:
        mpremote.run(str(relay.link), ["exec", "print(1)"], timeout_s=120, retries=retries)
    took = time.monotonic() - t0
    msg = str(e.value)
    assert "\n" not in msg and str(relay.link) in msg and "tried 3 times" in msg, msg
    assert "Press EN (reset) and retry" in msg, msg  # what to do next
    assert len(relay.attempts) == 3, relay.attempts  # the first try and one per back-off, no more
    for gap, pause in zip(_gaps(relay.attempts), retries, strict=False):
        assert gap >= MPREMOTE_RAW_REPL_TIMEOUT_S + pause, (gap, pause)
    # bounded: three mpremote timeouts and the pauses, nothing open-ended
    assert took <= 3 * MPREMOTE_RAW_REPL_TIMEOUT_S + sum(retries) + 3 * SLACK_S, took

