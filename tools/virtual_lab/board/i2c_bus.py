"""An I2C master whose peers are simulators, for the virtual board and the driver tests.

Register-level peers (bme280_sim) implement ``read(reg, n)`` / ``write(reg, data)``;
command-level peers (the Sensirion parts: sensirion_sim) implement ``i2c_write(data)`` /
``i2c_read(n)``. ``condition(name)`` gives the scenario's state of a peer: "removed" (no ACK
on the address: ENODEV, as the ESP32 port reports it), "nack" (EIO on every transfer) or a
kind the peer handles itself ("stuck", "badcrc", "frozen", ...), which it gets as ``cond``.

Known differences from an ESP32 I2C bus: no clock stretching or timing, a transfer never
fails half-way, and a read shorter than the peer's answer simply ends it (the master NACK).
"""

ENODEV = 19
EIO = 5


class SimI2C:
    def __init__(self, condition=None):
        self.devs = {}  # address -> (name, simulator)
        self._condition = condition or (lambda name: "ok")

    def attach(self, addr, name, sim):
        self.devs[addr] = (name, sim)
        return sim

    def _dev(self, addr):
        d = self.devs.get(addr)
        if d is None:
            raise OSError(ENODEV)  # no ACK on the address byte
        cond = self._condition(d[0])
        if cond == "removed":
            raise OSError(ENODEV)
        if cond == "nack":
            raise OSError(EIO)
        d[1].cond = cond
        d[1].stuck = cond == "stuck"  # bme280_sim's attribute
        return d[1]

    def scan(self):
        out = []
        for a in sorted(self.devs):
            try:
                self._dev(a)
                out.append(a)
            except OSError:
                pass
        return out

    # register access (BME280/BMP280)
    def readfrom_mem(self, addr, reg, n, addrsize=8):
        return self._dev(addr).read(reg, n)

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        data = self._dev(addr).read(reg, len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        self._dev(addr).write(reg, buf)

    # plain transfers (Sensirion command set)
    def writeto(self, addr, buf, stop=True):
        self._dev(addr).i2c_write(bytes(buf))
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        data = self._dev(addr).i2c_read(len(buf))
        for i in range(len(buf)):
            buf[i] = data[i] if i < len(data) else 0xFF  # released SDA reads high

    def readfrom(self, addr, n, stop=True):
        b = bytearray(n)
        self.readfrom_into(addr, b)
        return bytes(b)
