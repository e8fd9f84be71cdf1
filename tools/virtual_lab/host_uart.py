"""A UART-like object over a tty path for CPython (the RAK3172 driver's host-side transport).

Same duck type as ``machine.UART`` for the driver: ``write(b)``, ``any()``, ``read(n)``,
``readinto(buf)``; non-blocking, raw 8N1 (the baud rate of a pty is meaningless).
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import time
import tty

WRITE_TIMEOUT_S = 5.0


class HostUart:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)

    def any(self) -> int:
        raw = fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])

    def read(self, n: int = -1) -> bytes | None:
        try:
            return os.read(self.fd, n if n > 0 else 4096) or None
        except BlockingIOError:
            return None

    def readinto(self, buf: bytearray | memoryview) -> int | None:
        data = self.read(len(buf))
        if not data:
            return None
        buf[: len(data)] = data
        return len(data)

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"tty write stalled for {WRITE_TIMEOUT_S:.0f} s") from None
                select.select([], [self.fd], [], left)
                continue
            view = view[n:]
        return len(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
