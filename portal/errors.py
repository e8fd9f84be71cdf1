"""One error tree for the portal (style.md §4: errors converted at the edge)."""

from __future__ import annotations


class PortalError(Exception):
    """Any error raised by the portal."""


class ConfigError(PortalError):
    """The configuration file is invalid; the message names the key."""


class StorageError(PortalError):
    """The time-series database cannot be used."""


class InputError(PortalError):
    """A city-topic message cannot be used; ``reason`` is a short machine-readable code.

    The portal keeps the message with this reason in its ``rejects`` table (nothing is lost).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class QueryError(PortalError):
    """A request's parameters are invalid: HTTP 400 with this message as the reason."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
