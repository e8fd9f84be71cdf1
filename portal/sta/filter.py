"""``$filter`` (OData 4 expression syntax, the subset docs/portal.md §SensorThings API lists):
a tokenizer and a recursive-descent parser into a typed tree.

Grammar (``not`` binds to the comparison or parenthesis after it)::

    or_expr  := and_expr ("or" and_expr)*
    and_expr := unary ("and" unary)*
    unary    := "not" unary | "(" or_expr ")" | comparison
    comparison := operand ("eq"|"ne"|"gt"|"ge"|"lt"|"le") operand   (one side a property)
    operand  := property path | number | 'string' | true | false | null | datetime

Anything else (arithmetic, functions, geo, lambda operators) is a :class:`FilterError`
with the position, HTTP 400. The text, the nesting depth and the number of comparisons are
bounded so a request cannot make the parser or the database work without limit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from ..errors import QueryError

MAX_LENGTH = 4000  # characters of $filter
MAX_DEPTH = 24  # nested not/parentheses
MAX_COMPARISONS = 64
OPS = ("eq", "ne", "gt", "ge", "lt", "le")
FLIP = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


class FilterError(QueryError):
    """A ``$filter`` (or ``$orderby``) that cannot be used; ``position`` is the 0-based index."""

    def __init__(self, message: str, position: int | None = None, option: str = "$filter") -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{option}: {message}{where}")
        self.position = position
        self.option = option


@dataclass(frozen=True)
class DateTime:
    """An ISO 8601 instant with a zone, as milliseconds since 1970 (a float when finer)."""

    ms: float
    text: str


Literal = float | int | str | bool | None | DateTime


@dataclass(frozen=True)
class Prop:
    path: str  # e.g. "result", "Datastream/@iot.id"


@dataclass(frozen=True)
class Compare:
    prop: Prop
    op: str  # one of OPS, with the property on the left
    value: Literal


@dataclass(frozen=True)
class Not:
    expr: Expr


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


Expr = Compare | Not | And | Or

# re.ASCII everywhere: \d is 0-9 only, not every Unicode digit (int("１２") == 12)
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})", re.ASCII)
_NUMBER = re.compile(r"-?(\d+(\.\d+)?([eE][+-]?\d+)?|INF|NaN)(?![A-Za-z0-9_])", re.ASCII)
_NAME = re.compile(r"@?[A-Za-z_][A-Za-z0-9_.]*(/@?[A-Za-z_][A-Za-z0-9_.]*)*", re.ASCII)
_KEYWORDS = {"and", "or", "not", "true", "false", "null", *OPS}
MAX_NUMBER_TEXT = 40


@dataclass(frozen=True)
class Token:
    kind: str  # "(" ")" "name" "kw" "num" "str" "dt" "end"
    text: str
    pos: int
    value: Literal = None


def _datetime(text: str, pos: int) -> DateTime:
    frac = re.search(r"\.(\d+)", text)
    base = re.sub(r"\.\d+", "", text).replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(base)
    except ValueError as e:
        raise FilterError(f"bad date/time {text!r} ({e})", pos) from None
    seconds = dt.timestamp()
    ms = round(seconds) * 1000 + (int(frac.group(1).ljust(9, "0")) / 1_000_000 if frac else 0)
    return DateTime(int(ms) if float(ms).is_integer() else ms, text)


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise FilterError(f"longer than {MAX_LENGTH} characters")
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
            continue
        if c in "()":
            out.append(Token(c, c, i))
            i += 1
            continue
        if c == "'":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise FilterError("unterminated string", i)
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":  # '' is a quote inside a string
                        buf.append("'")
                        j += 2
                        continue
                    break
                ch = text[j]
                if ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF:
                    raise FilterError("control character in a string", j)
                buf.append(ch)
                j += 1
            out.append(Token("str", text[i:j + 1], i, "".join(buf)))
            i = j + 1
            continue
        m = _DATETIME.match(text, i)
        if m:
            out.append(Token("dt", m.group(), i, _datetime(m.group(), i)))
            i = m.end()
            continue
        m = _NUMBER.match(text, i)
        if m:
            t = m.group()
            if len(t) > MAX_NUMBER_TEXT:
                raise FilterError("number too long", i)
            if t.lstrip("-") in ("INF", "NaN"):
                raise FilterError("INF and NaN are not supported", i)
            v: float | int = int(t) if re.fullmatch(r"-?\d+", t) else float(t)
            if isinstance(v, float) and not math.isfinite(v):
                raise FilterError("number out of range", i)
            out.append(Token("num", t, i, v))
            i = m.end()
            continue
        m = _NAME.match(text, i)
        if m:
            t = m.group()
            if t in _KEYWORDS:
                out.append(Token("kw", t, i))
            else:
                out.append(Token("name", t, i))
            i = m.end()
            continue
        raise FilterError(f"unexpected character {c!r}", i)
    out.append(Token("end", "", n))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0
        self.comparisons = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def kw(self, word: str) -> bool:
        t = self.peek()
        if t.kind == "kw" and t.text == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Expr:
        e = self.or_expr()
        t = self.peek()
        if t.kind != "end":
            raise FilterError(f"unexpected {t.text!r}", t.pos)
        return e

    def or_expr(self) -> Expr:
        e = self.and_expr()
        while self.kw("or"):
            e = Or(e, self.and_expr())
        return e

    def and_expr(self) -> Expr:
        e = self.unary()
        while self.kw("and"):
            e = And(e, self.unary())
        return e

    def unary(self) -> Expr:
        t = self.peek()
        if not (t.kind == "(" or (t.kind == "kw" and t.text == "not")):
            return self.comparison()
        self.depth += 1  # counts open parentheses and nots
        if self.depth > MAX_DEPTH:
            raise FilterError(f"nested deeper than {MAX_DEPTH}", t.pos)
        try:
            if self.kw("not"):
                return Not(self.unary())
            self.take()
            e = self.or_expr()
            close = self.take()
            if close.kind != ")":
                raise FilterError("')' expected", close.pos)
            return e
        finally:
            self.depth -= 1

    def operand(self) -> Token:
        t = self.take()
        if t.kind in ("name", "num", "str", "dt"):
            if t.kind == "name" and self.peek().kind == "(":
                raise FilterError(f"function {t.text}() is not supported", t.pos)
            return t
        if t.kind == "kw" and t.text in ("true", "false", "null"):
            return t
        if t.kind == "end":
            raise FilterError("expression ends too early", t.pos)
        raise FilterError(f"unexpected {t.text!r}", t.pos)

    def comparison(self) -> Expr:
        left = self.operand()
        op = self.take()
        if op.kind == "kw" and op.text in ("add", "sub", "mul", "div", "mod"):
            raise FilterError("arithmetic is not supported", op.pos)
        if not (op.kind == "kw" and op.text in OPS):
            if op.kind == "name" and op.text in ("add", "sub", "mul", "div", "mod", "has", "in"):
                raise FilterError(f"operator {op.text} is not supported", op.pos)
            raise FilterError("comparison operator (eq, ne, gt, ge, lt, le) expected", op.pos)
        right = self.operand()
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise FilterError(f"more than {MAX_COMPARISONS} comparisons", op.pos)
        if left.kind == "name" and right.kind != "name":
            return Compare(Prop(left.text), op.text, _literal(right))
        if right.kind == "name" and left.kind != "name":
            return Compare(Prop(right.text), FLIP[op.text], _literal(left))
        if left.kind == "name":
            raise FilterError("comparing two properties is not supported", left.pos)
        raise FilterError("a comparison needs a property on one side", left.pos)


def _literal(t: Token) -> Literal:
    if t.kind == "kw":
        return {"true": True, "false": False, "null": None}[t.text]
    return t.value


def parse(text: str) -> Expr:
    """The tree of a ``$filter`` text, or FilterError."""
    if not text.strip():
        raise FilterError("empty expression", 0)
    return _Parser(text).parse()
