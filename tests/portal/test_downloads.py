"""The CSV stream's fast formatter (portal/downloads.py: cached time and number texts, pieces)
against a plain reference formatter, on both backends: same bytes for any values, pieces
bounded, caches bounded."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal import downloads
from portal.catalog import Catalog
from portal.senml import Observation
from portal.storage import Pack, Storage
from portal.timefmt import iso_ms

from .helpers import CITY, MAKER, OPTED, T0, cfg

NOW = T0 + 400 * 86_400_000


def reference_rows(catalog: Catalog, dev: str, start: int, end: int) -> list[str]:
    """What every row must be: the fields through csv.writer, the time through iso_ms."""
    view = catalog.node(dev)
    assert view is not None
    out = []
    for s in view.series:
        for chunk in catalog.storage.rows(s.id, start, end):
            for t, v, vs in chunk:
                val: Any = vs if vs is not None else ("" if v is None else (
                    ("true" if v else "false") if s.kind == "b" else repr(v)))
                buf = io.StringIO()
                csv.writer(buf, delimiter=";", lineterminator="\n").writerow(
                    [dev, view.node.name, "" if view.node.lat is None else view.node.lat,
                     "" if view.node.lon is None else view.node.lon, s.quantity, s.unit, iso_ms(t), val])
                out.append(buf.getvalue())
    return out


def stream_rows(catalog: Catalog, dev: str, start: int, end: int, piece: int) -> tuple[str, list[bytes]]:
    view = catalog.node(dev)
    assert view is not None
    parts = list(downloads.csv_stream(catalog, [(view, s) for s in view.series], start, end, "q", piece=piece))
    text = b"".join(parts).decode()
    head = "\n".join(text.split("\n", 6)[:6]) + "\n"  # 5 comment lines and the header (no quoted newline)
    return text[len(head):], parts


numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 21.4, 1e-7, 1e22]))
values = st.one_of(numbers.map(lambda v: ("n", v)), st.sampled_from([("s", "invalid")]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(values, min_size=1, max_size=300), piece=st.sampled_from([1, 100, 4096, 64 * 1024]))
def test_csv_rows_equal_the_reference_formatter(storage: Storage, data: list[tuple[str, Any]], piece: int) -> None:
    storage.ingest([Pack(CITY, [Observation("temperature", "Cel", T0 + i * 1000,
                                            **({"v": x} if k == "n" else {"vs": x}))])
                    for i, (k, x) in enumerate(data)], now_ms=NOW)
    storage.ingest([Pack(OPTED, [Observation("occupancy", "", T0 + i * 600_000, vb=i % 3 == 0)]) for i in range(50)]
                   + [Pack(MAKER, [Observation("note", "", T0, vs='a;"b"\nc')])], now_ms=NOW)
    catalog = Catalog(cfg(), storage)
    for dev in (CITY, OPTED, MAKER):
        got, parts = stream_rows(catalog, dev, 0, NOW, piece)
        assert got == "".join(reference_rows(catalog, dev, 0, NOW))
        assert all(len(p) <= max(piece, 4096) for p in parts[1:])


def test_csv_pieces_are_bounded_and_the_year_streams_in_many(storage: Storage) -> None:
    """A long series comes in pieces of at most PIECE_BYTES, never as one body."""
    steps = 20_000
    storage.ingest([Pack(CITY, [Observation("temperature", "Cel", T0 + i * 600_000, v=round(10 + i % 97 / 10, 1))])
                    for i in range(steps)], now_ms=NOW)
    catalog = Catalog(cfg(), storage)
    got, parts = stream_rows(catalog, CITY, 0, NOW, downloads.PIECE_BYTES)
    assert got.count("\n") == steps and got == "".join(reference_rows(catalog, CITY, 0, NOW))
    assert max(len(p) for p in parts) <= downloads.PIECE_BYTES
    assert len(parts) >= sum(map(len, parts)) // downloads.PIECE_BYTES


def test_text_caches_stay_bounded_and_correct() -> None:
    times, nums = downloads._TimeText(limit=8), downloads._NumberText(limit=8)
    for i in range(100):
        t = T0 + i * 86_400_123
        assert times(t) == iso_ms(t) and len(times.cache) <= 8 and len(times.clocks) <= 8
        assert nums(i / 7) == repr(i / 7) and len(nums.cache) <= 8
    assert nums(-0.0) == "-0.0" and nums(0.0) == "0.0" and not nums.cache.get(0.0)
