"""Joins of devices the bridge has not seen an uplink from yet (no I/O).

An OTAA node joins before its first uplink, so its join event arrives for a device without
state. The join's time is held here until that uplink comes and then lands in ``meta`` as
``joined_at``. The table is bounded: a flood of joins for random DevEUIs evicts the oldest
entries instead of growing memory (docs/bridge.md §3).
"""

from __future__ import annotations

from collections import OrderedDict

JOINS_MAX = 10_000  # a city's node count; a join older than 10,000 other joins is forgotten


class JoinTable:
    """DevEUI -> join time (Unix seconds), at most ``size`` entries, oldest out first."""

    def __init__(self, size: int = JOINS_MAX) -> None:
        if size < 1:
            raise ValueError("a join table holds at least one entry")
        self.size = size
        self._joins: OrderedDict[str, float] = OrderedDict()
        self.evicted = 0

    def remember(self, dev_eui: str, joined_at: float) -> None:
        """Keep the newest join of a device; a rejoin moves it to the young end."""
        self._joins.pop(dev_eui, None)
        self._joins[dev_eui] = joined_at
        if len(self._joins) > self.size:
            self._joins.popitem(last=False)
            self.evicted += 1

    def take(self, dev_eui: str) -> float | None:
        """The remembered join time of a device, removed from the table (None: none kept)."""
        return self._joins.pop(dev_eui, None)

    def __len__(self) -> int:
        return len(self._joins)
