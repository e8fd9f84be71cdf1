"""bridge/inqueue.py: the input hand-over keeps order, blocks when full, gives up when told."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.inqueue import BatchQueue


@settings(max_examples=100, deadline=None)
@given(items=st.lists(st.integers(), max_size=200), limit=st.integers(1, 50))
def test_take_returns_everything_in_order_in_batches(items: list[int], limit: int) -> None:
    q: BatchQueue[int] = BatchQueue(len(items) + 1)
    for i in items:
        assert q.put(i, 1.0, lambda: False)
    got: list[int] = []
    while batch := q.take(limit, 0.0):
        assert len(batch) <= limit
        got += batch
    assert got == items and len(q) == 0


def test_a_full_queue_blocks_the_producer_until_a_take() -> None:
    q: BatchQueue[int] = BatchQueue(2)
    q.put(1, 1.0, lambda: False)
    q.put(2, 1.0, lambda: False)
    asked = threading.Event()
    done = threading.Event()

    def still_waiting() -> bool:
        asked.set()
        return True

    t = threading.Thread(target=lambda: (q.put(3, 0.05, still_waiting), done.set()))
    t.start()
    assert asked.wait(5) and not done.is_set() and len(q) == 2  # full: the producer waits
    assert q.take(10, 1.0) == [1, 2]
    assert done.wait(5)
    t.join(5)
    assert q.take(10, 1.0) == [3]


def test_a_full_queue_gives_up_when_told() -> None:
    q: BatchQueue[int] = BatchQueue(1)
    q.put(1, 1.0, lambda: False)
    assert not q.put(2, 0.01, lambda: False)
    assert q.take(10, 0.0) == [1]


def test_take_waits_for_the_first_item() -> None:
    q: BatchQueue[int] = BatchQueue(10)
    assert q.take(5, 0.01) == []
    t = threading.Timer(0.05, lambda: q.put(7, 1.0, lambda: False))
    t.start()
    assert q.take(5, 5.0) == [7]
    t.join()
