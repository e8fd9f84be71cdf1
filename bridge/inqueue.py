"""The bounded hand-over from paho's network threads to the feeder, taken in batches.

``queue.Queue`` takes a lock and signals a condition for every put and every get; at
thousands of messages a second those are a visible share of the main process. Here a put
is a deque append (atomic in CPython) plus, when the feeder sleeps, one event; a take
empties up to a batch at once. When the queue is full (``maxsize`` items or ``max_bytes``
bytes by ``size``), ``put`` blocks the network thread: the broker's flow control then
holds further input (back-pressure, not loss). One item is always let in, whatever its size,
so the bound is ``max_bytes`` plus one item.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchQueue(Generic[T]):
    def __init__(self, maxsize: int, max_bytes: int = 0,
                 size: Callable[[T], int] | None = None) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes  # 0: bounded by count only
        self._size = size
        self.bytes = 0  # the queued items' sizes (read without a lock: a gauge)
        self._bytes_lock = threading.Lock()
        self._items: collections.deque[T] = collections.deque()
        self._ready = threading.Event()  # set after a put: the taker may sleep on it
        self._space = threading.Event()  # set after a take: a full put may sleep on it

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, wait_s: float, on_full: Callable[[], bool]) -> bool:
        """Append ``item``, waiting while the queue is full; ``on_full`` is asked every
        ``wait_s`` whether to go on waiting. False: given up, the item was not queued."""
        n = self._size(item) if self._size is not None else 0
        while self._full():
            self._space.clear()
            if not self._full():
                break  # a take came between the check and the clear
            if not self._space.wait(wait_s) and not on_full():
                return False
        if n:
            with self._bytes_lock:
                self.bytes += n
        self._items.append(item)
        if not self._ready.is_set():
            self._ready.set()
        return True

    def take(self, limit: int, wait_s: float) -> list[T]:
        """Up to ``limit`` items in order; waits up to ``wait_s`` for the first one."""
        items = self._items
        if not items:
            self._ready.clear()
            if not items and not self._ready.wait(wait_s):
                return []
        out = [items.popleft() for _ in range(min(limit, len(items)))]
        if self._size is not None:
            n = sum(map(self._size, out))
            with self._bytes_lock:
                self.bytes -= n
        self._space.set()
        return out

    def _full(self) -> bool:
        return len(self._items) >= self.maxsize or (
            self.max_bytes > 0 and self.bytes >= self.max_bytes and len(self._items) > 0)
