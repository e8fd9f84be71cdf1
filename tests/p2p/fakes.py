"""Doubles at the hardware edge for the P2P tests."""

from __future__ import annotations


class Rtc:
    """machine.RTC's memory(): kept across deep sleep (the same object), lost on power loss (a new one)."""

    def __init__(self) -> None:
        self.data = b""

    def memory(self, data: bytes | None = None) -> bytes:
        if data is None:
            return self.data
        self.data = bytes(data)
        return b""
