# Fixed-size frame synchronisation on a UART for sensors that stream byte frames
# (SDS011, A02YYUW): hunt for the head byte, collect a frame, let the driver judge it,
# and on a bad frame resume from the next head byte inside the bytes already read.
# Every wait is bounded by the caller's timeout; no allocation per byte.

import time

from micropython import const

from sensor import SensorError

ACCEPT = const(1)  # check(): the frame is the one the caller waits for
SKIP = const(0)  # a valid frame of another kind: drop it, keep reading
BAD = const(-1)  # checksum/tail wrong: count it, resync
_STALE_MAX = const(512)  # bounded drain: at most two UART FIFOs of stale bytes


class FrameReader:
    def __init__(self, uart, size, head, name, timeout_ms, poll_ms=1):
        self._uart = uart
        self.buf = bytearray(size)
        self._one = bytearray(1)
        self._size = size
        self._head = head
        self._name = name
        self.timeout_ms = timeout_ms
        self._poll = poll_ms
        self.heard = False  # any byte since the last drain()
        self.bad_frames = 0  # frames dropped as BAD since boot

    def _byte(self, t0):
        """The next received byte, or -1 at the deadline."""
        u = self._uart
        one = self._one
        while True:
            if u.any() and u.readinto(one, 1):
                return one[0]
            if time.ticks_diff(time.ticks_ms(), t0) > self.timeout_ms:
                return -1
            time.sleep_ms(self._poll)

    ERROR = SensorError  # the error class deadline() builds (shdlc.py: ShdlcError)

    def deadline(self, bad, got, noun, silent, why=""):
        """The error at the deadline, saying whether bad frames, noise or nothing came."""
        if bad:
            return self.ERROR("%s: %d bad frame(s)%s, no valid %s" % (self._name, bad, why, noun))
        if got:
            return self.ERROR("%s: %d byte(s) of noise, no valid %s" % (self._name, got, noun))
        return self.ERROR("%s: %s in %d ms" % (self._name, silent, self.timeout_ms))

    def drain(self):
        """Drop bytes received before now (stale frames) and forget that anything was heard."""
        u = self._uart
        one = self._one
        self.heard = False
        for _ in range(_STALE_MAX):
            if not u.any() or not u.readinto(one, 1):
                return

    def next(self, check, noun, silent):
        """Fill self.buf with the next frame that ``check(buf)`` ACCEPTs.

        SensorError at the deadline, saying whether bad frames, noise or nothing came
        (``silent`` is the message for nothing, e.g. "no answer")."""
        rx = self.buf
        size = self._size
        head = self._head
        t0 = time.ticks_ms()
        n = 0
        got = 0
        bad = 0
        while True:
            b = self._byte(t0)
            if b < 0:
                raise self.deadline(bad, got, noun, silent)
            got += 1
            self.heard = True
            if n == 0 and b != head:
                continue
            rx[n] = b
            n += 1
            if n < size:
                continue
            verdict = check(rx)
            if verdict == ACCEPT:
                return
            if verdict == SKIP:
                n = 0
                continue
            bad += 1
            self.bad_frames += 1
            n = self._resync()

    def _resync(self):
        # keep the bytes after the failed head from the next head byte on: they may be a real frame
        rx = self.buf
        size = self._size
        for j in range(1, size):
            if rx[j] == self._head:
                k = size - j
                for i in range(k):
                    rx[i] = rx[j + i]
                return k
        return 0
