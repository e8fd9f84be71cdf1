# DFRobot A02YYUW (SEN0311) waterproof ultrasonic distance sensor over UART (9600 8N1).
# DFRobot SEN0311 wiki "Communication protocol": with RX floating or high the module sends
# the processed distance on its own, one 4-byte frame per 100-300 ms:
#   FF  DATA_H  DATA_L  SUM      distance_mm = DATA_H * 256 + DATA_L,
#   SUM = (0xFF + DATA_H + DATA_L) & 0xFF
# Range 30-4500 mm ("Specification"); a frame outside it is an echo the part could not
# measure (too close, no target) and is reported as a SensorError.
# The reading is published as one of three quantities (node config "a02yyuw_as"):
#   distance     the measured distance in m
#   water_level  mount height - distance, in m (a gauge looking down at the water; >= 0)
#   occupancy    distance < threshold (a parking-bay sensor looking at a car's underside)

import time

from micropython import const

from sensor import Sensor, SensorError

_HEAD = const(0xFF)
_MIN_MM = const(30)
_MAX_MM = const(4500)
_POLL_MS = const(2)
_MODES = ("distance", "water_level", "occupancy")


class A02YYUW(Sensor):
    NAME = "a02yyuw"
    QUANTITIES = ("distance",)

    def __init__(self, uart, quantity="distance", mount_mm=0, threshold_mm=0, timeout_ms=500):
        if quantity not in _MODES:
            raise ValueError("a02yyuw: quantity must be one of %s" % ", ".join(_MODES))
        self._uart = uart
        self.QUANTITIES = (quantity,)
        self._q = quantity
        self._mount = mount_mm
        self._threshold = threshold_mm
        self._timeout = timeout_ms
        self._rx = bytearray(4)
        self._one = bytearray(1)
        self.bad_frames = 0  # frames dropped for a bad checksum, since boot
        self.last_mm = None

    def _byte(self, t0):
        u = self._uart
        one = self._one
        while True:
            if u.any() and u.readinto(one, 1):
                return one[0]
            if time.ticks_diff(time.ticks_ms(), t0) > self._timeout:
                return -1
            time.sleep_ms(_POLL_MS)

    def _drain(self):
        # the module talks all the time: the receive buffer holds frames from before this
        # wake; drop them and take the next, fresh one
        u = self._uart
        one = self._one
        for _ in range(512):  # bounded: at most two UART FIFOs of stale bytes
            if not u.any() or not u.readinto(one, 1):
                return

    def distance_mm(self):
        """The next valid frame's distance in mm; SensorError at the deadline."""
        self._drain()
        rx = self._rx
        t0 = time.ticks_ms()
        n = 0
        got = 0
        bad = 0
        while True:
            b = self._byte(t0)
            if b < 0:
                if bad:
                    raise SensorError("a02yyuw: %d bad frame(s), no valid reading" % bad)
                if got:
                    raise SensorError("a02yyuw: %d byte(s) of noise, no valid reading" % got)
                raise SensorError("a02yyuw: no data in %d ms" % self._timeout)
            got += 1
            if n == 0 and b != _HEAD:
                continue
            rx[n] = b
            n += 1
            if n < 4:
                continue
            if (_HEAD + rx[1] + rx[2]) & 0xFF == rx[3]:
                return (rx[1] << 8) | rx[2]
            bad += 1
            self.bad_frames += 1
            # resync: the next FF inside the 3 bytes after the false head may start a frame
            n = 0
            for j in range(1, 4):
                if rx[j] == _HEAD:
                    n = 4 - j
                    for i in range(n):
                        rx[i] = rx[j + i]
                    break

    def read(self, out):
        mm = self.distance_mm()
        self.last_mm = mm
        if mm < _MIN_MM or mm > _MAX_MM:
            raise SensorError("a02yyuw: %d mm is outside 30..4500 mm (no echo?)" % mm)
        q = self._q
        if q == "distance":
            out[q] = mm / 1000
        elif q == "water_level":
            lvl = self._mount - mm
            out[q] = (lvl if lvl > 0 else 0) / 1000
        else:
            out[q] = mm < self._threshold
