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
_DEVICE_ID = re.compile(r"[0-9a-fA-F]{16}")
TOPIC_MAX_BYTES = 65535  # a UTF-8 string's 2-byte length (MQTT 5 §1.5.4; 3.1.1 §1.5.3)
_SAFE_CHARS = TOPIC_MAX_BYTES // 4  # no code point takes more than 4 bytes in UTF-8


def publish_topic_problem(topic: str) -> str | None:
    """Why MQTT forbids publishing to ``topic`` (MQTT 5 §4.7, §1.5.4), or None when it may.

    A topic name is 1..65535 bytes of UTF-8 without NUL, and a PUBLISH's topic has no
    wildcard. Cheap for the common short topic: one scan per forbidden character."""
    if not topic:
        return "empty topic"
    if len(topic) > _SAFE_CHARS:
        try:
            n = len(topic.encode())
        except UnicodeEncodeError:
            return "topic is not valid UTF-8 (a lone surrogate)"
        if n > TOPIC_MAX_BYTES:
            return f"topic is {n} bytes of UTF-8, MQTT allows {TOPIC_MAX_BYTES}"
    elif not topic.isascii():
        try:
            topic.encode()
        except UnicodeEncodeError:
            return "topic is not valid UTF-8 (a lone surrogate)"
    if "+" in topic or "#" in topic:
        return "a wildcard (+ or #) in a topic to publish to"
    if "\x00" in topic:
        return "NUL in a topic"
    return None


def check_prefix(prefix: str, what: str) -> None:
    """A configured topic prefix: publishable, no wildcard, no trailing or empty level."""
    problem = publish_topic_problem(prefix)
    if problem is None and (prefix.endswith("/") or "//" in prefix or len(prefix) > 1024):
        problem = "must not end in /, hold an empty level or exceed 1024 characters"
    if problem is not None:
        raise BridgeError(f"{what} {prefix[:80]!r}: {problem}")


def device_id(level: str) -> str | None:
    """The device id of a city topic level: 16 hex digits (the DevEUI), lower-cased; else None."""
    return level.lower() if _DEVICE_ID.fullmatch(level) else None


def _level(name: str) -> str:
    """One topic level: wildcards, separators and NUL are replaced (MQTT 3.1.1 §4.7)."""
    return _LEVEL_BAD.sub("_", name) or "_"


class CityTopics:
    def __init__(self, prefix: str) -> None:
        check_prefix(prefix, "city topic prefix")
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

    def command(self, device: str) -> str:
        """Where a city application publishes a command for ``device`` (the portal's fleet view)."""
        return self._topic(device, "command")

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
