"""The ``/v1.1`` service: resource paths and query options (docs/portal.md §SensorThings API).

Paths: the root; a collection ``Things``; an entity ``Things('…')`` / ``Datastreams(5)``;
navigation from an entity (``Things('…')/Datastreams``, ``Datastreams(5)/Observations``, as
deep as the chain goes); ``…/name`` and ``…/name/$value`` for a property; ``…/$ref``.

Query options, applied in the standard's order ($filter, $count, $orderby, $skip, $top, then
$select, $expand): ``$top`` (default 100, capped at 1000), ``$skip`` (at most 1,000,000),
``$count``, ``$orderby``, ``$select``, ``$expand`` (one level, with options in parentheses),
``$filter``. Errors have the OData JSON error body ``{"error": {"code", "message", "target"}}``:
400 for a bad option, 404 for an unknown entity or path, 501 for a standard option this server
does not implement.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..catalog import Catalog
from ..errors import QueryError
from . import filter as flt
from . import sql
from .entities import COLLECTIONS, NAV, Model, ObsScope, key_text

log = logging.getLogger("trosmart.portal.sta")

DEFAULT_TOP = 100
MAX_TOP = 1000
MAX_SKIP = 1_000_000
MODEL_TTL_S = 2.0  # how long a snapshot of the public nodes and series serves requests
EXPAND_PAGE = 100  # entities per page when each expands its Observations
MAX_PATH = 1000
OPTIONS = ("$filter", "$top", "$skip", "$count", "$orderby", "$select", "$expand", "$skiptoken")
NOT_IMPLEMENTED = ("$resultFormat", "$search", "$format", "$apply", "$compute", "$levels", "$index",
                   "$deltatoken", "$schemaversion", "$id")
# docs/references.md §R.F: the classes of 18-088 annex A; resource paths under the URI servers advertise
CONFORMANCE_BASE = "http://www.opengis.net/spec/iot_sensing/1.1/req/"
CONFORMANCE = [CONFORMANCE_BASE + c for c in (
    "datamodel/thing", "datamodel/location", "datamodel/datastream", "datamodel/sensor",
    "datamodel/observed-property", "datamodel/observation", "datamodel/feature-of-interest",
    "datamodel/entity-control-information", "resource-path/resource-path-to-entities")]

# re.ASCII: \d is 0-9 only, not every Unicode digit
_SEGMENT = re.compile(r"([A-Za-z]+)(?:\((\d{1,18}|'(?:[^']|'')*')\))?\Z", re.ASCII)
_ORDER = re.compile(r"\s*(@?[A-Za-z_][A-Za-z0-9_./@]*)(?:\s+((?i:asc|desc)))?\s*\Z", re.ASCII)


class StaError(QueryError):
    """A request the service answers with the OData error body; ``target`` names the option."""

    def __init__(self, message: str, status: int = 400, target: str | None = None) -> None:
        super().__init__(message, status)
        self.target = target


# ---- query options ---------------------------------------------------------------------------
class Options:
    def __init__(self, params: Mapping[str, str], *, nested: bool = False) -> None:
        if nested and "$expand" in params:
            raise StaError("$expand: only one level is supported (no $expand inside $expand)", 501, "$expand")
        for k in params:
            if k in NOT_IMPLEMENTED:
                raise StaError(f"{k} is not implemented by this server", 501, k)
            if k not in OPTIONS:
                raise StaError(f"unknown query option {k[:40]!r} (supported: {', '.join(OPTIONS)})", 400, k[:40])
        self.raw = dict(params)
        self.top = _int(params, "$top", DEFAULT_TOP, None)
        self.top = min(self.top, MAX_TOP)  # the standard caps a larger $top at the page size
        self.skip = _int(params, "$skip", 0, MAX_SKIP)
        token = params.get("$skiptoken")
        self.after = sql.parse_obs_id(token) if token is not None else None
        if token is not None and (self.after is None or "$orderby" in params or "$skip" in params):
            raise StaError("$skiptoken is the server's own paging mark: follow @iot.nextLink as it is",
                           target="$skiptoken")
        count = params.get("$count", "false")
        if count not in ("true", "false"):
            raise StaError("$count must be true or false", target="$count")
        self.count = count == "true"
        text = params.get("$filter")
        self.filter = flt.parse(text) if text is not None else None
        self.orderby = _orderby(params.get("$orderby"))
        self.select = _names(params.get("$select"), "$select")
        self.expand: dict[str, Options] = {}  # navigation property → its own options (one level)
        for item in _split_top(params.get("$expand"), ",", "$expand"):
            name, _, inner = item.partition("(")
            name = name.strip()
            if "/" in name:
                raise StaError(f"$expand: only one level is supported ({name[:40]!r})", 501, "$expand")
            if inner and not inner.rstrip().endswith(")"):
                raise StaError(f"$expand: ')' missing in {item[:40]!r}", target="$expand")
            sub: dict[str, str] = {}
            for part in _split_top(inner.rstrip()[:-1] if inner else None, ";", "$expand"):
                k, eq, v = part.partition("=")
                if not eq:
                    raise StaError(f"$expand: option {part[:40]!r} needs a value", target="$expand")
                sub[k.strip()] = v
            self.expand[name] = Options(sub, nested=True)


def _split_top(text: str | None, sep: str, option: str) -> list[str]:
    """``text`` split at ``sep`` outside parentheses and quoted strings."""
    if text is None:
        return []
    if len(text) > 2000:
        raise StaError(f"{option} is too long", target=option)
    out: list[str] = []
    cur: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    if depth or quoted or not all(out):
        raise StaError(f"{option}: unbalanced parentheses or quotes, or an empty item", target=option)
    return out


def _int(params: Mapping[str, str], name: str, default: int, most: int | None) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise StaError(f"{name} must be a non-negative integer", target=name)
    v = int(text)
    if most is not None and v > most:
        raise StaError(f"{name} is at most {most}", target=name)
    return v


def _names(text: str | None, option: str) -> list[str]:
    if text is None:
        return []
    if len(text) > 1000:
        raise StaError(f"{option} is too long", target=option)
    names = [p.strip() for p in text.split(",")]
    if not all(names):
        raise StaError(f"{option}: empty name", target=option)
    return names


def _orderby(text: str | None) -> list[tuple[str, bool]]:
    if text is None:
        return []
    if len(text) > 1000:
        raise StaError("$orderby is too long", target="$orderby")
    out = []
    for part in text.split(","):
        m = _ORDER.match(part)
        if not m:
            raise StaError(f"$orderby: cannot read {part.strip()[:40]!r} (property [asc|desc])", target="$orderby")
        out.append((m.group(1), (m.group(2) or "").lower() == "desc"))  # FROST clients send ASC/DESC
    if len(out) > 8:
        raise StaError("$orderby takes at most 8 keys", target="$orderby")
    return out


# ---- small entities: filter, order, page in Python -----------------------------------------------
def _matches(e: flt.Expr, values: Mapping[str, Any], typ: str) -> bool:
    """The same two-valued semantics as sql.py: a comparison holds only for a value of the
    literal's type; ``eq null`` for a missing value."""
    if isinstance(e, flt.And):
        return _matches(e.left, values, typ) and _matches(e.right, values, typ)
    if isinstance(e, flt.Or):
        return _matches(e.left, values, typ) or _matches(e.right, values, typ)
    if isinstance(e, flt.Not):
        return not _matches(e.expr, values, typ)
    if e.prop.path not in values:
        raise flt.FilterError(f"unknown or unsupported property {e.prop.path!r} for {COLLECTIONS_OF[typ]} "
                              f"(supported: {', '.join(values)})")
    have, want, op = values[e.prop.path], e.value, e.op
    if want is None:
        if op not in ("eq", "ne"):
            raise flt.FilterError("null can only be compared with eq or ne")
        return (have is None) == (op == "eq")
    if isinstance(want, flt.DateTime):
        raise flt.FilterError(f"{e.prop.path} is not a date/time")
    same = (isinstance(have, bool) == isinstance(want, bool)) and (
        (isinstance(have, str) and isinstance(want, str))
        or (isinstance(have, (int, float)) and isinstance(want, (int, float))))
    if not same:
        return False
    return bool(_PY_OP[op](have, want))


_PY_OP: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}
COLLECTIONS_OF = {v: k for k, v in COLLECTIONS.items()}


class _Key:
    """A sort key: None after every value, descending reverses both."""

    def __init__(self, v: Any, desc: bool) -> None:
        self.v, self.desc = v, desc

    def __lt__(self, other: _Key) -> bool:
        a, b = self.v, other.v
        if a is None or b is None:
            less = a is not None and b is None
        else:
            less = (str(type(a)), a) < (str(type(b)), b) if type(a) is not type(b) else a < b
        return (not less and a != b) if self.desc else less

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.v == other.v

    __hash__ = None  # type: ignore[assignment]


class Service:
    def __init__(self, catalog: Catalog, licence: dict[str, str], model_ttl_s: float = MODEL_TTL_S) -> None:
        self.catalog = catalog
        self.licence = licence
        self.base = f"{catalog.cfg.public_url}/v1.1"
        self.model_ttl_s = model_ttl_s
        self._model: tuple[float, Model] | None = None
        self._lock = threading.Lock()

    def model(self) -> Model:
        """The public entities, rebuilt at most every ``model_ttl_s`` (reading every node and
        series costs ~30-70 ms at 1,000 nodes; Observations themselves are always read live)."""
        with self._lock:
            hit = self._model
            if hit is None or hit[0] < time.monotonic():
                hit = (time.monotonic() + self.model_ttl_s, Model.load(self.catalog, self.base))
                self._model = hit
            return hit[1]

    # ---- entry -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            return self._handle(request)
        except StaError as e:
            return self.error(e.status, e.detail, e.target)
        except flt.FilterError as e:
            return self.error(400, e.detail, e.option)
        except QueryError as e:
            return self.error(e.status, e.detail, None)

    def error(self, status: int, message: str, target: str | None) -> Response:
        err: dict[str, Any] = {"code": str(status), "message": message}
        if target:
            err["target"] = target
        return self.json({"error": err}, status)

    def json(self, doc: dict[str, Any], status: int = 200) -> Response:
        return Response(orjson.dumps({**doc, "licence": self.licence}), status_code=status,
                        media_type="application/json")

    def _handle(self, request: Request) -> Response:
        path = request.path_params.get("path", "")
        if len(path) > MAX_PATH:
            raise StaError("the path is too long", 404)
        opts = Options(request.query_params)
        if path in ("", "/"):
            return self.json(self.root())
        segments = _split(path)
        model = self.model()
        return self.resolve(model, segments, opts, path)

    def root(self) -> dict[str, Any]:
        return {"value": [{"name": c, "url": f"{self.base}/{c}"} for c in COLLECTIONS],
                "serverSettings": {"conformance": CONFORMANCE}}

    # ---- paths -------------------------------------------------------------------------------
    def resolve(self, model: Model, segments: list[str], opts: Options, path: str) -> Response:
        m = _SEGMENT.match(segments[0])
        if not m or m.group(1) not in COLLECTIONS:
            raise StaError(f"no such collection {segments[0][:60]!r}", 404)
        typ = COLLECTIONS[m.group(1)]
        # state: ("many", type, ids | ObsScope) or ("one", type, key)
        state: tuple[str, str, Any] = ("many", typ, model.all_series() if typ == "Observation" else model.ids(typ))
        if m.group(2) is not None:
            state = ("one", typ, self.find(model, typ, _key(m.group(2))))
        rest = segments[1:]
        while rest:
            seg = rest[0]
            kind, typ, val = state
            if seg == "$ref":
                if len(rest) > 1:
                    raise StaError("nothing may follow $ref", 404)
                return self.refs(model, state, opts, path)
            if kind == "one":
                if seg in NAV[typ]:
                    rkind, rval = model.related(typ, val, seg)
                    ttyp = NAV[typ][seg][0]
                    if rkind == "one" and rval is None:
                        raise StaError(f"{seg} of this entity does not exist", 404)
                    state = (rkind, ttyp, rval)
                    rest = rest[1:]
                    continue
                return self.prop_value(model, typ, val, rest)
            m = _SEGMENT.match(seg)
            if not m or m.group(2) is None or m.group(1) != COLLECTIONS_OF[typ]:
                raise StaError(f"{seg[:60]!r} cannot follow a collection of {COLLECTIONS_OF[typ]}", 404)
            key = _key(m.group(2))
            in_scope = (key in val if isinstance(val, list)
                        else isinstance(key, str) and (sql.parse_obs_id(key) or (-1, 0))[0] in val.series)
            if not in_scope:
                raise StaError(f"no {typ} {m.group(2)[:60]} here", 404)
            state = ("one", typ, self.find(model, typ, key))
            rest = rest[1:]
        kind, typ, val = state
        if kind == "one":
            return self.json(self.entity(model, typ, val, opts))
        return self.json(self.collection(model, typ, val, opts, path))

    def find(self, model: Model, typ: str, key: Any) -> Any:
        """The key of an existing public entity, or 404."""
        if typ == "Observation":
            k = sql.parse_obs_id(key) if isinstance(key, str) else None
            if k is None or k[0] not in model.streams or not self.obs_rows(
                    sql.where(flt.Compare(flt.Prop("@iot.id"), "eq", key), self.dialect), (k[0],), "", 1, 0):
                raise StaError(f"no Observation {key!r}"[:100], 404)
            return k
        if not model.exists(typ, key):
            raise StaError(f"no {typ} {key!r}"[:100], 404)
        return key

    def prop_value(self, model: Model, typ: str, key: Any, rest: list[str]) -> Response:
        doc = self.obs_entity(model, key) if typ == "Observation" else model.doc(typ, key)
        name = rest[0]
        if name.startswith("@iot.") or name.endswith("@iot.navigationLink") or name not in doc:
            raise StaError(f"{COLLECTIONS_OF[typ]} have no property {name[:60]!r}", 404)
        if len(rest) == 1:
            return self.json({name: doc[name]})
        if rest[1:] == ["$value"]:
            v = doc[name]
            body = orjson.dumps(v) if isinstance(v, (dict, list)) else ("null" if v is None else str(v)).encode()
            return Response(body, media_type="text/plain; charset=utf-8")
        raise StaError(f"nothing may follow {name[:60]!r} but $value", 404)

    # ---- documents ---------------------------------------------------------------------------
    @property
    def dialect(self) -> str:
        return self.catalog.storage.name

    def obs_entity(self, model: Model, key: tuple[int, int]) -> dict[str, Any]:
        rows = self.obs_rows(sql.where(flt.Compare(flt.Prop("@iot.id"), "eq", f"{key[0]}-{key[1]}"), self.dialect),
                             (key[0],), "", 1, 0)
        return model.obs_doc(rows[0])

    def entity(self, model: Model, typ: str, key: Any, opts: Options) -> dict[str, Any]:
        doc = self.obs_entity(model, key) if typ == "Observation" else model.doc(typ, key)
        return self.shape(model, typ, key, doc, opts)

    def shape(self, model: Model, typ: str, key: Any, doc: dict[str, Any], opts: Options) -> dict[str, Any]:
        """$select and $expand on one document."""
        for nav in opts.expand:
            if nav not in NAV[typ]:
                raise StaError(f"$expand: {COLLECTIONS_OF[typ]} have no navigation property {nav[:40]!r}",
                               target="$expand")
        if opts.select:
            keep: dict[str, Any] = {}
            for name in opts.select:
                if name in NAV[typ]:
                    keep[f"{name}@iot.navigationLink"] = doc[f"{name}@iot.navigationLink"]
                elif name == "id":
                    keep["@iot.id"] = doc["@iot.id"]
                elif name in doc and not name.endswith("@iot.navigationLink"):
                    keep[name] = doc[name]
                else:
                    raise StaError(f"$select: {COLLECTIONS_OF[typ]} have no property {name[:40]!r}",
                                   target="$select")
            doc = keep
        for nav, inner in opts.expand.items():
            ttyp, _ = NAV[typ][nav]
            kind, val = model.related(typ, key, nav)
            if kind == "one":
                if set(inner.raw) - {"$select"}:
                    raise StaError(f"$expand: {nav} is one entity: only $select applies to it", target="$expand")
                doc[nav] = None if val is None else self.shape(model, ttyp, val, (
                    self.obs_entity(model, val) if ttyp == "Observation" else model.doc(ttyp, val)), inner)
                continue
            here = f"{COLLECTIONS_OF[typ]}({key_text(_doc_key(typ, key))})/{nav}"
            sub = self.collection(model, ttyp, val, inner, here)
            doc[nav] = sub["value"]
            for extra in ("@iot.count", "@iot.nextLink"):
                if extra in sub:
                    doc[nav + extra] = sub[extra]
        return doc

    def collection(self, model: Model, typ: str, val: Any, opts: Options, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if any(NAV[typ].get(nav, ("", False))[0] == "Observation" for nav in opts.expand):
            opts.top = min(opts.top, EXPAND_PAGE)  # one query per entity for its Observations
        token = ""
        if opts.after is not None and typ != "Observation":
            raise StaError("$skiptoken pages Observations only", target="$skiptoken")
        if typ == "Observation":
            assert isinstance(val, ObsScope)
            where = sql.where(opts.filter, self.dialect)
            order = self.obs_order(opts.orderby)
            at_most = sql.narrow(opts.filter, {sid: (s.dev_eui, s.quantity) for sid, (_, s) in model.streams.items()})
            if at_most is not None:
                val = ObsScope(tuple(sorted(set(val.series) & at_most)))
            if opts.count:
                out["@iot.count"] = self.obs_count(where, val.series)
            paged = where
            if opts.after is not None:  # keyset paging in id order: no OFFSET to scan past
                cond = flt.Compare(flt.Prop("@iot.id"), "gt", f"{opts.after[0]}-{opts.after[1]}")
                paged = sql.where(flt.And(opts.filter, cond) if opts.filter is not None else cond, self.dialect)
            rows = self.obs_rows(paged, val.series, order, opts.top + 1, opts.skip)
            more = len(rows) > opts.top
            if more and not opts.orderby:
                last = rows[opts.top - 1]
                token = f"{last[0]}-{last[1]}"
            docs = [(tuple(r[:2]), model.obs_doc(r)) for r in rows[:opts.top]]
        else:
            keys = list(val)
            names = model.filter_names(typ)
            if opts.filter is not None:
                _check_names(opts.filter, names, typ)
                keys = [k for k in keys if _matches(opts.filter, model.filter_values(typ, k), typ)]
            for k, _ in opts.orderby:
                if k not in names:
                    raise StaError(f"$orderby: cannot sort {COLLECTIONS_OF[typ]} by {k[:40]!r} "
                                   f"(supported: {', '.join(names)})", target="$orderby")
            for k, desc in reversed(opts.orderby):
                keys.sort(key=_sorter(model, typ, k, desc))
            if opts.count:
                out["@iot.count"] = len(keys)
            page = keys[opts.skip:opts.skip + opts.top]
            more = len(keys) > opts.skip + opts.top
            docs = [(k, model.doc(typ, k)) for k in page]
        out["value"] = [self.shape(model, typ, k, d, opts) for k, d in docs]
        if more and opts.top:  # $top=0 (a count only) has no next page
            params = {**opts.raw, "$top": str(opts.top), "$skip": str(opts.skip + opts.top)}
            if typ == "Observation" and not opts.orderby and opts.top:
                params.pop("$skip")
                params["$skiptoken"] = token
            out["@iot.nextLink"] = f"{self.base}/{path.lstrip('/')}?{urlencode(params)}"
        return out

    def refs(self, model: Model, state: tuple[str, str, Any], opts: Options, path: str) -> Response:
        kind, typ, val = state
        if kind == "one":
            return self.json({"@iot.selfLink": model.link(typ, _doc_key(typ, val))})
        doc = self.collection(model, typ, val, opts, path)
        doc["value"] = [{"@iot.selfLink": v["@iot.selfLink"]} for v in doc["value"]]
        return self.json(doc)

    # ---- Observations in SQL -----------------------------------------------------------------
    def obs_order(self, keys: list[tuple[str, bool]]) -> str:
        for k, _ in keys:
            if k not in sql.ORDER_KEYS:
                raise StaError(f"$orderby: cannot sort Observations by {k[:40]!r} "
                               f"(supported: {', '.join(sql.ORDER_KEYS)})", target="$orderby")
        return sql.order_by(keys)

    def obs_rows(self, where: tuple[str, list[Any]], series: tuple[int, ...], order: str, limit: int,
                 skip: int) -> list[Any]:
        if not series:
            return []
        cond, params = where
        scope, sparams = sql.series_in(series, self.dialect)
        stmt = (f"SELECT o.series_id, o.t, o.v, o.vs, s.kind FROM obs o JOIN series s ON s.id = o.series_id "  # noqa: S608
                f"WHERE {scope} AND {cond} ORDER BY {order or sql.order_by([])} LIMIT ? OFFSET ?")
        return self.catalog.storage.select(stmt, [*sparams, *params, limit, skip])

    def obs_count(self, where: tuple[str, list[Any]], series: tuple[int, ...]) -> int:
        if not series:
            return 0
        cond, params = where
        scope, sparams = sql.series_in(series, self.dialect)
        stmt = (f"SELECT count(*) FROM obs o JOIN series s ON s.id = o.series_id "  # noqa: S608 - code-made text
                f"WHERE {scope} AND {cond}")
        return int(self.catalog.storage.select(stmt, [*sparams, *params])[0][0])


def _check_names(e: flt.Expr, names: tuple[str, ...], typ: str) -> None:
    if isinstance(e, (flt.And, flt.Or)):
        _check_names(e.left, names, typ)
        _check_names(e.right, names, typ)
    elif isinstance(e, flt.Not):
        _check_names(e.expr, names, typ)
    elif e.prop.path not in names:
        raise flt.FilterError(f"unknown or unsupported property {e.prop.path!r} for {COLLECTIONS_OF[typ]} "
                              f"(supported: {', '.join(names)})")


def _sorter(model: Model, typ: str, prop: str, desc: bool) -> Callable[[Any], _Key]:
    return lambda key: _Key(model.filter_values(typ, key)[prop], desc)


def _doc_key(typ: str, key: Any) -> Any:
    return f"{key[0]}-{key[1]}" if typ == "Observation" else key


def _key(text: str) -> int | str:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return int(text)


def _split(path: str) -> list[str]:
    """Path segments; a ``/`` inside a quoted key does not split."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in path.strip("/"):
        if ch == "'":
            quoted = not quoted
        if ch == "/" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    if any(not s for s in out):
        raise StaError("empty path segment", 404)
    return out
