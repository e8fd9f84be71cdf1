"""City commands -> LNS downlinks (pure): validation, encoding, rate limiting.

A command is a JSON object for ``payload_codec.encode_downlink`` (for example
``{"set_interval_s": 600}``); the optional key ``"id"`` is the city's own correlation id
and is echoed on command/result. The downlink goes out on fPort COMMAND (10).
"""

from __future__ import annotations

import uuid
from typing import Any

import payload_codec
from payload_codec import fports

from . import chirpstack, jsonio, tts
from .errors import CommandRejected

MAX_COMMAND_BYTES = 4096


def parse_command(payload: bytes) -> tuple[dict[str, Any], str | None, bytes]:
    """(command, city id, encoded frame); CommandRejected naming what is wrong."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandRejected("oversize", f"command is {len(payload)} bytes, limit {MAX_COMMAND_BYTES}")
    try:
        doc = jsonio.loads(payload)
    except (UnicodeDecodeError, ValueError) as e:
        raise CommandRejected("invalid_json", str(e)) from None
    if not isinstance(doc, dict):
        raise CommandRejected("invalid_command", "a command must be a JSON object")
    cid = doc.pop("id", None)
    if cid is not None and not isinstance(cid, str):
        raise CommandRejected("invalid_command", "id must be a string")
    try:
        frame = payload_codec.encode_downlink(doc)
    except payload_codec.CodecError as e:
        raise CommandRejected("invalid_command", str(e)) from None
    return doc, cid, frame


def city_command(command: dict[str, Any], city_id: str) -> bytes:
    """The JSON a city application publishes on ``{prefix}/{device}/command`` (docs/bridge.md
    §3), checked as the bridge will check it: CommandRejected when the bridge would refuse it."""
    if "id" in command:
        raise CommandRejected("invalid_command", "the command's id is set by the sender, not in the command")
    payload = jsonio.dumps({**command, "id": city_id})
    parse_command(payload)
    return payload


def city_id_of(payload: bytes) -> str | None:
    """The city's ``id`` of a command that was refused, when one can be read (docs/bridge.md
    §3: echoed on every result), so that the city can match even a rejection."""
    if len(payload) > MAX_COMMAND_BYTES:
        return None
    try:
        doc = jsonio.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    cid = doc.get("id") if isinstance(doc, dict) else None
    return cid if isinstance(cid, str) else None


def new_id() -> str:
    return str(uuid.uuid4())


def lns_message(lns: str, dev_eui: str, frame: bytes, command_id: str, confirmed: bool) -> bytes:
    """The downlink message for ChirpStack ``command/down`` or TTS ``down/push``."""
    if lns == "chirpstack":
        return jsonio.dumps(chirpstack.downlink(dev_eui, frame, fports.COMMAND, confirmed, command_id))
    return jsonio.dumps(tts.downlink(frame, fports.COMMAND, confirmed, command_id))


class RateLimiter:
    """At most one downlink per device per ``min_interval_s`` (a queued downlink costs airtime)."""

    def __init__(self, min_interval_s: float) -> None:
        self.min_interval_s = min_interval_s
        self._last: dict[str, float] = {}

    def check(self, device: str, now: float) -> None:
        last = self._last.get(device)
        if last is not None and now - last < self.min_interval_s:
            wait = self.min_interval_s - (now - last)
            raise CommandRejected("rate_limited", f"next command for {device} in {wait:.0f} s")
        self._last[device] = now
