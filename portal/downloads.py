"""Streamed open-data files: CSV and SenML JSON, any range, no row or day cap.

Rows come from the store in keyset-paged chunks (Storage.rows), so memory stays flat and no
transaction stays open while a slow client reads.

CSV (docs/portal.md §Downloads; conventions in docs/references.md §R.G): UTF-8 without BOM,
``;`` as delimiter as in the Sensor.Community archive, ``.`` as decimal mark, RFC 4180
quoting, times ISO 8601 in UTC, one header row after ``#`` comment lines that carry the
licence and the source note. SenML JSON (RFC 8428, docs/references.md §K): one record per
observation with an absolute ``t``; ``bn`` names the node.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson

from .catalog import Catalog, NodeView
from .storage import SeriesInfo
from .storage.base import value_of
from .timefmt import iso_ms

CSV_COLUMNS = ("node", "name", "lat", "lon", "quantity", "unit", "time", "value")
SECONDARY_UNITS = {"hPa", "ug/m3", "ppm", "ppb", "mm", "cm", "km", "kWh", "Wh", "/100", "mV", "mA", "kW",
                   "km/h", "mm/h", "dBm", "ms", "min", "h"}  # docs/references.md §K.4.2


def _csv_line(fields: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", lineterminator="\n").writerow(fields)
    return buf.getvalue()


def _csv_value(kind: str, row: tuple[int, Any, Any]) -> str:
    v = value_of(kind, row)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return "" if v is None else _csv_line([v]).rstrip("\n")


def csv_stream(catalog: Catalog, selection: list[tuple[NodeView, SeriesInfo]], start_ms: int, end_ms: int,
               query: str) -> Iterator[bytes]:
    lic = catalog.licence()
    ds = catalog.cfg.dataset
    head = [
        f"# {ds.title} / {ds.title_en}",
        f"# Lizenz / licence: {lic['name']} ({lic['id']}), {lic['url']}",
        f"# Quellenvermerk / attribution: {lic['attribution']}",
        "# Spalten / columns: node = DevEUI; name; lat, lon = WGS 84 (private nodes: centre of a ~100 m grid "
        "cell); quantity = SenML name; unit = SenML unit; time = ISO 8601 UTC; value = number, true/false or text "
        "('invalid' = sensor failed)",
        f"# Abfrage / query: {query or '(all)'}; von / from {iso_ms(start_ms)} bis / to {iso_ms(end_ms)}",
    ]
    yield ("\n".join(h.replace("\n", " ").replace("\r", " ") for h in head) + "\n" + _csv_line(list(CSV_COLUMNS))
           ).encode()
    for view, s in selection:
        n = view.node
        prefix = _csv_line([n.dev_eui, n.name, "" if n.lat is None else n.lat, "" if n.lon is None else n.lon,
                            s.quantity, s.unit]).rstrip("\n") + ";"
        kind = s.kind
        for chunk in catalog.storage.rows(s.id, start_ms, end_ms):
            yield "".join([f"{prefix}{iso_ms(r[0])};{_csv_value(kind, r)}\n" for r in chunk]).encode()


def senml_stream(catalog: Catalog, selection: list[tuple[NodeView, SeriesInfo]], start_ms: int,
                 end_ms: int) -> Iterator[bytes]:
    secondary = any(s.unit in SECONDARY_UNITS for _, s in selection)
    yield b"["
    first = True
    for view, s in selection:
        base: dict[str, Any] = {"bn": f"urn:dev:mac:{view.node.dev_eui}:"}
        for chunk in catalog.storage.rows(s.id, start_ms, end_ms):
            parts: list[bytes] = []
            for r in chunk:
                rec: dict[str, Any] = {**base, "n": s.quantity}
                base = {}
                if first and secondary and not parts:
                    rec = {"bver": 26, **rec}  # RFC 9100 "Secondary Units" feature (docs/codec.md §7)
                if s.unit:
                    rec["u"] = s.unit
                rec["t"] = r[0] / 1000
                v = value_of(s.kind, r)
                rec["vb" if isinstance(v, bool) else ("vs" if isinstance(v, str) else "v")] = v
                parts.append(orjson.dumps(rec))
            if parts:
                yield (b"" if first else b",") + b",".join(parts)
                first = False
    yield b"]"
