# Sensor interface: a driver takes a ready bus object, names the quantities it measures
# (payload_codec registry names) and fills them in a caller-owned dict.


class SensorError(Exception):
    """A sensor is absent, did not answer in time, or returned an implausible reading."""


class Sensor:
    NAME = "sensor"
    QUANTITIES = ()

    def read(self, out):
        """Write every quantity of QUANTITIES into ``out``; raise SensorError on failure."""
        raise NotImplementedError
