"""ISO 8601 UTC times for downloads and the API (``2026-01-01T00:00:00.250Z``), and parsing of
the ``from``/``to`` query parameters."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache

from .errors import QueryError

MIN_MS = 0
MAX_MS = 4102444800000  # 2100-01-01T00:00:00Z
_NUM_RE = re.compile(r"-?\d{1,13}(\.\d{1,3})?\Z")
_ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?\Z")


@lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, timezone.utc).strftime("%Y-%m-%dT")


def iso_ms(t_ms: int) -> str:
    """Fast: the date part is cached per day."""
    day, rem = divmod(t_ms, 86_400_000)
    s, ms = divmod(rem, 1000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{_day(day)}{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z"


def day_text(day: int) -> str:
    """``YYYY-MM-DDT`` of a day number (days since 1970-01-01), cached."""
    return _day(day)


def clock_text(ms_of_day: int) -> str:
    """``HH:MM:SS.mmmZ`` of a time of day in ms."""
    s, ms = divmod(ms_of_day, 1000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z"


def parse_time(text: str, name: str) -> int:
    """Unix seconds (``1767225600``, ``1767225600.5``) or ISO 8601 (a date, or date and time; no
    zone means UTC) → ms. QueryError naming the parameter otherwise."""
    text = text.strip()
    if _NUM_RE.match(text):
        ms = round(float(text) * 1000)
    elif _ISO_RE.match(text):
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
        except ValueError as e:
            raise QueryError(f"{name}: {e}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        ms = round(dt.timestamp() * 1000)
    else:
        raise QueryError(f"{name} must be Unix seconds or an ISO 8601 date/time, e.g. 2026-01-01T00:00:00Z")
    if not MIN_MS <= ms <= MAX_MS:
        raise QueryError(f"{name} must be between 1970 and 2100")
    return ms
