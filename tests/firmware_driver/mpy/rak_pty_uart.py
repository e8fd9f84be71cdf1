# A UART shim for the MicroPython Unix port over a pty path (the RAK3172 emulator's device).
# Test-only: the board has machine.UART; this gives the driver the same any/readinto/write.
import select
import termios


class PtyUart:
    def __init__(self, path):
        self.f = open(path, "r+b")  # noqa: SIM115 - kept open as the UART; close() closes it
        termios.setraw(self.f.fileno())
        self.p = select.poll()
        self.p.register(self.f, select.POLLIN)

    def any(self):
        return 1 if self.p.poll(0) else 0

    def readinto(self, buf):
        n = 0
        while n < len(buf) and self.p.poll(0):
            b = self.f.read(1)
            if not b:
                break
            buf[n] = b[0]
            n += 1
        return n or None

    def write(self, data):
        return self.f.write(data)

    def close(self):
        self.f.close()
