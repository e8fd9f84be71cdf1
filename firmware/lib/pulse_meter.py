# Pulse-counter input for utility meters: a water or gas meter's reed contact or an
# electricity meter's S0 output, switching the input to GND (pull-up on). docs/firmware.md
# "Meters" has the wiring and what it costs.
# docs/references.md §S.8: the ESP32's PCNT stops in deep sleep and its filter (<= 12.8 us)
# cannot debounce a reed contact, so this input wakes the ESP32 on every pulse (ext0 wake,
# level low) and keeps the count in RTC memory (node_state.py); while the node is awake a
# pin IRQ counts instead. Bounces are ignored for meter_debounce_ms after a counted edge
# (reed bounce < 1 ms, S0 pulse >= 30 ms, water pulses >= 260 ms, §S.8).
# The total survives power loss on flash (meter.dat), written at every measurement cycle
# when it changed and every meter_flush_pulses pulses in between: a power loss loses at most
# meter_flush_pulses - 1 pulses, and only pulses counted since the last cycle.
# Reported: the meter's own reading, start index + pulses / pulses per unit, in thousandths,
# as an exact decimal string (payload_codec: a float32 has too few digits for it), and the
# cumulative pulse count.

import time

from micropython import const

from sensor import Sensor

_RELEASE_MS = const(2000)  # a contact closed longer than this is stuck (magnet left on it)


def _index_text(state, cfg):
    ppu = cfg["meter_pulses_per_unit"]
    milli = cfg["meter_start_index"] * 1000 + cfg["meter_start_milli"] + state.pulses * 1000 // ppu
    return "%d.%03d" % (milli // 1000, milli % 1000)  # never above the meter's own reading


def count_edge(state, cfg, now_ms):
    """Count one closing edge unless it is a bounce of the last one."""
    if state.last_edge_ms and now_ms - state.last_edge_ms < cfg["meter_debounce_ms"]:
        return False
    state.pulses += 1
    state.last_edge_ms = now_ms
    if state.pulses - state.pulses_flashed >= cfg["meter_flush_pulses"]:
        state.flush_meter()
    return True


def on_boot(board, cfg, state):
    """First thing after a wake: count a meter-pin wake. The ms to sleep on when the
    measurement cycle is not due yet, else 0 (also after a power-on: node.boot restores)."""
    if not state.load() or board.wake_reason() != board.PIN_WAKE:
        return 0
    now = board.now_ms()
    pin = board.bus("pin", cfg)[0]
    if state.pin_level:
        count_edge(state, cfg, now)
    state.pin_level = 1  # a wake on release (stuck contact) counts nothing
    t0 = time.ticks_ms()
    while not pin.value():  # wait for the contact to open: ext0 wakes on the level
        if time.ticks_diff(time.ticks_ms(), t0) > _RELEASE_MS:
            state.pin_level = 0  # stuck closed: wake when it opens instead
            break
        time.sleep_ms(5)
    due = state.cycle_due_ms - board.now_ms()
    if due <= 0:
        state.save()  # the cycle is due: the node runs it with this count
        return 0
    arm(board, cfg, state)
    return due


def arm(board, cfg, state):
    """Before deep sleep: wake on the next closing (or on the release of a stuck contact)."""
    board.arm_pin_wake(board.bus("pin", cfg)[0], 0 if state.pin_level else 1)
    state.save()


class PulseMeter(Sensor):
    NAME = "meter"
    QUANTITIES = ("volume_index", "pulse_count")

    @classmethod
    def from_config(cls, bus, cfg):
        return cls(bus[0], bus[1], cfg)

    @classmethod
    def quantities(cls, cfg):
        return (cfg["meter_as"], "pulse_count")

    def __init__(self, pin, state, cfg):
        self._state = state
        self._cfg = cfg
        self._q = cfg["meter_as"]
        self.QUANTITIES = (self._q, "pulse_count")
        self.pending = 0  # edges the IRQ saw while awake
        self._last_irq = time.ticks_ms() - cfg["meter_debounce_ms"]
        self._debounce = cfg["meter_debounce_ms"]
        pin.irq(self._irq, pin.IRQ_FALLING)

    def _irq(self, pin):
        now = time.ticks_ms()
        if time.ticks_diff(now, self._last_irq) >= self._debounce:
            self._last_irq = now
            self.pending += 1

    def commit(self, now_ms):
        """Fold the IRQ's edges into the RTC count (before a read and before deep sleep)."""
        n = self.pending
        self.pending = 0
        s = self._state
        for _ in range(n):
            s.pulses += 1
        if n:
            s.last_edge_ms = now_ms
            if s.pulses - s.pulses_flashed >= self._cfg["meter_flush_pulses"]:
                s.flush_meter()

    def read(self, out):
        s = self._state
        s.flush_meter()  # once per measurement cycle, only when the total changed
        out[self._q] = _index_text(s, self._cfg)
        out["pulse_count"] = s.pulses
