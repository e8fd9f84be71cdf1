"""The receiver's replay guard: the last envelope counter per P2P device, kept on disk.

An envelope is fresh when its counter is above the last one accepted from that device
(docs/p2p.md §2). The same envelope heard again (a second receiver, a repeated line) is a
duplicate, not an attack; any other counter at or below the last is a replay.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import InputError

FRESH, DUPLICATE = "fresh", "duplicate"


class ReplayGuard:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: dict[str, tuple[int, str]] = {}  # device id hex -> (counter, MIC hex)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            doc = {}
        except (OSError, ValueError) as e:
            # refusing to start is safer than forgetting every counter (replays would pass)
            raise InputError("replay_state", f"{path} cannot be read ({e}); fix or remove it") from None
        for dev, v in doc.items() if isinstance(doc, dict) else ():
            if isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and isinstance(v[1], str):
                self._last[dev] = (v[0], v[1])

    def last(self, device_id: int) -> int | None:
        got = self._last.get("%08X" % device_id)
        return got[0] if got else None

    def check(self, device_id: int, counter: int, mic: bytes) -> str:
        """FRESH (recorded and persisted) or DUPLICATE; InputError("replayed") otherwise."""
        key = "%08X" % device_id
        prev = self._last.get(key)
        if prev is not None and counter <= prev[0]:
            if counter == prev[0] and mic.hex() == prev[1]:
                return DUPLICATE
            raise InputError("replayed", f"device {key} counter {counter} is not above the last "
                             f"accepted {prev[0]}")
        self._last[key] = (counter, mic.hex())
        self._save()
        return FRESH

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps({k: list(v) for k, v in self._last.items()}, sort_keys=True).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
