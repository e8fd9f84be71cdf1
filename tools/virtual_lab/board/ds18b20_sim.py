"""A 1-Wire bus with DS18B20 probes, bit by bit, for the virtual board (MicroPython and CPython).

``OneWireBus`` has the methods of micropython-lib's ``onewire.OneWire`` that talk to the wire
(reset, readbit, writebit, readbyte, writebyte, readinto, write): every byte is moved as
LSB-first bits, and the probes follow the ROM layer of the DS18B20 datasheet
(docs/references.md §S.6): Search ROM 0xF0 (each probe answers its bit and its complement;
the bus is a wired AND, so both read 0 where ROMs differ), Match ROM 0x55, Skip ROM 0xCC,
Read ROM 0x33; function commands Convert T 0x44 (read slots give 0 until the conversion ends,
``convert_ms`` after), Read Scratchpad 0xBE (9 bytes with the Dallas CRC), Write Scratchpad
0x4E (TH, TL, config).

``env(k)`` -> degC of probe k; ``condition(k)`` -> "ok", "removed" (no presence pulse, silent),
"badcrc" (the scratchpad CRC byte is wrong), "poweron" (the probe lost power before the
conversion: it answers the 85 degC power-up scratchpad), "frozen" (the last converted value),
"stuck" (the bus is held low: no presence, every read slot 0).

Known differences from the part: no slot timing, no parasite power, alarms (TH/TL search
0xEC) and EEPROM copy/recall are not simulated; the conversion time does not depend on the
resolution; a probe converts to the scenario value rounded to 1/16 degC.
"""

def crc8(data):
    crc = 0
    for b in data:
        for _ in range(8):
            mix = (crc ^ b) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            b >>= 1
    return crc


def rom_with_crc(serial7):
    r = bytearray(serial7)
    return bytes(r + bytes((crc8(r),)))


def make_rom(k):
    """A valid DS18B20 ROM (family 0x28) for probe k."""
    return rom_with_crc(bytes((0x28, 0x10 + k, 0xA0, 0x5B, 0x37, 0x16 + k, 0x03)))


def raw16(celsius):
    v = int(celsius * 16 + (0.5 if celsius >= 0 else -0.5))
    return v & 0xFFFF


class Probe:
    def __init__(self, rom):
        self.rom = bytes(rom)
        self.raw = 0x0550  # power-up value
        self.th, self.tl, self.config = 0x4B, 0x46, 0x7F
        self.converted = False

    def scratchpad(self, cond):
        raw = 0x0550 if cond == "poweron" else self.raw
        # byte 6: 0x0C at power-up, 0x10 - (T LSB & 0x0F) after a conversion on genuine parts
        # (cpetrich/counterfeit_DS18B20 README, docs/references.md §S.6)
        b6 = 0x0C if cond == "poweron" or not self.converted else (0x10 - (raw & 0x0F)) & 0xFF
        s = bytearray((raw & 0xFF, raw >> 8, self.th, self.tl, self.config, 0xFF, b6, 0x10))
        s.append(crc8(s))
        if cond == "badcrc":
            s[8] ^= 0x01
        return s


class OneWireBus:
    SEARCH_ROM = 0xF0
    MATCH_ROM = 0x55
    SKIP_ROM = 0xCC

    def __init__(self, roms, env, condition, ticks_ms, ticks_diff, convert_ms=750):
        self.probes = [Probe(bytes.fromhex(r) if isinstance(r, str) else r) for r in roms]
        self.env = env
        self.condition = condition
        self._ticks = ticks_ms
        self._diff = ticks_diff
        self.convert_ms = convert_ms
        self._state = "idle"
        self._selected = []
        self._out = []  # bits the probes send next (LSB first)
        self._search_bit = 0
        self._search_phase = 0
        self._in_bits = []
        self._convert_at = None
        self.conversions = 0
        self._frozen = {}

    def _present(self):
        return [i for i, _ in enumerate(self.probes) if self.condition(i) not in ("removed",)]

    def _stuck(self):
        return any(self.condition(i) == "stuck" for i in range(len(self.probes)))

    # --- the wire ---------------------------------------------------------------------
    def reset(self, required=False):
        self._state = "rom"
        self._in_bits = []
        self._out = []
        present = bool(self._present()) and not self._stuck()
        self._selected = self._present()
        if required and not present:
            raise OSError("no presence pulse")
        return present

    def readbit(self):
        if self._stuck():
            return 0
        if self._state == "search":
            return self._search_read()
        if self._state == "converting":
            done = self._diff(self._ticks(), self._convert_at) >= self.convert_ms
            if done:
                self._finish_convert()
            return 1 if done else 0
        if self._out:
            return self._out.pop(0)
        return 1  # nobody drives the line: the pull-up reads 1

    def writebit(self, value):
        if self._state == "search":
            self._search_write(value)
            return
        self._in_bits.append(1 if value else 0)
        if len(self._in_bits) == 8:
            b = 0
            for i, bit in enumerate(self._in_bits):
                b |= bit << i
            self._in_bits = []
            self._byte(b)

    def readbyte(self):
        v = 0
        for i in range(8):
            v |= self.readbit() << i
        return v

    def writebyte(self, value):
        for i in range(8):
            self.writebit((value >> i) & 1)

    def readinto(self, buf):
        for i in range(len(buf)):
            buf[i] = self.readbyte()

    def write(self, buf):
        for b in buf:
            self.writebyte(b)

    def select_rom(self, rom):
        self.reset()
        self.writebyte(self.MATCH_ROM)
        self.write(rom)

    # --- the probes' side ---------------------------------------------------------------
    def _send(self, data):
        for b in data:
            for i in range(8):
                self._out.append((b >> i) & 1)

    def _byte(self, b):
        st = self._state
        if st == "rom":
            if b == 0xF0:
                self._state = "search"
                self._search_bit = 0
                self._search_phase = 0
            elif b == 0x55:
                self._state = "match"
                self._match = bytearray()
            elif b == 0xCC:
                self._state = "function"
            elif b == 0x33 and len(self._selected) == 1:
                self._send(self.probes[self._selected[0]].rom)
                self._state = "function"
            return
        if st == "match":
            self._match.append(b)
            if len(self._match) == 8:
                self._selected = [i for i in self._selected if self.probes[i].rom == bytes(self._match)]
                self._state = "function"
            return
        if st == "function":
            if b == 0x44:
                self._state = "converting"
                self._convert_at = self._ticks()
                self._convert_sel = list(self._selected)
            elif b == 0xBE and len(self._selected) == 1:
                k = self._selected[0]
                self._send(self.probes[k].scratchpad(self.condition(k)))
            elif b == 0x4E:
                self._state = "write_scratch"
                self._wr = bytearray()
            return
        if st == "write_scratch":
            self._wr.append(b)
            if len(self._wr) == 3:
                for i in self._selected:
                    p = self.probes[i]
                    p.th, p.tl, p.config = self._wr[0], self._wr[1], (self._wr[2] & 0x60) | 0x1F
                self._state = "idle"

    def _finish_convert(self):
        if self._convert_at is None:
            return
        for k in self._convert_sel:
            cond = self.condition(k)
            if cond == "frozen" and k in self._frozen:
                continue
            if cond in ("poweron", "removed"):
                continue
            p = self.probes[k]
            p.raw = raw16(self.env(k))
            self._frozen[k] = p.raw
            p.converted = True
        self.conversions += 1
        self._convert_at = None
        self._state = "idle"

    def _rom_bit(self, k, n):
        return (self.probes[k].rom[n >> 3] >> (n & 7)) & 1

    def _search_read(self):
        n = self._search_bit
        sel = self._selected
        if not sel:
            return 1
        if self._search_phase == 0:
            self._search_phase = 1
            v = 1
            for k in sel:
                v &= self._rom_bit(k, n)
            return v  # wired AND of the bits
        self._search_phase = 2
        v = 1
        for k in sel:
            v &= 1 - self._rom_bit(k, n)
        return v  # wired AND of the complements

    def _search_write(self, value):
        n = self._search_bit
        self._selected = [k for k in self._selected if self._rom_bit(k, n) == (1 if value else 0)]
        self._search_bit += 1
        self._search_phase = 0
        if self._search_bit == 64:
            self._state = "function"
