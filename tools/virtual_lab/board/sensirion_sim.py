"""Command-level Sensirion SHT4x, SCD4x and SPS30 (I2C; its UART side: sps30_shdlc_sim.py) for the
virtual board (MicroPython and CPython).

Each answers the commands of docs/references.md §S.1-§S.3 (codes and word format with CRC-8,
§S.0) after the command's execution time; a read before the answer is ready, or with no
answer pending, is NACKed (EIO), as the parts do. ``env()`` gives the scenario's values;
``cond`` (set by the bus, i2c_bus.py) is "ok", "badcrc" (every answer's first CRC is wrong),
"stuck" (SCD4x/SPS30 data are never ready), "frozen" (values stay at the last ones read
before the glitch), "nowarmup" (SPS30 reports zeros, the fan does not spin up) or
"slowwarmup" (SPS30 values reach the scenario only after 60 s instead of 8 s).

Known differences from the parts: execution times are waited exactly (the parts vary);
the SHT4x has no heater and ignores precision (all three measure commands give the same
noise-free value); the SCD4x measures without noise, its ASC, FRC, offset and altitude
settings are stored but change nothing, and a single shot's value is the scenario value
at the end of the shot; the SPS30 gives only the four mass concentrations (number
concentrations and typical size read as 0), ignores the uint16 format, and has no fan
cleaning; its warm-up is a linear ramp from 0 over ``warmup_ms``.
"""

import struct

EIO = 5


def crc8(data):
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def words(*ws):
    out = bytearray()
    for w in ws:
        pair = bytes(((w >> 8) & 0xFF, w & 0xFF))
        out += pair
        out.append(crc8(pair))
    return out


def raw_for(value, offset, span):
    """The 16-bit word whose conversion offset + span * w / 65535 is nearest to value."""
    w = int((value - offset) * 65535 / span + 0.5)
    return min(max(w, 0), 65535)


class CommandSim:
    """Base: a command's answer becomes readable ``wait_ms`` after the command."""

    def __init__(self, env, ticks_ms, ticks_diff):
        self.env = env
        self._ticks = ticks_ms
        self._diff = ticks_diff
        self.cond = "ok"
        self.stuck = False
        self._answer = None
        self._ready_at = 0
        self.commands = []  # codes received, for tests
        self._frozen = None

    def values(self):
        if self.cond == "frozen":
            if self._frozen is None:
                self._frozen = self.env()
            return self._frozen
        self._frozen = self.env()
        return self._frozen

    def _reply(self, data, wait_ms):
        data = bytearray(data)
        if self.cond == "badcrc" and data:
            data[2] ^= 0x5A
        self._answer = data
        self._ready_at = self._ticks() + wait_ms

    def i2c_read(self, n):
        if self._answer is None or self._diff(self._ticks(), self._ready_at) < 0:
            raise OSError(EIO)  # nothing to read (yet): NACK
        a = self._answer
        self._answer = None
        return bytes(a[:n])

    def i2c_write(self, data):
        raise NotImplementedError


class SHT4xSim(CommandSim):
    SERIAL = (0x1234, 0x5678)

    def i2c_write(self, data):
        code = data[0]
        self.commands.append(code)
        if code in (0xFD, 0xF6, 0xE0):
            t, h = self.values()
            self._reply(words(raw_for(t, -45, 175), raw_for(h, -6, 125)), {0xFD: 9, 0xF6: 5, 0xE0: 2}[code])
        elif code == 0x89:
            self._reply(words(*self.SERIAL), 1)
        elif code == 0x94:
            self._answer = None
        else:
            raise OSError(EIO)  # unknown command: NACK


class SCD4xSim(CommandSim):
    """``env()`` -> CO2 ppm. ``variant`` 40 or 41; ``period_ms`` the periodic interval."""

    def __init__(self, env, ticks_ms, ticks_diff, variant=41, period_ms=5000, shot_ms=5000):
        super().__init__(env, ticks_ms, ticks_diff)
        self.variant = variant
        self.period_ms = period_ms
        self.shot_ms = shot_ms
        self.periodic_since = None
        self.shot_at = None
        self.last_read = None
        self.asc = 1
        self.pressure_hpa = 1013

    def _ready(self):
        if self.cond == "stuck":
            return False
        now = self._ticks()
        if self.periodic_since is not None:
            # a new value every period; the buffer empties on read (§S.2)
            n = self._diff(now, self.periodic_since) // self.period_ms
            return n >= 1 and n != self.last_read
        return self.shot_at is not None and self._diff(now, self.shot_at) >= self.shot_ms

    def i2c_write(self, data):
        code = (data[0] << 8) | data[1]
        self.commands.append(code)
        arg = None
        if len(data) == 5:
            if crc8(data[2:4]) != data[4]:
                raise OSError(EIO)  # §S.0: the CRC is mandatory in the write direction
            arg = (data[2] << 8) | data[3]
        periodic = self.periodic_since is not None
        if periodic and code not in (0xEC05, 0x3F86, 0xE000, 0xE4B8):
            raise OSError(EIO)  # not allowed while measuring (Table 9)
        if code == 0x3F86:
            self.periodic_since = None
        elif code == 0x21B1:
            self.periodic_since = self._ticks()
            self.last_read = 0
        elif code == 0x3682:
            self._reply(words(0x0123, 0x4567, 0x89AB), 1)
        elif code == 0x202F:
            self._reply(words(0x1000 if self.variant == 41 else 0x0000), 1)
        elif code == 0x2416 and arg is not None:
            self.asc = arg
        elif code == 0xE000:
            if arg is None:
                self._reply(words(self.pressure_hpa), 1)
            else:
                self.pressure_hpa = arg
        elif code == 0x219D:
            if self.variant != 41:
                raise OSError(EIO)  # SCD40: no single shot
            self.shot_at = self._ticks()
        elif code == 0xE4B8:
            self._reply(words(0x8006 if self._ready() else 0x8000), 1)
        elif code == 0xEC05:
            if not self._ready():
                raise OSError(EIO)  # no new data: NACK (§S.2)
            if periodic:
                self.last_read = self._diff(self._ticks(), self.periodic_since) // self.period_ms
            else:
                self.shot_at = None
            co2 = int(self.values() + 0.5)
            self._reply(words(min(max(co2, 0), 0xFFFF), raw_for(25.0, -45, 175), raw_for(37.0, 0, 100)), 1)
        elif code == 0x36F6:
            raise OSError(EIO)  # wake_up is not ACKed (§S.2)
        elif code not in (0x3646, 0x36E0):
            raise OSError(EIO)


class SPS30Sim(CommandSim):
    """``env()`` -> (pm1, pm2_5, pm4, pm10) in ug/m3 once warmed up."""

    def __init__(self, env, ticks_ms, ticks_diff, warmup_ms=8000, firmware=(2, 2)):
        super().__init__(env, ticks_ms, ticks_diff)
        self.warmup_ms = warmup_ms
        self.firmware = firmware
        self.measuring_since = None
        self.asleep = False
        self.wake_armed = False
        self.fan_ms = 0  # total time the fan ran, for the wear tests
        self._last_read = -1

    def _level(self):
        if self.cond == "nowarmup":
            return 0.0
        warm = 60000 if self.cond == "slowwarmup" else self.warmup_ms
        ran = self._diff(self._ticks(), self.measuring_since)
        return 1.0 if ran >= warm else ran / warm

    # the part's state, shared by both transports (I2C here, UART/SHDLC in sps30_shdlc_sim.py)
    def start_measuring(self):
        if self.measuring_since is None:
            self.measuring_since = self._ticks()

    def stop_measuring(self):
        if self.measuring_since is not None:
            self.fan_ms += self._diff(self._ticks(), self.measuring_since)
        self.measuring_since = None

    def go_to_sleep(self):
        """Sleep (idle mode only, firmware >= 2.0); False when refused."""
        if self.measuring_since is not None or self.firmware < (2, 0):
            return False
        self.asleep = True
        return True

    def new_values(self):
        return self.measuring_since is not None and self.cond != "stuck" and \
            self._diff(self._ticks(), self.measuring_since) >= 1000

    def mass(self):
        """PM1.0, PM2.5, PM4.0, PM10 [ug/m3] as the part reports them now (warm-up ramp)."""
        k = self._level()
        v = self.values()
        return (v[0] * k, v[1] * k, v[2] * k, v[3] * k)

    def i2c_write(self, data):
        code = (data[0] << 8) | data[1]
        if self.asleep:
            # §S.3: asleep the interface is off; the first wake only switches it on
            if code == 0x1103 and self.wake_armed:
                self.asleep = False
                self.commands.append(code)
                return
            self.wake_armed = code == 0x1103
            raise OSError(EIO)
        self.commands.append(code)
        if code == 0x0010:
            if len(data) != 5 or crc8(data[2:4]) != data[4]:
                raise OSError(EIO)
            self.start_measuring()
        elif code == 0x0104:
            self.stop_measuring()
        elif code == 0x1001:
            if not self.go_to_sleep():
                raise OSError(EIO)  # idle mode only, firmware >= 2.0
            self.wake_armed = False
        elif code == 0x1103:
            pass
        elif code == 0xD100:
            self._reply(words((self.firmware[0] << 8) | self.firmware[1]), 1)
        elif code == 0x0202:
            self._reply(words(1 if self.new_values() else 0), 1)
        elif code == 0x0300:
            if self.measuring_since is None:
                raise OSError(EIO)
            out = bytearray()
            for v in self.mass() + (0.0,) * 6:
                b = struct.pack(">f", v)
                out += words((b[0] << 8) | b[1], (b[2] << 8) | b[3])
            self._reply(out, 1)
        elif code == 0xD304:
            self.measuring_since = None
        else:
            raise OSError(EIO)
