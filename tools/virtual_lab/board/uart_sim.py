"""The sensor side of a virtual UART, shared by the streaming-sensor simulators.

Holds the bytes waiting for the node to read (``any``/``readinto`` as machine.UART has them),
a deterministic noise source for "garbage" glitches, and the receive-buffer limit. A subclass
produces bytes in ``_tick()`` from the scenario (``env``/``condition``) and the board clock.
Runs on the MicroPython Unix port inside the virtual board.

Known difference from an ESP32 UART: when the buffer overflows the oldest bytes are dropped
(an ESP32 with rxbuf=256 drops the newest instead).
"""

RXBUF = 256


class UartSensorSim:
    NOISE_BYTES = 5

    def __init__(self, env, condition, ticks_ms, ticks_diff, seed=1):
        self.env = env
        self.condition = condition
        self._ticks = ticks_ms
        self._diff = ticks_diff
        self.rx = bytearray()  # bytes waiting for the node to read
        self._rng = seed or 1

    def _noise(self):
        for _ in range(self.NOISE_BYTES):
            self._rng = (self._rng * 1103515245 + 12345) & 0x7FFFFFFF
            self.rx.append((self._rng >> 16) & 0xFF)

    CHECKSUM_AT = -1  # index of the frame's checksum byte a "badsum" glitch corrupts

    def _emit(self, frame):
        """Queue a frame as the scenario's condition has it: dropped, after noise, or corrupted."""
        cond = self.condition()
        if cond == "removed":
            return
        if cond == "garbage":
            self._noise()
        if cond == "badsum":
            i = self.CHECKSUM_AT
            frame[i] = (frame[i] + 1) & 0xFF
        self.rx.extend(frame)

    def _tick(self):
        """Produce the bytes due by now (subclass)."""

    def _update(self):
        self._tick()
        if len(self.rx) > RXBUF:
            self.rx = self.rx[len(self.rx) - RXBUF:]

    def any(self):
        self._update()
        return len(self.rx)

    def readinto(self, buf, nbytes=None):
        self._update()
        n = min(len(buf) if nbytes is None else nbytes, len(self.rx))
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n or None
