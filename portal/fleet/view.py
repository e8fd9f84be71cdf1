"""The fleet's data for the pages and the API: every node the portal has heard of, public or
private, assessed by ``health`` (docs/portal.md §Fleet view)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..registry import public_view
from ..storage import Point, Storage
from .health import NodeHealth, assess, ordered
from .store import FleetStore

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class NodeDetail:
    health: NodeHealth
    history: list[tuple[int, str, dict[str, Any]]]
    battery: list[Point]
    commands: list[dict[str, Any]]


class Fleet:
    def __init__(self, cfg: Config, storage: Storage, store: FleetStore) -> None:
        self.cfg = cfg
        self.storage = storage
        self.store = store

    def _name(self, dev: str, meta: dict[str, Any]) -> tuple[str, bool]:
        entry = self.cfg.nodes.get(dev)
        pub = public_view(dev, entry, meta, unlisted_public=self.cfg.unlisted_public)
        name = (entry.name if entry and entry.name else None) or (pub.name if pub else None) or meta.get("name")
        return (name if isinstance(name, str) and name else dev), pub is not None

    def _battery(self, series_id: int | None, now_ms: int) -> list[tuple[int, float]]:
        if series_id is None:
            return []
        start = now_ms - int(self.cfg.fleet.battery_window_h * HOUR_MS)
        return [(p.t_ms, p.mean) for p in self.storage.points(series_id, start, now_ms + HOUR_MS, "hour")]

    def overview(self, now_ms: int) -> list[NodeHealth]:
        """Every node, in a fixed number of queries (not one per node)."""
        fleet = self.store.nodes()
        invalid: dict[str, list[str]] = {}
        for s in self.storage.series():
            if s.last_vs == "invalid":
                invalid.setdefault(s.dev_eui, []).append(s.quantity)
        battery = self.store.battery_hourly(now_ms - int(self.cfg.fleet.battery_window_h * HOUR_MS))
        rows = self.store.meta_ends(now_ms - DAY_MS)
        out = []
        for rec in self.storage.nodes():
            out.append(self._assess(rec.dev_eui, rec.meta, rec.last_seen_ms, fleet.get(rec.dev_eui),
                                    battery.get(rec.dev_eui, []), rows.get(rec.dev_eui, []),
                                    invalid.get(rec.dev_eui, []), now_ms))
        return ordered(out)

    def _assess(self, dev: str, meta: dict[str, Any], seen: int | None,
                fleet: tuple[int | None, int | None, dict[str, Any] | None] | None,
                battery: list[tuple[int, float]], meta_rows: list[dict[str, Any]], invalid: list[str],
                now_ms: int) -> NodeHealth:
        samples, status_t, status = fleet or (None, None, None)
        ls = meta.get("last_seen")
        if isinstance(ls, (int, float)) and not isinstance(ls, bool):
            seen = max(seen or 0, round(ls * 1000))
        name, public = self._name(dev, meta)
        return assess(self.cfg.fleet, dev_eui=dev, name=name, public=public, last_seen_ms=seen, meta=meta,
                      status=status, status_t=status_t, samples=samples, battery=battery, meta_rows=meta_rows,
                      invalid=invalid, now_ms=now_ms)

    def known(self, dev: str) -> bool:
        return self.storage.node(dev) is not None

    def node(self, dev: str, now_ms: int, days: int = 7) -> NodeDetail | None:
        rec = self.storage.node(dev)
        if rec is None:
            return None
        series = self.storage.series(dev)
        bat = next((s for s in series if s.quantity == "battery_voltage"), None)
        invalid = [s.quantity for s in series if s.last_vs == "invalid"]
        since = now_ms - days * DAY_MS
        history = self.store.history(dev, since)
        day = [doc for t, src, doc in reversed(history) if src == "meta" and t >= now_ms - DAY_MS]
        meta_rows = day[:1] + day[-1:] if len(day) > 1 else day  # as the overview: first and newest
        health = self._assess(dev, rec.meta, rec.last_seen_ms, self.store.nodes().get(dev),
                              self._battery(bat.id if bat else None, now_ms), meta_rows, invalid, now_ms)
        points = self.storage.points(bat.id, since, now_ms + HOUR_MS, "hour") if bat else []
        return NodeDetail(health, history, points, self.store.commands_of(dev))
