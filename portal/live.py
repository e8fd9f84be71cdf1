"""Live updates: the ingest thread publishes stored packs, each open SSE stream has a bounded
queue on the web server's event loop. A stream that cannot keep up loses live events (it is
told with a ``resync`` event and reloads the latest values); storage loses nothing."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

QUEUE_MAX = 256


class Hub:
    def __init__(self) -> None:
        self._subs: dict[asyncio.Queue[dict[str, Any]], asyncio.AbstractEventLoop] = {}
        self._lock = threading.Lock()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_MAX)
        with self._lock:
            self._subs[q] = asyncio.get_running_loop()
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        with self._lock:
            self._subs.pop(q, None)

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._subs)

    def close(self) -> None:
        """End every open stream (before the server stops, so none holds up its shutdown)."""
        self.publish([{"close": True}])

    def publish(self, events: list[dict[str, Any]]) -> None:
        """Called from any thread."""
        with self._lock:
            subs = list(self._subs.items())
        for q, loop in subs:
            for ev in events:
                try:
                    loop.call_soon_threadsafe(_offer, q, ev)
                except RuntimeError:  # the loop closed (server stopping)
                    break


def _offer(q: asyncio.Queue[dict[str, Any]], ev: dict[str, Any]) -> None:
    if q.full() or ev.get("close"):
        while not q.empty():
            q.get_nowait()
        q.put_nowait(ev if ev.get("close") else {"resync": True})
        return
    q.put_nowait(ev)
