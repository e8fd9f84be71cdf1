"""One error tree for the bridge (style.md §4: errors converted at the edge)."""

from __future__ import annotations


class BridgeError(Exception):
    """Any error raised by the bridge."""


class ConfigError(BridgeError):
    """The configuration file is invalid; the message names the key."""


class InputError(BridgeError):
    """An input message cannot be used; ``reason`` is a short machine-readable code.

    The bridge dead-letters the message with this reason and the message text.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class CommandRejected(BridgeError):
    """A city command was refused; ``reason`` is published on command/result."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StoreError(BridgeError):
    """The SQLite state (outbox, dedupe window, device table) cannot be used."""


class CorruptDatabase(StoreError):
    """``PRAGMA quick_check`` found the state database damaged (docs/bridge.md §5)."""
