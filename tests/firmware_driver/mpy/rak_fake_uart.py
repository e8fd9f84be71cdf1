# A scripted UART for the RAK3172 driver tests; runs on MicroPython and CPython.
# A script is a list of steps: ("w", bytes) the driver must write exactly these bytes,
# ("r", bytes) bytes become readable now, ("t", ms, bytes) readable ms after the previous step.


class FakeClock:
    def __init__(self):
        self.now = 0

    def ticks_ms(self):
        return self.now

    def sleep_ms(self, ms):
        self.now += ms


class FakeUart:
    def __init__(self, script, clock, chunk=64):
        self.script = script
        self.i = 0
        self.clock = clock
        self.chunk = chunk
        self.out = bytearray()
        self.wbuf = bytearray()
        self.mark = clock.now
        self.problems = []
        self._release()

    def _release(self):
        while self.i < len(self.script):
            step = self.script[self.i]
            if step[0] == "r":
                self.out.extend(step[1])
            elif step[0] == "t":
                if self.clock.now - self.mark < step[1]:
                    return
                self.out.extend(step[2])
            else:
                return
            self.i += 1
            self.mark = self.clock.now

    def write(self, b):
        self.wbuf.extend(b)
        while self.wbuf:
            if self.i >= len(self.script) or self.script[self.i][0] != "w":
                self.problems.append("unexpected write %r" % bytes(self.wbuf))
                self.wbuf = bytearray()
                break
            want = self.script[self.i][1]
            n = len(want)
            if len(self.wbuf) < n:
                if bytes(self.wbuf) != want[: len(self.wbuf)]:
                    self.problems.append("wrote %r, expected %r" % (bytes(self.wbuf), want))
                    self.wbuf = bytearray()
                break
            got = bytes(self.wbuf[:n])
            self.wbuf = self.wbuf[n:]
            if got != want:
                self.problems.append("wrote %r, expected %r" % (got, want))
            self.i += 1
            self.mark = self.clock.now
            self._release()
        return len(b)

    def any(self):
        self._release()
        return len(self.out)

    def readinto(self, buf):
        self._release()
        n = min(len(buf), len(self.out), self.chunk)
        if not n:
            return None
        buf[:n] = self.out[:n]
        self.out = self.out[n:]
        return n

    def left(self):
        # steps the driver never reached (a transcript must be played to its end)
        return len(self.script) - self.i
