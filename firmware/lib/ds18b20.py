# Maxim DS18B20 temperature probes on one 1-Wire bus (docs/references.md §S.6; Maxim DS18B20
# datasheet, Tables 1/3/4; Maxim AN187 ROM search; AN27 CRC). Takes a micropython-lib
# onewire.OneWire (reset, readbit, writebit, readbyte, writebyte, readinto, write).
#   ROM commands: Search 0xF0, Match 0x55, Skip 0xCC; Convert T 0x44 (read slots give 0
#   while converting, 1 when done; external power only: no strong pull-up, §S.6 pitfall);
#   Read scratchpad 0xBE: 9 bytes, T LSB/MSB (two's complement, 1/16 degC), TH, TL, config
#   (resolution bits 6..5), FF, reserved, 10, CRC. Dallas CRC-8 (x^8+x^5+x^4+1, reflected
#   0x8C, init 0): over all 8 ROM or 9 scratchpad bytes it is 0 when valid.
# Several probes: found by ROM search at start (family 0x28 DS18B20, 0x22 DS1822) and sorted
# by ROM, one quantity each in the config's "ds18b20_as" order. A probe that fails reports
# its quantity as invalid while the others report (SensorError only when none answered).
# The power-on value 85.000 degC (raw 0x0550 with reserved byte 0x0C) means no conversion
# happened (a probe reset by a power glitch) and is invalid, as is an all-zero scratchpad
# (the bus held low passes the CRC, §S.6).

import time

from micropython import const

from sensor import Sensor, SensorError

_SEARCH = const(0xF0)
_MATCH = const(0x55)
_SKIP = const(0xCC)
_CONVERT = const(0x44)
_READ_SCRATCH = const(0xBE)
_FAMILIES = (0x28, 0x22)
_CONVERT_MS = const(750)  # 12-bit conversion, maximum (resolution table)
_DEADLINE_MS = const(900)
_POWER_ON = const(0x0550)  # +85 degC (Table 1)
MAX_PROBES = const(8)


def crc8(buf, start=0, n=None):
    """Dallas/Maxim CRC-8 of buf[start:start + n] (AN27: 02 1C B8 01 00 00 00 -> 0xA2)."""
    if n is None:
        n = len(buf) - start
    crc = 0
    for i in range(start, start + n):
        b = buf[i]
        for _ in range(8):
            mix = (crc ^ b) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            b >>= 1
    return crc


def celsius_hundredths(lsb, msb, config):
    """Two's complement 1/16 degC with the undefined low bits masked (resolution table)."""
    raw = (msb << 8) | lsb
    if raw & 0x8000:
        raw -= 0x10000
    res = (config >> 5) & 3  # 0: 9-bit ... 3: 12-bit
    raw &= ~((1 << (3 - res)) - 1)
    v = raw * 625  # 1/16 degC = 6.25 hundredths; rounded half away from zero
    return (v + 50) // 100 if v >= 0 else -((50 - v) // 100)


class DS18B20(Sensor):
    NAME = "ds18b20"
    QUANTITIES = ("water_temperature",)

    @classmethod
    def from_config(cls, bus, cfg):
        return cls(bus, cfg["ds18b20_as"])

    @classmethod
    def quantities(cls, cfg):
        return tuple(cfg["ds18b20_as"])

    def __init__(self, ow, names=("water_temperature",)):
        self._ow = ow
        self.QUANTITIES = tuple(names)
        self._roms = bytearray(8 * MAX_PROBES)
        self._rom = bytearray(8)
        self._scratch = bytearray(9)
        self.count = 0  # probes found
        self.failed = 0  # probe reads that failed since boot
        self._search()
        if not self.count:
            raise SensorError("ds18b20: no probe on the 1-Wire bus")

    # --- AN187 ROM search ---------------------------------------------------------------
    def _search(self):
        ow = self._ow
        rom = self._rom
        for i in range(8):
            rom[i] = 0
        self.count = 0
        last_discrepancy = 0
        for _ in range(MAX_PROBES * 4):  # bounded: a noisy bus cannot loop for ever
            if not ow.reset():
                return
            ow.writebyte(_SEARCH)
            discrepancy = 0
            for bit in range(1, 65):
                b = ow.readbit()
                c = ow.readbit()
                if b and c:
                    return  # no device answers (or the bus is broken)
                byte = (bit - 1) >> 3
                mask = 1 << ((bit - 1) & 7)
                if b != c:
                    d = b
                else:  # a discrepancy: both values present among the devices
                    if bit < last_discrepancy:
                        d = 1 if rom[byte] & mask else 0
                    else:
                        d = 1 if bit == last_discrepancy else 0
                    if d == 0:
                        discrepancy = bit
                if d:
                    rom[byte] |= mask
                else:
                    rom[byte] &= ~mask
                ow.writebit(d)
            if crc8(rom) == 0 and rom[0] in _FAMILIES:
                self._insert(rom)
            last_discrepancy = discrepancy
            if last_discrepancy == 0 or self.count >= MAX_PROBES:
                return

    def _insert(self, rom):
        # keep the ROMs sorted (serial number order): a probe's quantity stays its own
        n = self.count
        r = self._roms
        pos = n
        for k in range(n):
            for i in range(7, -1, -1):
                if rom[i] != r[8 * k + i]:
                    break
            if rom[i] < r[8 * k + i]:
                pos = k
                break
        for k in range(n, pos, -1):
            for i in range(8):
                r[8 * k + i] = r[8 * (k - 1) + i]
        for i in range(8):
            r[8 * pos + i] = rom[i]
        self.count = n + 1

    def rom(self, k):
        return bytes(self._roms[8 * k: 8 * k + 8])

    # --- reading ----------------------------------------------------------------------
    def _convert(self):
        ow = self._ow
        if not ow.reset():
            raise SensorError("ds18b20: no presence pulse on the 1-Wire bus")
        ow.writebyte(_SKIP)  # all probes convert at once
        ow.writebyte(_CONVERT)
        t0 = time.ticks_ms()
        time.sleep_ms(_CONVERT_MS // 8)
        while not ow.readbit():  # read slots return 1 when every conversion is done
            if time.ticks_diff(time.ticks_ms(), t0) > _DEADLINE_MS:
                raise SensorError("ds18b20: conversion not done in %d ms" % _DEADLINE_MS)
            time.sleep_ms(10)

    def _probe(self, k):
        """Hundredths of degC of probe k, or None (CRC error, power-on value, stuck bus)."""
        ow = self._ow
        if not ow.reset():
            return None
        ow.writebyte(_MATCH)
        r = self._roms
        for i in range(8 * k, 8 * k + 8):
            ow.writebyte(r[i])
        ow.writebyte(_READ_SCRATCH)
        s = self._scratch
        ow.readinto(s)
        if crc8(s) != 0:
            return None
        if s[4] == 0 and s[7] == 0:
            return None  # all zero: the bus is held low (CRC 0 passes)
        if ((s[1] << 8) | s[0]) == _POWER_ON and s[6] == 0x0C:
            return None  # power-on value: this probe did not convert
        c = celsius_hundredths(s[0], s[1], s[4])
        if c < -5500 or c > 12500:
            return None  # outside the part's range -55..+125 degC
        return c

    def read(self, out):
        q = self.QUANTITIES
        if self.count < len(q):
            self._search()  # a probe missing at boot may be back
        self._convert()
        good = 0
        for k in range(len(q)):
            c = self._probe(k) if k < self.count else None
            if c is None:
                self.failed += 1
                out[q[k]] = None
            else:
                out[q[k]] = c / 100
                good += 1
        if not good:
            raise SensorError("ds18b20: no valid reading from %d probe(s)" % self.count)
