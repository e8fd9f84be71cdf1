"""A ``$filter`` tree on Observations → a SQL condition with bound parameters only, the same
meaning on SQLite and PostgreSQL (docs/portal.md §SensorThings API, "$filter semantics").

The statement's text comes only from this module's constants; every literal of the request is
a ``?`` parameter. Each comparison is two-valued (never SQL NULL), so ``not`` means what it
says: a comparison is true only for rows whose value has the literal's type (a number, a
boolean, a string, a date/time), ``eq null`` is true for a missing result (a failed sensor),
``ne null`` for a present one.

Tables: ``obs o`` joined with ``series s`` (docs/portal.md §Storage).
"""

from __future__ import annotations

import json
from typing import Any

from .filter import OPS, And, Compare, DateTime, Expr, FilterError, Literal, Not, Or

SQL_OP = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
assert set(SQL_OP) == set(OPS)
INT64 = 2**63 - 1

# the result as each type (NULL when the row's result is not of that type or missing)
RESULT_NUMBER = "(CASE WHEN s.kind = 'n' AND o.vs IS NULL THEN o.v END)"
RESULT_BOOL = "(CASE WHEN s.kind = 'b' AND o.vs IS NULL THEN o.v END)"
RESULT_STRING = "(CASE WHEN s.kind = 's' AND o.vs <> 'invalid' THEN o.vs END)"
RESULT_NULL = "(COALESCE(o.vs, '') = 'invalid' OR (o.v IS NULL AND o.vs IS NULL))"

# Observation properties a filter may name → (SQL expression, the literal type it takes)
OBS_PROPS: dict[str, tuple[str, str]] = {
    "phenomenonTime": ("o.t", "time"),
    "resultTime": ("o.t", "time"),
    "Datastream/@iot.id": ("o.series_id", "int"),
    "Datastream/Thing/@iot.id": ("s.dev_eui", "text"),
    "FeatureOfInterest/@iot.id": ("s.dev_eui", "text"),
    "Datastream/ObservedProperty/@iot.id": ("s.quantity", "text"),
    "Datastream/ObservedProperty/name": ("s.quantity", "text"),
}
FILTER_PROPERTIES = ("result", "@iot.id", *OBS_PROPS)


def parse_obs_id(text: str) -> tuple[int, int] | None:
    """An Observation id ``{datastream}-{time in ms}`` → (series id, ms), None if it is not one."""
    a, sep, b = text.partition("-")
    if not sep or not (a.isascii() and a.isdigit() and b.isascii() and b.isdigit()) or len(a) > 18 or len(b) > 18:
        return None
    return int(a), int(b)


class Where:
    """Collects the SQL text and its parameters."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.params: list[Any] = []

    def text(self, col: str) -> str:
        """Code-point order on both backends (SQLite's BINARY; PostgreSQL's "C" collation)."""
        return f'{col} COLLATE "C"' if self.dialect == "postgresql" else col

    def cmp(self, col: str, op: str, value: Any) -> str:
        self.params.append(value)
        return f"({col} IS NOT NULL AND {col} {SQL_OP[op]} ?)"

    def expr(self, e: Expr) -> str:
        if isinstance(e, And):
            return f"({self.expr(e.left)} AND {self.expr(e.right)})"
        if isinstance(e, Or):
            return f"({self.expr(e.left)} OR {self.expr(e.right)})"
        if isinstance(e, Not):
            return f"(NOT {self.expr(e.expr)})"
        return self.compare(e)

    def compare(self, c: Compare) -> str:
        path, op, v = c.prop.path, c.op, c.value
        if path == "result":
            return self.result(op, v)
        if path == "@iot.id":
            return self.obs_id(op, v)
        hit = OBS_PROPS.get(path)
        if hit is None:
            raise FilterError(f"unknown or unsupported property {path!r} for Observations "
                              f"(supported: {', '.join(FILTER_PROPERTIES)})")
        col, kind = hit
        if v is None:
            if op not in ("eq", "ne"):
                raise FilterError(f"{path}: null can only be compared with eq or ne")
            return "(1 = 0)" if op == "eq" else "(1 = 1)"  # these properties are never null
        if kind == "time":
            if not isinstance(v, DateTime):
                raise FilterError(f"{path} is compared with a date/time such as 2026-01-01T00:00:00Z")
            return self.cmp(col, op, v.ms)
        if kind == "int":
            if not (isinstance(v, int) and not isinstance(v, bool)) or abs(v) > INT64:
                raise FilterError(f"{path} is compared with an integer")
            return self.cmp(col, op, v)
        if not isinstance(v, str):
            raise FilterError(f"{path} is compared with a string in single quotes")
        return self.cmp(self.text(col), op, v)

    def result(self, op: str, v: Literal) -> str:
        if v is None:
            if op not in ("eq", "ne"):
                raise FilterError("result: null can only be compared with eq or ne")
            return RESULT_NULL if op == "eq" else f"(NOT {RESULT_NULL})"
        if isinstance(v, bool):
            return self.cmp(RESULT_BOOL, op, 1.0 if v else 0.0)
        if isinstance(v, (int, float)):
            return self.cmp(RESULT_NUMBER, op, float(v))
        if isinstance(v, str):
            return self.cmp(self.text(RESULT_STRING), op, v)
        raise FilterError("result is compared with a number, true/false, a string or null")

    def obs_id(self, op: str, v: Literal) -> str:
        key = parse_obs_id(v) if isinstance(v, str) else None
        if key is None:
            raise FilterError("an Observation @iot.id is a string '{datastream id}-{time in ms}'")
        sid, t = key
        if op == "eq":
            self.params += [sid, t]
            return "(o.series_id = ? AND o.t = ?)"
        if op == "ne":
            self.params += [sid, t]
            return "(NOT (o.series_id = ? AND o.t = ?))"
        strict = {"gt": ">", "ge": ">", "lt": "<", "le": "<"}[op]
        self.params += [sid, sid, t]
        return f"(o.series_id {strict} ? OR (o.series_id = ? AND o.t {SQL_OP[op]} ?))"


def narrow(e: Expr | None, series: dict[int, tuple[str, str]]) -> set[int] | None:
    """The series a filter can match at most (None: any), from its ``eq`` comparisons on the
    Datastream, its Thing or FeatureOfInterest, its ObservedProperty or an Observation id, so
    the query reads those series' rows through the primary key instead of scanning every
    public series. ``series``: id → (DevEUI, quantity). Only narrows; the condition itself is
    still applied in SQL."""
    if e is None or isinstance(e, Not):
        return None
    if isinstance(e, And):
        a, b = narrow(e.left, series), narrow(e.right, series)
        return b if a is None else (a if b is None else a & b)
    if isinstance(e, Or):
        a, b = narrow(e.left, series), narrow(e.right, series)
        return None if a is None or b is None else a | b
    if e.op != "eq":
        return None
    path, v = e.prop.path, e.value
    if path == "Datastream/@iot.id" and isinstance(v, int) and not isinstance(v, bool):
        return {v} & set(series)
    if path == "@iot.id" and isinstance(v, str) and (key := parse_obs_id(v)) is not None:
        return {key[0]} & set(series)
    if path in ("Datastream/Thing/@iot.id", "FeatureOfInterest/@iot.id") and isinstance(v, str):
        return {sid for sid, (dev, _) in series.items() if dev == v}
    if path in ("Datastream/ObservedProperty/@iot.id", "Datastream/ObservedProperty/name") and isinstance(v, str):
        return {sid for sid, (_, q) in series.items() if q == v}
    return None


def series_in(series: tuple[int, ...], dialect: str) -> tuple[str, list[Any]]:
    """The rows of these (public) series: one parameter however many there are (a list of
    thousands of ``?`` would pass SQLite's variable limit, 32,766)."""
    if len(series) == 1:
        return "o.series_id = ?", [series[0]]
    if dialect == "postgresql":
        return "o.series_id = ANY(?)", [list(series)]
    return "o.series_id IN (SELECT value FROM json_each(?))", [json.dumps(list(series))]


def where(e: Expr | None, dialect: str) -> tuple[str, list[Any]]:
    """(condition, parameters); ``1 = 1`` without a filter."""
    if e is None:
        return "1 = 1", []
    w = Where(dialect)
    return w.expr(e), w.params


# $orderby keys for Observations → ORDER BY terms (ties are always broken by the id)
ORDER_KEYS = {
    "phenomenonTime": ["o.t"],
    "resultTime": ["o.t"],
    "@iot.id": ["o.series_id", "o.t"],
    # rows without a numeric result sort after every number (before them when descending)
    "result": [f"(CASE WHEN {RESULT_NUMBER} IS NULL AND {RESULT_BOOL} IS NULL THEN 1 ELSE 0 END)", "o.v"],
    "Datastream/@iot.id": ["o.series_id"],
}


def order_by(keys: list[tuple[str, bool]]) -> str:
    """``keys``: (property, descending) pairs, already checked against ORDER_KEYS."""
    terms = [f"{t} {'DESC' if desc else 'ASC'}" for k, desc in keys for t in ORDER_KEYS[k]]
    return ", ".join([*terms, "o.series_id ASC", "o.t ASC"])
