"""A configuration command from a node's fleet page, onto the bridge's command topic.

The form names one command and, for the numeric ones, a value of decimal digits only (so no
text from the form ever reaches a header, a topic or the JSON beyond an integer). The JSON
and its checks are the bridge's (``bridge.commands.city_command``, docs/bridge.md §3): a
command the bridge would reject is refused here before it is published. The command's
``id`` is ``fleet-`` + a random UUID; the bridge echoes it on ``{prefix}/{device}/command/result``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from bridge.commands import city_command
from bridge.errors import CommandRejected
from bridge.topics import CityTopics

from ..errors import QueryError

# command -> takes a number (True) or is a flag (False); the codec's names (docs/codec.md §6)
FORM_COMMANDS: dict[str, bool] = {"set_interval_s": True, "set_confirmed_every": True, "request_status": False,
                                  "announce_layout": False, "reboot": False}
VALUE_RE = re.compile(r"[0-9]{1,6}\Z")
ID_RE = re.compile(r"fleet-[0-9a-f]{32}\Z")

Publish = Callable[[str, bytes], bool]  # (topic, payload) -> False when the broker is not connected


def from_form(form: dict[str, str]) -> dict[str, Any]:
    """The command dict of a submitted form; QueryError (400) naming what is wrong."""
    name = form.get("command", "")
    if name not in FORM_COMMANDS:
        raise QueryError(f"command must be one of {', '.join(FORM_COMMANDS)}")
    if not FORM_COMMANDS[name]:
        return {name: True}
    value = form.get("value", "")
    if not VALUE_RE.match(value):
        raise QueryError(f"{name} needs a whole number (digits only, at most 6)")
    return {name: int(value)}


def new_id() -> str:
    return "fleet-" + uuid.uuid4().hex


def payload_of(command: dict[str, Any], cid: str) -> bytes:
    try:
        return city_command(command, cid)
    except CommandRejected as e:
        raise QueryError(f"the bridge would refuse this command: {e.detail}") from None


class Sender:
    def __init__(self, prefix: str, publish: Publish | None) -> None:
        self.topics = CityTopics(prefix)
        self.publish = publish

    def send(self, dev_eui: str, payload: bytes) -> bool:
        """Publish at QoS 1; False when there is no broker connection (nothing was sent)."""
        if self.publish is None:
            return False
        return self.publish(self.topics.command(dev_eui), payload)
