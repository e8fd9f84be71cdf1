"""The public view of the store: which nodes and series anyone may see (registry applied),
the shape of the API's node documents, and the licence block every response carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import Config
from .fleet.ingest import is_status_quantity
from .registry import PublicNode, public_view
from .storage import SeriesInfo, Storage
from .timefmt import iso_ms


@dataclass(frozen=True)
class NodeView:
    node: PublicNode
    last_seen_ms: int | None
    series: list[SeriesInfo]

    def quantity(self, q: str) -> SeriesInfo | None:
        return next((s for s in self.series if s.quantity == q), None)


def rounded(v: Any) -> Any:
    """Floats to 9 significant digits: the same text from SQLite and PostgreSQL sums."""
    return float(f"{v:.9g}") if isinstance(v, float) else v


class Catalog:
    def __init__(self, cfg: Config, storage: Storage) -> None:
        self.cfg = cfg
        self.storage = storage

    @property
    def dataset_uri(self) -> str:
        return f"{self.cfg.public_url}/api/v1/dataset"

    def licence(self) -> dict[str, str]:
        lic = self.cfg.licence
        return {"id": lic.id, "name": lic.name, "url": lic.url, "provider": lic.provider,
                "attribution": lic.attribution(self.dataset_uri)}

    def public(self) -> dict[str, tuple[PublicNode, int | None]]:
        """Public nodes and their last-seen times, without their series (cheap: one row per node)."""
        out: dict[str, tuple[PublicNode, int | None]] = {}
        for rec in self.storage.nodes():
            pub = public_view(rec.dev_eui, self.cfg.nodes.get(rec.dev_eui), rec.meta,
                              unlisted_public=self.cfg.unlisted_public)
            if pub is not None:
                out[rec.dev_eui] = (pub, rec.last_seen_ms)
        return out

    def nodes(self) -> dict[str, NodeView]:
        by_node: dict[str, list[SeriesInfo]] = {}
        for s in _public_series(self.storage.series()):
            by_node.setdefault(s.dev_eui, []).append(s)
        return {d: NodeView(pub, seen, by_node.get(d, [])) for d, (pub, seen) in self.public().items()}

    def node(self, dev_eui: str) -> NodeView | None:
        rec = self.storage.node(dev_eui)
        if rec is None:
            return None
        pub = public_view(dev_eui, self.cfg.nodes.get(dev_eui), rec.meta, unlisted_public=self.cfg.unlisted_public)
        return None if pub is None else NodeView(pub, rec.last_seen_ms, _public_series(self.storage.series(dev_eui)))


def _public_series(series: list[SeriesInfo]) -> list[SeriesInfo]:
    """Without the records of status frames (firmware, configuration errors, failed sensors…):
    those are fleet data, shown behind the fleet view's login only (docs/portal.md §Fleet view)."""
    return [s for s in series if not is_status_quantity(s.quantity)]


def series_doc(s: SeriesInfo) -> dict[str, Any]:
    return {"quantity": s.quantity, "unit": s.unit, "kind": {"n": "number", "b": "boolean", "s": "string"}[s.kind],
            "value": rounded(s.last_value()), "time": iso_ms(s.last_t) if s.last_t is not None else None}


def node_doc(v: NodeView, *, with_series: bool = True) -> dict[str, Any]:
    n = v.node
    doc: dict[str, Any] = {
        "id": n.dev_eui, "name": n.name, "owner": n.owner, "owner_name": n.owner_name or None,
        "description": n.description or None,
        "position": None if n.lat is None else {"lat": n.lat, "lon": n.lon,
                                                 "precision": "exact" if n.position_exact else "grid_100m"},
        "last_seen": iso_ms(v.last_seen_ms) if v.last_seen_ms is not None else None,
    }
    if with_series:
        doc["latest"] = [series_doc(s) for s in v.series]
    return doc
