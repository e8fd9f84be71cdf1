"""The bounded hand-over from paho's network threads to the feeder, taken in batches.

``queue.Queue`` takes a lock and signals a condition for every put and every get; at
thousands of messages a second those are a visible share of the main process. Here a put
is a deque append (atomic in CPython) plus, when the feeder sleeps, one event; a take
empties up to a batch at once. When the queue is full, ``put`` blocks the network thread:
the broker's flow control then holds further input (back-pressure, not loss).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchQueue(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: collections.deque[T] = collections.deque()
        self._ready = threading.Event()  # set after a put: the taker may sleep on it
        self._space = threading.Event()  # set after a take: a full put may sleep on it

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, wait_s: float, on_full: Callable[[], bool]) -> bool:
        """Append ``item``, waiting while the queue is full; ``on_full`` is asked every
        ``wait_s`` whether to go on waiting. False: given up, the item was not queued."""
        while len(self._items) >= self.maxsize:
            self._space.clear()
            if len(self._items) < self.maxsize:
                break  # a take came between the check and the clear
            if not self._space.wait(wait_s) and not on_full():
                return False
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
        self._space.set()
        return out
