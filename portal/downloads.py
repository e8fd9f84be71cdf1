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
from .timefmt import clock_text, day_text, iso_ms

CSV_COLUMNS = ("node", "name", "lat", "lon", "quantity", "unit", "time", "value")
SECONDARY_UNITS = {"hPa", "ug/m3", "ppm", "ppb", "mm", "cm", "km", "kWh", "Wh", "/100", "mV", "mA", "kW",
                   "km/h", "mm/h", "dBm", "ms", "min", "h"}  # docs/references.md §K.4.2


def _csv_line(fields: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", lineterminator="\n").writerow(fields)
    return buf.getvalue()


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
    clocks: dict[int, str] = {}  # time of day → text: regular intervals repeat a few hundred values
    day, day_str = -1, ""
    for view, s in selection:
        n = view.node
        prefix = _csv_line([n.dev_eui, n.name, "" if n.lat is None else n.lat, "" if n.lon is None else n.lon,
                            s.quantity, s.unit]).rstrip("\n") + ";"
        boolean = s.kind == "b"
        for chunk in catalog.storage.rows(s.id, start_ms, end_ms):
            out = []
            for t, v, vs in chunk:
                d, rem = divmod(t, 86_400_000)
                if d != day:
                    day, day_str = d, day_text(d)
                clock = clocks.get(rem)
                if clock is None:
                    if len(clocks) > 100_000:
                        clocks.clear()
                    clock = clocks[rem] = clock_text(rem)
                if vs is not None:
                    val = _csv_line([vs]).rstrip("\n")
                elif v is None:
                    val = ""
                elif boolean:
                    val = "true" if v else "false"
                else:
                    val = repr(v)
                out.append(f"{prefix}{day_str}{clock};{val}\n")
            yield "".join(out).encode()


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
