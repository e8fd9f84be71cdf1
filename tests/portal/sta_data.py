"""A store for the SensorThings tests: numbers (with a failed sensor), booleans, strings with
quotes, SQL metacharacters and non-ASCII letters, and a hidden node that must never appear."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from portal.storage import Storage

from .helpers import CITY, HIDDEN, MAKER, OPTED, T0, pack

NOW = T0 + 3 * 86_400_000
PUBLIC = (CITY, MAKER, OPTED)
TEXTS = ["ok", "O'Brien", "; DROP TABLE obs; --", "Süd", "", "a%b_c", "\u00e9t\u00e9", "ZZ", "invalid"]


def fill(storage: Storage) -> None:
    packs = []
    for i in range(60):
        t = T0 + i * 600_000 + (i % 3) * 7  # a few odd milliseconds
        packs.append(pack(CITY, t, temperature=round(-5 + i * 0.37, 2), humidity=float(40 + i % 9)))
        packs.append(pack(MAKER, t, temperature="invalid" if i % 11 == 5 else float(i % 13) - 2.5))
        packs.append(pack(OPTED, t, occupancy=i % 4 == 0))
        packs.append(pack(OPTED, t, note=TEXTS[i % len(TEXTS)] if i % len(TEXTS) else "first"))
        packs.append(pack(HIDDEN, t, temperature=99.0 + i))
    storage.ingest(packs, now_ms=NOW)


@dataclass(frozen=True)
class Row:
    sid: int
    t: int
    v: Any
    vs: Any
    kind: str
    dev: str
    quantity: str

    @property
    def result(self) -> Any:
        """What the standard calls the result: None for a failed sensor."""
        if self.vs == "invalid" or (self.v is None and self.vs is None):
            return None
        if self.vs is not None:
            return self.vs
        return bool(self.v) if self.kind == "b" else self.v


def rows(storage: Storage, devs: tuple[str, ...] = PUBLIC) -> Iterator[Row]:
    for s in storage.series():
        if s.dev_eui not in devs:
            continue
        for chunk in storage.rows(s.id, 0, 2**62):
            for t, v, vs in chunk:
                yield Row(s.id, t, v, vs, s.kind, s.dev_eui, s.quantity)
