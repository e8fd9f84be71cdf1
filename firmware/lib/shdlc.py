# Sensirion SHDLC on a UART (the SPS30's UART mode, docs/references.md §S.3; Sensirion
# embedded-uart-sps@9731cff sensirion_shdlc.c). A frame is 7E, the content, 7E:
#   master -> part (MOSI): addr cmd len data... chk
#   part -> master (MISO): addr cmd state len data... chk
# chk = the low byte of the content's sum, inverted. Inside the frame 7E, 7D, 11 and 13 are
# sent as 7D followed by the byte XOR 0x20 (byte stuffing). The MISO state byte: bit 7 is the
# device-status flag, bits 0..6 an error code (0 = none). Built on uart_frames.FrameReader
# (byte wait with a deadline, drain, bad-frame count); buffers preallocated, no allocation
# per byte or per frame.

import time

from micropython import const

from sensor import SensorError
from uart_frames import FrameReader

START_STOP = const(0x7E)
_ESCAPE = const(0x7D)
_HEADER = const(4)  # addr cmd state len
STATE_ERRORS = (  # §S.3 MISO state codes
    (0x01, "wrong data length"),
    (0x02, "unknown command"),
    (0x03, "no access right for command"),
    (0x04, "illegal command parameter"),
    (0x28, "internal function argument out of range"),
    (0x43, "command not allowed in current state"),
)


class ShdlcError(SensorError):
    """No valid SHDLC answer, or the part's state byte reports an error (``code``)."""

    def __init__(self, msg, code=0):
        super().__init__(msg)
        self.code = code


def checksum(buf, n):
    s = 0
    for i in range(n):
        s += buf[i]
    return ~s & 0xFF


def frame(addr, cmd, data=b""):
    """A stuffed MOSI frame (built once per command at start-up, not per read)."""
    body = bytearray((addr, cmd, len(data)))
    body.extend(data)
    body.append(checksum(body, len(body)))
    out = bytearray((START_STOP,))
    for b in body:
        if b in (0x7E, 0x7D, 0x11, 0x13):
            out.append(_ESCAPE)
            out.append(b ^ 0x20)
        else:
            out.append(b)
    out.append(START_STOP)
    return bytes(out)


def state_text(code):
    for c, text in STATE_ERRORS:
        if c == code:
            return text
    return "error 0x%02x" % code


class ShdlcLink(FrameReader):
    """One request, one answer. After transact() ``buf[4:4 + n]`` holds the answer's data,
    ``n`` its length, ``device_flag`` bit 7 of its state byte."""

    ERROR = ShdlcError

    def __init__(self, uart, name, timeout_ms, max_data, poll_ms=1):
        super().__init__(uart, _HEADER + max_data + 1, START_STOP, name, timeout_ms, poll_ms)
        self.n = 0
        self.device_flag = False
        self._why = ""

    def transact(self, request, cmd, noun):
        self.drain()  # answers that came too late for an earlier request
        self._uart.write(request)
        self._receive(cmd, noun)

    def _receive(self, cmd, noun):
        rx = self.buf
        size = self._size
        t0 = time.ticks_ms()
        n = -1  # -1: hunting for a start byte
        esc = False
        got = 0
        bad = 0
        while True:
            b = self._byte(t0)
            if b < 0:
                raise self.deadline(bad, got, noun, "no answer", " (last: %s)" % self._why)
            got += 1
            self.heard = True
            if b == START_STOP:
                if n > _HEADER:
                    verdict = self._check(n, cmd)
                    if verdict > 0:
                        return
                    if verdict < 0:
                        bad += 1
                        self.bad_frames += 1
                n = 0  # a stop, or the start of the next frame
                esc = False
                continue
            if n < 0:
                continue
            if b == _ESCAPE:
                esc = True
                continue
            if esc:
                b ^= 0x20
                esc = False
            if n >= size:
                self._why = "too long"
                bad += 1
                self.bad_frames += 1
                n = -1
                continue
            rx[n] = b
            n += 1

    def _check(self, n, cmd):
        """1: the answer to ``cmd``; 0: another command's answer (stale); -1: a bad frame."""
        rx = self.buf
        if rx[3] != n - _HEADER - 1:
            self._why = "length"
            return -1
        if checksum(rx, n - 1) != rx[n - 1]:
            self._why = "checksum"
            return -1
        if rx[1] != cmd:
            return 0
        self.n = rx[3]
        state = rx[2]
        self.device_flag = bool(state & 0x80)
        if state & 0x7F:
            raise ShdlcError("%s: command 0x%02x refused: %s" % (self._name, cmd, state_text(state & 0x7F)),
                             state & 0x7F)
        return 1
