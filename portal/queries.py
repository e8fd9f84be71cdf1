"""Query-parameter validation: every public endpoint's parameters become a typed value or a
QueryError (HTTP 400 with the reason); nothing from a request reaches SQL except as a bound
parameter, and only after these checks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import QueryError
from .registry import DEVEUI_RE
from .senml import NAME_RE
from .storage.base import DAY_MS, HOUR_MS
from .timefmt import MAX_MS, parse_time

RANGES = {"24h": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS, "1y": 365 * DAY_MS}
CHART_RESOLUTION = {"24h": "raw", "7d": "hour", "30d": "hour", "1y": "day"}
RAW_JSON_MAX_MS = 31 * DAY_MS  # raw points as JSON; longer raw ranges: the streamed downloads
MAX_PARAM = 200


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int
    resolution: str  # raw, hour, day


def only(params: Mapping[str, str], allowed: tuple[str, ...], multi: Mapping[str, int] | None = None) -> None:
    for k in params:
        if k not in allowed:
            raise QueryError(f"unknown parameter {k[:40]!r} (allowed: {', '.join(allowed) or 'none'})")
    for k, v in params.items():
        if len(v) > MAX_PARAM:
            raise QueryError(f"{k} is too long")


def dev_eui(text: str, name: str = "node") -> str:
    d = text.strip().lower()
    if not DEVEUI_RE.match(d):
        raise QueryError(f"{name} must be a DevEUI of 16 hex digits")
    return d


def quantity(text: str) -> str:
    if not NAME_RE.match(text):
        raise QueryError("quantity must be a SenML name (letters, digits, _ . / : -)")
    return text


def window(params: Mapping[str, str], now_ms: int | None = None) -> Window:
    """``range`` (24h, 7d, 30d, 1y: ending now) or ``from``/``to``; ``resolution`` raw, hour,
    day or auto (the default: raw up to 2 days, hourly up to 60 days, daily beyond)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    rng = params.get("range")
    if rng is not None and ("from" in params or "to" in params):
        raise QueryError("give range or from/to, not both")
    if rng is not None:
        if rng not in RANGES:
            raise QueryError(f"range must be one of {', '.join(RANGES)}")
        start, end, auto = now_ms - RANGES[rng], now_ms + 1, CHART_RESOLUTION[rng]
    else:
        start = parse_time(params["from"], "from") if "from" in params else now_ms - DAY_MS
        end = parse_time(params["to"], "to") if "to" in params else now_ms + 1
        span = end - start
        auto = "raw" if span <= 2 * DAY_MS else ("hour" if span <= 60 * DAY_MS else "day")
    if end <= start:
        raise QueryError("the range is empty: to must be after from")
    res = params.get("resolution", "auto")
    if res not in ("auto", "raw", "hour", "day"):
        raise QueryError("resolution must be auto, raw, hour or day")
    res = auto if res == "auto" else res
    if res == "raw" and end - start > RAW_JSON_MAX_MS:
        raise QueryError("raw points as JSON cover at most 31 days: use resolution=hour/day or the CSV/SenML "
                         "downloads (no limit)")
    if res == "hour":  # whole buckets: a bucket is included when it starts in the window
        start -= start % HOUR_MS
    elif res == "day":
        start -= start % DAY_MS
    return Window(start, end, res)


def download_window(params: Mapping[str, str], now_ms: int | None = None) -> tuple[int, int]:
    """Downloads: any range; no parameters mean everything stored."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if "range" in params:
        if "from" in params or "to" in params:
            raise QueryError("give range or from/to, not both")
        if params["range"] not in RANGES:
            raise QueryError(f"range must be one of {', '.join(RANGES)}")
        return now_ms - RANGES[params["range"]], now_ms + 1
    start = parse_time(params["from"], "from") if "from" in params else 0
    end = parse_time(params["to"], "to") if "to" in params else MAX_MS + 1
    if end <= start:
        raise QueryError("the range is empty: to must be after from")
    return start, end
