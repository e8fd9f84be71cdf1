"""``$filter`` property tests: random expression trees, rendered as text, give the same
Observations from the portal (SQL on SQLite and PostgreSQL) as a reference evaluation in
Python over the same rows; and the parser's own properties (bounded, typed errors)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from portal.app import create_app
from portal.catalog import Catalog
from portal.live import Hub
from portal.sta import filter as flt
from portal.storage import Storage

from .helpers import CITY, HIDDEN, MAKER, OPTED, T0, cfg
from .sta_data import TEXTS, Row, fill, rows


# ---- the reference: a tree of its own, rendered to text and evaluated in Python ------------------
@dataclass(frozen=True)
class Cmp:
    prop: str
    op: str
    lit: Any  # ("num", x) | ("bool", b) | ("str", s) | ("null",) | ("time", ms, text) | ("oid", sid, t) | ("int", i)
    flipped: bool


@dataclass(frozen=True)
class Node:
    kind: str  # "and" | "or" | "not"
    args: tuple[Any, ...]


PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4}
FLIP = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


def lit_text(lit: tuple[Any, ...]) -> str:
    k = lit[0]
    if k == "num":
        return repr(lit[1]) if isinstance(lit[1], float) else str(lit[1])
    if k == "bool":
        return "true" if lit[1] else "false"
    if k == "str":
        return "'" + lit[1].replace("'", "''") + "'"
    if k == "null":
        return "null"
    if k == "time":
        return str(lit[2])
    if k == "oid":
        return f"'{lit[1]}-{lit[2]}'"
    return str(lit[1])


def render(e: Any, parent: int = 0, parens: bool = False) -> str:
    if isinstance(e, Cmp):
        text = (f"{lit_text(e.lit)} {FLIP[e.op]} {e.prop}" if e.flipped else f"{e.prop} {e.op} {lit_text(e.lit)}")
        mine = PREC["cmp"]
    elif e.kind == "not":
        text, mine = "not " + render(e.args[0], PREC["not"], parens), PREC["not"]
    else:
        mine = PREC[e.kind]
        text = f" {e.kind} ".join(render(a, mine, parens) for a in e.args)
    return f"({text})" if mine < parent or (parens and not isinstance(e, Cmp)) or (
        e.kind == "not" if isinstance(e, Node) and parent == PREC["not"] else False) else text


def compare(have: Any, op: str, want: Any) -> bool:
    return {"eq": have == want, "ne": have != want, "gt": have > want, "ge": have >= want, "lt": have < want,
            "le": have <= want}[op]


def holds(e: Any, r: Row) -> bool:
    if isinstance(e, Node):
        if e.kind == "not":
            return not holds(e.args[0], r)
        parts = [holds(a, r) for a in e.args]
        return all(parts) if e.kind == "and" else any(parts)
    kind = e.lit[0]
    if e.prop == "result":
        res = r.result
        if kind == "null":
            return (res is None) == (e.op == "eq")
        if kind == "bool":
            return isinstance(res, bool) and compare(int(res), e.op, int(e.lit[1]))
        if kind == "num":
            return isinstance(res, float) and not isinstance(res, bool) and compare(res, e.op, float(e.lit[1]))
        return isinstance(res, str) and compare(res, e.op, e.lit[1])
    if e.prop in ("phenomenonTime", "resultTime"):
        return compare(r.t, e.op, e.lit[1])
    if e.prop == "@iot.id":
        return compare((r.sid, r.t), e.op, (e.lit[1], e.lit[2]))
    if e.prop == "Datastream/@iot.id":
        return compare(r.sid, e.op, e.lit[1])
    have = {"Datastream/Thing/@iot.id": r.dev, "FeatureOfInterest/@iot.id": r.dev,
            "Datastream/ObservedProperty/name": r.quantity}[e.prop]
    return compare(have, e.op, e.lit[1])


def order_key(keys: list[tuple[str, bool]]) -> Any:
    def cmp(a: Row, b: Row) -> int:
        for prop, desc in keys:
            if prop in ("phenomenonTime", "resultTime"):
                ka, kb = (a.t,), (b.t,)
            elif prop == "@iot.id":
                ka, kb = (a.sid, a.t), (b.sid, b.t)
            else:  # result: rows without a number or boolean sort after every number
                def k(r: Row) -> tuple[int, float]:
                    res = r.result
                    return (0, float(res)) if isinstance(res, (bool, float)) else (1, 0.0)
                ka, kb = k(a), k(b)
            if ka != kb:
                return (1 if ka > kb else -1) * (-1 if desc else 1)
        return (a.sid, a.t) > (b.sid, b.t) or -((a.sid, a.t) < (b.sid, b.t))
    return functools.cmp_to_key(cmp)


# ---- strategies ---------------------------------------------------------------------------------
OPS = st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"])
NUMBERS = st.one_of(st.integers(-20, 120), st.floats(-20, 120, allow_nan=False).map(lambda x: round(x, 3)),
                    st.sampled_from([0, -5.0, 12.02, 0.5, -2.5, 1e2, 40.0, 1.5e-3]))
STRINGS = st.one_of(st.sampled_from([*TEXTS, "first", "O", "Sü", "z", "a"]),
                    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=6))


def times() -> st.SearchStrategy[tuple[str, float, str]]:
    def make(offset_ms: int, zone_min: int, style: int) -> tuple[str, float, str]:
        ms = T0 + offset_ms
        dt = datetime.fromtimestamp(ms / 1000, timezone(timedelta(minutes=zone_min)))
        if style == 0:
            text = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}"
        elif style == 1:
            text = dt.strftime("%Y-%m-%dT%H:%M:%S")
            ms -= ms % 1000
        else:
            text = dt.strftime("%Y-%m-%dT%H:%M")
            ms -= ms % 60_000
        zone = "Z" if zone_min == 0 else dt.strftime("%z")[:3] + ":" + dt.strftime("%z")[3:]
        return ("time", ms, text + zone)
    return st.builds(make, st.integers(-3_600_000, 40_000_000), st.sampled_from([0, 0, 60, -90, 120]),
                     st.integers(0, 2))


def leaves(sids: list[int]) -> st.SearchStrategy[Cmp]:
    eqne = st.sampled_from(["eq", "ne"])
    result = st.one_of(
        st.builds(lambda op, v: ("result", op, ("num", v)), OPS, NUMBERS),
        st.builds(lambda op, v: ("result", op, ("bool", v)), OPS, st.booleans()),
        st.builds(lambda op, v: ("result", op, ("str", v)), OPS, STRINGS),
        st.builds(lambda op: ("result", op, ("null",)), eqne),
    )
    other = st.one_of(
        st.builds(lambda p, op, v: (p, op, v), st.sampled_from(["phenomenonTime", "resultTime"]), OPS, times()),
        st.builds(lambda op, s, i: ("@iot.id", op, ("oid", s, T0 + i * 600_000 + (i % 3) * 7)), OPS,
                  st.sampled_from(sids), st.integers(-1, 61)),
        st.builds(lambda op, s: ("Datastream/@iot.id", op, ("int", s)), OPS, st.sampled_from([*sids, 0, 999])),
        st.builds(lambda p, op, d: (p, op, ("str", d)), st.sampled_from(["Datastream/Thing/@iot.id",
                  "FeatureOfInterest/@iot.id"]), OPS, st.sampled_from([CITY, MAKER, OPTED, HIDDEN, "70b3"])),
        st.builds(lambda op, q: ("Datastream/ObservedProperty/name", op, ("str", q)), OPS,
                  st.sampled_from(["temperature", "humidity", "occupancy", "note", "tem"])),
    )
    return st.builds(lambda t, f: Cmp(t[0], t[1], t[2], f), st.one_of(result, other), st.booleans())


def trees(sids: list[int]) -> st.SearchStrategy[Any]:
    return st.recursive(leaves(sids), lambda kids: st.one_of(
        st.builds(lambda a: Node("not", (a,)), kids),
        st.builds(lambda k, xs: Node(k, tuple(xs)), st.sampled_from(["and", "or"]), st.lists(kids, min_size=2,
                                                                                             max_size=3)),
    ), max_leaves=8)


ORDERS = st.lists(st.tuples(st.sampled_from(["phenomenonTime", "resultTime", "result", "@iot.id"]), st.booleans()),
                  max_size=2)


@pytest.fixture
def data(storage: Storage) -> Iterator[tuple[TestClient, list[Row]]]:
    fill(storage)
    app = create_app(Catalog(cfg(base_url="http://testserver"), storage), Hub())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, list(rows(storage))


def fetch_all(client: TestClient, params: dict[str, str]) -> tuple[list[str], int]:
    r = client.get("/v1.1/Observations", params=params)
    assert r.status_code == 200, (params, r.text[:400])
    doc = r.json()
    count, ids = doc["@iot.count"], [o["@iot.id"] for o in doc["value"]]
    while "@iot.nextLink" in doc:
        r = client.get(doc["@iot.nextLink"])
        assert r.status_code == 200, r.text[:400]
        doc = r.json()
        ids += [o["@iot.id"] for o in doc["value"]]
    return ids, count


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(st.data())
def test_filter_answers_equal_the_reference(data: tuple[TestClient, list[Row]], draw: st.DataObject) -> None:
    client, table = data
    sids = sorted({r.sid for r in table})
    tree = draw.draw(trees(sids), "tree")
    text = render(tree, parens=draw.draw(st.booleans(), "parens"))
    keys = draw.draw(ORDERS, "orderby")
    top = draw.draw(st.sampled_from([7, 100, 1000]), "top")
    params = {"$filter": text, "$count": "true", "$top": str(top)}
    if keys:
        params["$orderby"] = ",".join(f"{k} {'desc' if d else 'asc'}" for k, d in keys)
    got, count = fetch_all(client, params)
    want = sorted((r for r in table if holds(tree, r)), key=order_key(keys))
    assert count == len(want), text
    assert got == [f"{r.sid}-{r.t}" for r in want], (text, keys)


def test_the_reference_sees_every_kind() -> None:
    """The property test's rows have numbers, booleans, strings and failed sensors."""
    assert {"ok", "O'Brien", "invalid"} <= set(TEXTS)


# ---- the parser --------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_parser_gives_a_tree_or_a_filter_error(text: str) -> None:
    try:
        flt.parse(text)
    except flt.FilterError as e:
        assert e.position is None or 0 <= e.position <= len(text)


@pytest.mark.parametrize(("text", "pos"), [("result eq 1 and", 15), ("result eq 'x", 10), ("result eq 1 )", 12),
                                           ("round(result) eq 1", 0), ("result eq 1 or # 2", 15),
                                           ("(result eq 1", 12), ("result gt 2026-13-01T00:00:00Z", 10)])
def test_parser_errors_name_the_position(text: str, pos: int) -> None:
    with pytest.raises(flt.FilterError) as e:
        flt.parse(text)
    assert e.value.position == pos and f"position {pos}" in e.value.detail


def test_parser_precedence_and_literals() -> None:
    t = flt.parse("result eq 1 or not result gt 2.5 and phenomenonTime lt 2026-01-01T01:00:00.5+01:00")
    assert isinstance(t, flt.Or) and isinstance(t.right, flt.And) and isinstance(t.right.left, flt.Not)
    c = t.right.right
    assert isinstance(c, flt.Compare) and isinstance(c.value, flt.DateTime) and c.value.ms == T0 + 500
    flipped = flt.parse("3 lt result")
    assert flipped == flt.Compare(flt.Prop("result"), "gt", 3)
    assert flt.parse("result eq 'it''s'") == flt.Compare(flt.Prop("result"), "eq", "it's")


def test_parser_bounds() -> None:
    flt.parse("(" * flt.MAX_DEPTH + "result eq 1" + ")" * flt.MAX_DEPTH)
    with pytest.raises(flt.FilterError, match="nested"):
        flt.parse("(" * (flt.MAX_DEPTH + 1) + "result eq 1" + ")" * (flt.MAX_DEPTH + 1))
    with pytest.raises(flt.FilterError, match="comparisons"):
        flt.parse(" or ".join(["result eq 1"] * (flt.MAX_COMPARISONS + 1)))
    with pytest.raises(flt.FilterError, match="longer"):
        flt.parse("result eq '" + "a" * flt.MAX_LENGTH + "'")
