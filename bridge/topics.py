"""City topics: the versioned API of docs/bridge.md §3 (pure).

    {prefix}/{device}/senml             SenML pack per uplink (QoS 1, not retained)
    {prefix}/{device}/{quantity}        latest value, retained
    {prefix}/{device}/meta              device metadata, retained
    {prefix}/{device}/command           city -> bridge (JSON command)
    {prefix}/{device}/command/result    bridge -> city (command outcome)
    {prefix}/_deadletter                what could not be used, with the reason
"""

from __future__ import annotations

import re

from .errors import BridgeError

API_VERSION = "v1"
_LEVEL_BAD = re.compile(r"[+#/\x00]")
_CACHE_MAX = 100_000


def _level(name: str) -> str:
    """One topic level: wildcards, separators and NUL are replaced (MQTT 3.1.1 §4.7)."""
    return _LEVEL_BAD.sub("_", name) or "_"


class CityTopics:
    def __init__(self, prefix: str) -> None:
        if not prefix or "+" in prefix or "#" in prefix or prefix.endswith("/"):
            raise BridgeError(f"city topic prefix {prefix!r} must be non-empty without wildcards")
        self.prefix = prefix
        self._cache: dict[tuple[str, str], str] = {}  # (device, leaf) -> topic: built once

    def _topic(self, device: str, leaf: str) -> str:
        t = self._cache.get((device, leaf))
        if t is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            t = self._cache[(device, leaf)] = f"{self.prefix}/{_level(device)}/{_level(leaf)}"
        return t

    def senml(self, device: str) -> str:
        return self._topic(device, "senml")

    def value(self, device: str, quantity: str) -> str:
        return self._topic(device, quantity)

    def meta(self, device: str) -> str:
        return self._topic(device, "meta")

    def command_filter(self) -> str:
        return f"{self.prefix}/+/command"

    def command_device(self, topic: str) -> str | None:
        """Device of a command topic, or None when the topic is not one."""
        head, sep, rest = topic.partition(self.prefix + "/")
        if head or not sep:
            return None
        parts = rest.split("/")
        if len(parts) != 2 or parts[1] != "command":
            return None
        return parts[0]

    def command_result(self, device: str) -> str:
        return f"{self.prefix}/{_level(device)}/command/result"

    def deadletter(self) -> str:
        return f"{self.prefix}/_deadletter"
