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
from uart_frames import ACCEPT, BAD, FrameReader

_HEAD = const(0xFF)
_MIN_MM = const(30)
_MAX_MM = const(4500)
_POLL_MS = const(2)
_MODES = ("distance", "water_level", "occupancy")


class A02YYUW(Sensor):
    NAME = "a02yyuw"
    QUANTITIES = ("distance",)

    @classmethod
    def from_config(cls, bus, cfg):
        return cls(bus, cfg["a02yyuw_as"], cfg["a02yyuw_mount_mm"], cfg["a02yyuw_threshold_mm"])

    @classmethod
    def quantities(cls, cfg):
        return (cfg["a02yyuw_as"],)

    def __init__(self, uart, quantity="distance", mount_mm=0, threshold_mm=0, timeout_ms=500):
        if quantity not in _MODES:
            raise ValueError("a02yyuw: quantity must be one of %s" % ", ".join(_MODES))
        self.QUANTITIES = (quantity,)
        self._q = quantity
        self._mount = mount_mm
        self._threshold = threshold_mm
        self._frames = FrameReader(uart, 4, _HEAD, "a02yyuw", timeout_ms, _POLL_MS)
        self._checker = self._check  # bound once: a bound method per read would allocate
        self.last_mm = None

    def _check(self, rx):
        return ACCEPT if (_HEAD + rx[1] + rx[2]) & 0xFF == rx[3] else BAD

    @property
    def bad_frames(self):
        """Frames dropped for a bad checksum, since boot."""
        return self._frames.bad_frames

    def distance_mm(self):
        """The next valid frame's distance in mm; SensorError at the deadline."""
        # the module talks all the time: drop what was buffered before this wake
        self._frames.drain()
        self._frames.next(self._checker, "reading", "no data")
        rx = self._frames.buf
        return (rx[1] << 8) | rx[2]

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
