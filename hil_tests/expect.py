"""What a scenario may expect from a node: scenario values on the virtual board, plausible ranges on a real one."""

from __future__ import annotations

from typing import Any

from payload_codec import registry
from payload_codec.airtime import EU868, uplink_time_on_air_us

from .targets import Node

# the BME280 + battery node of firmware/lib/node_config.py
QUANTITIES = ("temperature", "humidity", "pressure", "battery_voltage")
# a desk in a building: what a working BME280 and a LiPo/18650 divider can report
PLAUSIBLE = {"temperature": (-10.0, 50.0), "humidity": (0.0, 100.0), "pressure": (850.0, 1100.0),
             "battery_voltage": (2.8, 4.4)}
# the sensors drift linearly; a value is read up to this many virtual seconds before its uplink arrives
READ_BEFORE_UPLINK_S = 5.0

RAMP: dict[str, Any] = {
    "name": "a warming morning",
    "signals": {
        "temperature": [[0, 12.0], [7200, 24.0]],
        "humidity": [[0, 80.0], [7200, 50.0]],
        "pressure": [[0, 1004.0], [7200, 1016.0]],
        "battery_voltage": [[0, 4.10], [7200, 3.95]],
    },
    "events": [],
}


def resolution(q: str) -> float:
    row = registry.by_name(q)
    return float(row[5]) / float(row[6])


def check_values(node: Node, values: dict[str, Any], at_vs: float) -> None:
    """Each BME280/battery value: the scenario's within resolution (virtual) or plausible (hardware)."""
    for q in QUANTITIES:
        v = values.get(q)
        assert v is not None, f"{q} missing or invalid in {values}"
        if node.scenario is None:
            lo, hi = PLAUSIBLE[q]
            assert lo <= v <= hi, f"{q}={v} outside the plausible {lo}..{hi}"
            continue
        # the value was read between at_vs - READ_BEFORE_UPLINK_S and at_vs
        a = node.scenario.value(q, max(0.0, at_vs - READ_BEFORE_UPLINK_S))
        b = node.scenario.value(q, at_vs)
        assert a is not None and b is not None
        tol = resolution(q) * 0.7  # half a step, plus the BME280 simulator's ADC quantisation
        assert min(a, b) - tol <= v <= max(a, b) + tol, f"{q}={v}, scenario {a:.3f}..{b:.3f} at {at_vs:.0f} s"


def airtime_s(frame_len: int, dr: int) -> float:
    sf, bw, _ = EU868[dr]
    return uplink_time_on_air_us(frame_len, sf, bw) / 1e6
