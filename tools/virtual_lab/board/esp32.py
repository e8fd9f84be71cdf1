# mypy: ignore-errors
"""``esp32`` for the virtual board: the deep-sleep wake sources the firmware arms.

wake_on_ext0(pin, level) tells the runner (control line ``ext0 <pin> <level>``) to end the
next deep sleep early at the meter's next pulse (board_runner.py); first it hands the pulses
that came while the node was awake to the pin's IRQ handler (machine.py).
Known differences: only ext0 on the meter pin is simulated; level 1 (wake on release) is
recorded but the virtual contact is never held closed, so it wakes like level 0.
"""

import machine

WAKEUP_ALL_LOW = 0
WAKEUP_ANY_HIGH = 1


def wake_on_ext0(pin, level):
    n = machine._deliver_meter_irqs()
    machine._control("ext0 %d %d %d" % (pin.id, level, n))


def wake_on_ext1(pins, level):
    pass
