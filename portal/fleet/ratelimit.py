"""Login limits with bounded memory (docs/portal.md §Fleet view, security).

A key (an account name, a client address) may fail ``limit`` times per ``window_s``; then it
is refused until its oldest failure leaves the window. Each key keeps at most ``limit``
times, and at most ``max_keys`` keys are kept (the least recently failed goes first), so a
flood of attempts from random addresses cannot grow memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque


class FailureLimiter:
    def __init__(self, limit: int, window_s: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._keys: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        with self._lock:
            times = self._keys.get(key)
            if times is None:
                return 0.0
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if not times:
                del self._keys[key]
                return 0.0
            if len(times) < self.limit:
                return 0.0
            return max(1e-6, times[0] + self.window_s - now)  # refused: never 0 (float rounding)

    def failed(self, key: str, now: float) -> None:
        with self._lock:
            times = self._keys.get(key)
            if times is None:
                while len(self._keys) >= self.max_keys:
                    self._keys.popitem(last=False)
                times = self._keys[key] = deque(maxlen=self.limit)
            else:
                self._keys.move_to_end(key)
            times.append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)
