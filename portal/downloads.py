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

PIECE_BYTES = 64 * 1024  # what one yield sends: a few TCP segments, flat memory
CSV_COLUMNS = ("node", "name", "lat", "lon", "quantity", "unit", "time", "value")
SECONDARY_UNITS = {"hPa", "ug/m3", "ppm", "ppb", "mm", "cm", "km", "kWh", "Wh", "/100", "mV", "mA", "kW",
                   "km/h", "mm/h", "dBm", "ms", "min", "h"}  # docs/references.md §K.4.2


def _csv_line(fields: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", lineterminator="\n").writerow(fields)
    return buf.getvalue()


class _TimeText:
    """ISO 8601 text of observation times, cached by time: a download of several quantities of a
    node repeats the same times once per quantity, and regular intervals repeat the same times of
    day (the date part is cached per day). Bounded: cleared when it holds ``limit`` entries."""

    def __init__(self, limit: int = 1 << 17) -> None:
        self.limit = limit
        self.cache: dict[int, str] = {}
        self.clocks: dict[int, str] = {}
        self.day, self.day_str = -1, ""

    def __call__(self, t: int) -> str:
        d, rem = divmod(t, 86_400_000)
        if d != self.day:
            self.day, self.day_str = d, day_text(d)
        clock = self.clocks.get(rem)
        if clock is None:
            if len(self.clocks) >= self.limit:
                self.clocks.clear()
            clock = self.clocks[rem] = clock_text(rem)
        if len(self.cache) >= self.limit:
            self.cache.clear()
        text = self.cache[t] = self.day_str + clock
        return text


class _NumberText:
    """``repr`` of numbers, cached (sensor values repeat: a few thousand distinct values in a year
    of one quantity). Zero is never cached: 0.0 and -0.0 are equal keys with different texts."""

    def __init__(self, limit: int = 1 << 16) -> None:
        self.limit = limit
        self.cache: dict[float, str] = {}

    def __call__(self, v: float) -> str:
        text = repr(v)
        if v:
            if len(self.cache) >= self.limit:
                self.cache.clear()
            self.cache[v] = text
        return text


def _csv_value(boolean: bool, v: float | None, vs: str | None) -> str:
    """The value column of a row that is not a plain number (those take the fast path)."""
    if vs is not None:
        return _csv_line([vs]).rstrip("\n")
    if v is None:
        return ""
    if boolean:
        return "true" if v else "false"
    return repr(v)


def csv_stream(catalog: Catalog, selection: list[tuple[NodeView, SeriesInfo]], start_ms: int, end_ms: int,
               query: str, piece: int = PIECE_BYTES) -> Iterator[bytes]:
    """The CSV file in pieces of about ``piece`` bytes. Rows are formatted a store chunk at a time
    by one list comprehension, times and numbers come from caches (the common row is three dict
    look-ups and an f-string), a chunk is one ``join`` and ``encode``, then sent in pieces."""
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
    time_text, number_text = _TimeText(), _NumberText()
    cached, number = time_text.cache.get, number_text.cache.get
    for view, s in selection:
        n = view.node
        prefix = _csv_line([n.dev_eui, n.name, "" if n.lat is None else n.lat, "" if n.lon is None else n.lon,
                            s.quantity, s.unit]).rstrip("\n") + ";"
        boolean = s.kind == "b"
        for chunk in catalog.storage.rows(s.id, start_ms, end_ms):
            lines = [f"{prefix}{cached(t) or time_text(t)};{number(v) or number_text(v)}\n"
                     if vs is None and v is not None and not boolean
                     else f"{prefix}{cached(t) or time_text(t)};{_csv_value(boolean, v, vs)}\n"
                     for t, v, vs in chunk]
            data = "".join(lines).encode()
            for i in range(0, len(data), piece):
                yield data[i:i + piece]


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
