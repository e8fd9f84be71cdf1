"""Progress per board: a bar for every step that takes longer than a second.

On a terminal the board's line is redrawn in place (one line per board when several flash at
once: each board owns a row). Elsewhere (CI, a log file) a step that took more than a second
prints one line when it ends. The first second of a step draws nothing, so quick steps stay
quiet.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

SHOW_AFTER_S = 1.0
BAR = 24
_lock = threading.Lock()  # one writer at a time across boards


class Progress:
    def __init__(self, label: str, *, stream: TextIO | None = None, row: int | None = None,
                 rows: int = 1) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.row, self.rows = row, rows
        self._step = ""
        self._total = 0
        self._done = 0
        self._t0 = time.monotonic()
        self._drawn = False

    def step(self, name: str, total: int = 0) -> None:
        self.finish()
        self._step, self._total, self._done = name, total, 0
        self._t0 = time.monotonic()
        self._drawn = False
        self._draw()

    def advance(self, n: int = 1) -> None:
        self._done += n
        self._draw()

    def _text(self) -> str:
        if self._total:
            filled = BAR * min(self._done, self._total) // self._total
            return (f"{self.label} {self._step:<10} [{'#' * filled}{'.' * (BAR - filled)}] "
                    f"{self._done}/{self._total}")
        return f"{self.label} {self._step:<10} {time.monotonic() - self._t0:5.1f} s"

    def _draw(self) -> None:
        if not self.tty or time.monotonic() - self._t0 < SHOW_AFTER_S:
            return
        with _lock:
            if self.row is None:
                self.stream.write("\r" + self._text() + "\x1b[K")
            else:  # row i of a block of `rows` lines that ends at the cursor
                up = self.rows - self.row
                self.stream.write(f"\x1b[{up}A\r{self._text()}\x1b[K\x1b[{up}B\r")
            self.stream.flush()
            self._drawn = True

    def finish(self) -> None:
        if not self._step:
            return
        took = time.monotonic() - self._t0
        if took >= SHOW_AFTER_S:
            if self.tty:
                self._t0 -= SHOW_AFTER_S  # force the final state onto the screen
                self._draw()
                if self.row is None:
                    with _lock:
                        self.stream.write("\n")
            else:
                with _lock:
                    extra = f" {self._done}/{self._total}" if self._total else ""
                    self.stream.write(f"{self.label} {self._step} done{extra} in {took:.1f} s\n")
                    self.stream.flush()
        self._step = ""
