# Sensor interface: a driver takes a ready bus object, names the quantities it measures
# (payload_codec registry names) and fills them in a caller-owned dict. The sensor table
# (sensor_table.py) builds drivers with from_config() and asks quantities() before a
# driver exists (a sensor absent at boot still owns its quantities).


class SensorError(Exception):
    """A sensor is absent, did not answer in time, or returned an implausible reading."""


class Sensor:
    NAME = "sensor"
    QUANTITIES = ()
    warmup_ms = 0  # > 0: start() wakes it, the node waits this long before read()

    @classmethod
    def from_config(cls, bus, cfg):
        return cls(bus)

    @classmethod
    def quantities(cls, cfg):
        return cls.QUANTITIES

    def start(self):
        """Wake the part for its warm-up (particulate sensors); SensorError on failure."""

    def read(self, out):
        """Write every quantity of QUANTITIES into ``out``; raise SensorError on failure."""
        raise NotImplementedError
