# mypy: ignore-errors
"""``onewire`` for the virtual board: micropython-lib's module (frozen into ESP32 builds,
docs/references.md §S.6) with the same OneWire methods, over the simulated bus of
ds18b20_sim.py. The board file's "onewire": {"probes": [{"rom": hex, "signal": name}, ...]}
wires the probes: probe k converts the scenario signal it names; scenario events for
"ds18b20" affect every probe, "ds18b20.<k>" probe k alone.

Known differences: no pin timing, the Pin object is ignored, and only the wire-level methods
are here (the driver does its own ROM search; scan() and crc8() are not provided).
"""

import time

import ds18b20_sim
import machine


class OneWireError(Exception):
    pass


def _probe_condition(k):
    c = machine._condition("ds18b20.%d" % k)
    return c if c != "ok" else machine._condition("ds18b20")


class OneWire(ds18b20_sim.OneWireBus):
    def __init__(self, pin):
        cfg = machine._cfg().get("onewire", {}).get("probes", [])
        roms = [p["rom"] for p in cfg]
        signals = [p.get("signal", "water_temperature") for p in cfg]
        super().__init__(roms, lambda k: machine._signal(signals[k], 12.0), _probe_condition,
                         time.ticks_ms, time.ticks_diff)

    def reset(self, required=False):
        ok = super().reset()
        if required and not ok:
            raise OneWireError
        return ok
