"""A raw AT client for emulator tests: writes lines, collects CR LF-terminated replies."""

from __future__ import annotations

import select
import time

from trosmart_tools.virtual_lab import HostUart

STATUS = {
    "OK",
    "AT_ERROR",
    "AT_PARAM_ERROR",
    "AT_BUSY_ERROR",
    "AT_TEST_PARAM_OVERFLOW",
    "AT_NO_CLASSB_ENABLE",
    "AT_NO_NETWORK_JOINED",
    "AT_RX_ERROR",
    "AT_MODE_NO_SUPPORT",
    "AT_COMMAND_NOT_FOUND",
    "AT_UNSUPPORTED_BAND",
}


class AtClient:
    def __init__(self, path: str) -> None:
        self.uart = HostUart(path)
        self.buf = b""
        self.raw = b""  # every byte received, for byte-exact checks

    def close(self) -> None:
        self.uart.close()

    def line(self, timeout: float = 3.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line within {timeout} s; have {self.buf!r}")
            select.select([self.uart.fd], [], [], left)
            data = self.uart.read(4096) or b""
            self.raw += data
            self.buf += data
        text, self.buf = self.buf.split(b"\r\n", 1)
        return text.decode()

    def cmd(self, text: str, timeout: float = 3.0) -> list[str]:
        """Send a command; every line up to and including the status line."""
        self.uart.write(text.encode() + b"\r\n")
        out = []
        while True:
            out.append(self.line(timeout))
            if out[-1] in STATUS:
                return out

    def wait_for(self, prefix: str, timeout: float = 5.0) -> list[str]:
        """Lines up to and including the first that starts with ``prefix``."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            out.append(self.line(max(0.01, deadline - time.monotonic())))
            if out[-1].startswith(prefix):
                return out
