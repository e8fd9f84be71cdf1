"""Scenario files for the virtual board: what the simulated sensors see over virtual time.

The file format and its maths are in board/scenario_core.py (shared with the board, which
runs on MicroPython). This module loads, checks and writes scenarios on the host and answers
what a sensor should have reported at a virtual time (for tests and the lab).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ToolError
from .board import scenario_core


class Scenario:
    def __init__(self, data: dict[str, Any]) -> None:
        try:
            scenario_core.check(data)
        except ValueError as e:
            raise ToolError(f"scenario: {e}") from None
        self.data = data

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Scenario:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ToolError(f"scenario {path}: {e}") from None
        return cls(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.data, indent=1))
        return p

    def value(self, quantity: str, t_s: float, default: float | None = None) -> float | None:
        pts = self.data.get("signals", {}).get(quantity)
        if not pts:
            return default
        return float(scenario_core.value_at(pts, t_s))

    def condition(self, sensor: str, t_s: float) -> str:
        return str(scenario_core.sensor_condition(self.data.get("events", []), sensor, t_s))


# the board's defaults when a scenario has no signal for a quantity (board/machine.py)
BOARD_DEFAULTS = {"temperature": 20.0, "pressure": 1013.25, "humidity": 50.0, "battery_voltage": 3.9}


def demo_scenario(hours: float = 24.0, seed: int = 0) -> Scenario:
    """A plausible day: temperature and humidity follow the sun, the battery drains slowly."""
    import math
    import random

    rng = random.Random(seed)
    end = int(hours * 3600)
    step = 900
    temp, hum, pres, bat = [], [], [], []
    for t in range(0, end + step, step):
        day = math.sin((t / 86400.0 - 0.25) * 2 * math.pi)
        temp.append([t, round(14 + 7 * day + rng.uniform(-0.3, 0.3), 2)])
        hum.append([t, round(65 - 20 * day + rng.uniform(-1, 1), 1)])
        pres.append([t, round(1013 + 4 * math.sin(t / 40000.0), 2)])
        bat.append([t, round(4.1 - 0.2 * t / max(end, 1), 3)])
    return Scenario({"signals": {"temperature": temp, "humidity": hum, "pressure": pres,
                                 "battery_voltage": bat}, "events": []})
