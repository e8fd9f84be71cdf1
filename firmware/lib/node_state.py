# Persisted node state: what changes every cycle lives in RTC memory (survives deep sleep,
# soft/WDT reset, not power loss; docs/references.md §F: at most 2048 B on ESP32), what must survive
# power loss lives on flash and is written rarely (docs/firmware.md "Flash wear"):
#   counter.dat  sample-counter ceiling, rewritten once per _RESERVE samples
#   applied.json remote configuration, rewritten only when a downlink changes it
# Both are replaced atomically (write a temporary file, then rename; LittleFS renames atomically).

import json
import os
import struct

from micropython import const

_MAGIC = const(0x5453)  # "TS"
_VERSION = const(3)  # 3: one error counter per sensor-table slot, meter pulses
# Samples reserved per flash write. The counter restarts from the ceiling after power loss,
# so it never repeats and skips at most _RESERVE - 1 values.
_RESERVE = const(64)
# magic, version, flags, counter, ceiling, dc_free_ms, boot_ms, cycles, since_status,
# wdt_resets, one error counter per sensor-table slot (SLOTS), tx errors, dc deferrals,
# dropped frames, failed-sensor mask (bit = slot), command opcode, command result, join
# back-off (window, used ms, next s: join_backoff.JoinBackoff.state()), reset cause the next
# status reports, meter: pulses since the start index, pulses on flash, input level, time of
# the last counted edge and of the next measurement cycle (pulse_meter.py), crc32
SLOTS = const(16)
_FMT = "<HBBIIqqIHH16HHHHHBBBIIBBxxQQqqI"
SIZE = struct.calcsize(_FMT)
_ERR0 = const(10)  # index of the first error counter in the unpacked tuple

FLAG_STATUS_DUE = const(1)  # send a status frame in the next cycle



class State:
    """The node's persisted state; load() tells whether RTC memory was valid."""

    def __init__(self, rtc, flash_dir=""):
        self._rtc = rtc
        self._dir = flash_dir
        self._buf = bytearray(SIZE)
        self.reset_values()

    def reset_values(self):
        self.flags = 0
        self.counter = 0
        self.ceiling = 0
        self.dc_free_ms = 0
        self.boot_ms = 0
        self.cycles = 0
        self.since_status = 0
        self.wdt_resets = 0
        self.sensor_errors = [0] * SLOTS  # by sensor-table slot (sensor_table.py)
        self.tx_errors = 0
        self.dc_deferred = 0
        self.dropped_frames = 0
        self.failed_mask = 0
        self.cmd_op = 0
        self.cmd_result = 0
        self.join_backoff = None  # JoinBackoff.state() tuple, counted from power-up
        self.status_cause = 0  # machine.reset_cause() of the last unexpected reset
        self.pulses = 0  # meter pulses counted since the configured start index
        self.pulses_flashed = 0  # the total last written to meter.dat
        self.pin_level = 1  # meter input level at the last wake (pulse_meter.py)
        self.last_edge_ms = 0
        self.cycle_due_ms = 0  # board.now_ms() of the next measurement cycle (0: now)

    def _path(self, name):
        return self._dir + "/" + name if self._dir else name

    # --- RTC memory -------------------------------------------------------------------
    def load(self):
        """True if RTC memory held a valid state (wake, WDT or soft reset)."""
        import binascii

        data = self._rtc.memory()
        if len(data) != SIZE:
            return False
        if binascii.crc32(memoryview(data)[: SIZE - 4]) != struct.unpack_from("<I", data, SIZE - 4)[0]:
            return False
        v = struct.unpack(_FMT, data)
        if v[0] != _MAGIC or v[1] != _VERSION:
            return False
        (_, _, self.flags, self.counter, self.ceiling, self.dc_free_ms, self.boot_ms, self.cycles,
         self.since_status, self.wdt_resets) = v[:_ERR0]
        for i in range(SLOTS):
            self.sensor_errors[i] = v[_ERR0 + i]
        (self.tx_errors, self.dc_deferred, self.dropped_frames, self.failed_mask, self.cmd_op,
         self.cmd_result, jw, ju, jn, self.status_cause, self.pin_level, self.pulses,
         self.pulses_flashed, self.last_edge_ms, self.cycle_due_ms, _) = v[_ERR0 + SLOTS:]
        self.join_backoff = (jw, ju, jn)
        return True

    def save(self):
        """Write the state to RTC memory (every cycle; RTC RAM has no wear)."""
        import binascii

        b = self._buf
        jb = self.join_backoff or (0, 0, 0)
        e = self.sensor_errors
        for i in range(SLOTS):
            if e[i] > 0xFFFF:
                e[i] = 0xFFFF  # saturate: a counter that wrapped would hide a failing sensor
        struct.pack_into(
            _FMT, b, 0, _MAGIC, _VERSION, self.flags, self.counter, self.ceiling, self.dc_free_ms,
            self.boot_ms, self.cycles, self.since_status & 0xFFFF, self.wdt_resets & 0xFFFF,
            *e, self.tx_errors & 0xFFFF, self.dc_deferred & 0xFFFF, self.dropped_frames & 0xFFFF,
            self.failed_mask & 0xFFFF, self.cmd_op, self.cmd_result, jb[0], jb[1], jb[2],
            self.status_cause, self.pin_level, self.pulses, self.pulses_flashed, self.last_edge_ms,
            self.cycle_due_ms, 0,
        )
        struct.pack_into("<I", b, SIZE - 4, binascii.crc32(memoryview(b)[: SIZE - 4]))
        self._rtc.memory(b)

    # --- flash ------------------------------------------------------------------------
    def _write_atomic(self, name, text):
        tmp = self._path(name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self._path(name))

    def restore_counter(self):
        """After power loss: continue from the flash ceiling (never below a used value)."""
        try:
            with open(self._path("counter.dat")) as f:
                self.ceiling = int(f.read())
        except (OSError, ValueError):
            self.ceiling = 0
        self.counter = self.ceiling

    def take_counter(self):
        """The next sample counter; reserves a block on flash before handing it out."""
        c = self.counter
        if c >= self.ceiling:
            self.ceiling = c + _RESERVE
            self._write_atomic("counter.dat", "%d" % self.ceiling)
        self.counter = (c + 1) & 0xFFFFFFFF
        return c

    # --- meter total (pulse_meter.py) ----------------------------------------------------
    def restore_meter(self):
        """After power loss: the pulse total last written to flash (docs/firmware.md "Meters")."""
        try:
            with open(self._path("meter.dat")) as f:
                self.pulses = int(f.read())
        except (OSError, ValueError):
            self.pulses = 0
        self.pulses_flashed = self.pulses

    def flush_meter(self):
        """Write the pulse total to flash when it changed (at most once per cycle, and every
        meter_flush_pulses pulses between cycles)."""
        if self.pulses != self.pulses_flashed:
            self._write_atomic("meter.dat", "%d" % self.pulses)
            self.pulses_flashed = self.pulses

    def load_overrides(self):
        try:
            with open(self._path("applied.json")) as f:
                o = json.load(f)
            return o if isinstance(o, dict) else {}
        except (OSError, ValueError):
            return {}

    def save_overrides(self, overrides):
        self._write_atomic("applied.json", json.dumps(overrides))
