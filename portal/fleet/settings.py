"""``[fleet]`` and ``[[account]]`` in portal.toml (docs/portal.md §Fleet view).

Accounts carry an Argon2id hash (``trosmart portal hash-password`` makes one); a plain
password is never accepted in the file. Unknown keys are errors that name the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

ACCOUNT_RE = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str = field(repr=False)


@dataclass
class FleetConfig:
    accounts: dict[str, Account] = field(default_factory=dict)
    session_hours: float = 8.0  # a technician's shift; then log in again
    silent_intervals: int = 3  # silent for more than this many uplink periods: highlighted
    default_interval_s: int = 600  # the firmware's default, until a status frame names the node's
    battery_fall_v_per_day: float = 0.05  # a fitted fall faster than this: highlighted
    battery_window_h: float = 72.0  # the battery readings the fit uses
    history_days: int = 90  # fleet history kept (pruned once an hour)
    login_failures_per_account: int = 5  # per window, then that account is locked for the window
    login_failures_per_address: int = 20
    login_window_s: int = 900
    trust_forwarded_for: bool = False  # behind a reverse proxy: the client is X-Forwarded-For's last entry


_FLEET_KEYS: dict[str, Any] = {
    "session_hours": (int, float), "silent_intervals": int, "default_interval_s": int,
    "battery_fall_v_per_day": (int, float), "battery_window_h": (int, float), "history_days": int,
    "login_failures_per_account": int, "login_failures_per_address": int, "login_window_s": int,
    "trust_forwarded_for": bool,
}


def _check(t: Any, allowed: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(t, dict):
        raise ConfigError(f"[{where}] must be a table")
    for k, v in t.items():
        want = allowed.get(k)
        if want is None:
            raise ConfigError(f"[{where}] unknown key {k!r} (allowed: {', '.join(sorted(allowed))})")
        if (isinstance(v, bool) and want is not bool) or not isinstance(v, want):
            raise ConfigError(f"[{where}] {k} has the wrong type ({type(v).__name__})")
    return t


def parse(fleet: Any, accounts: Any) -> FleetConfig:
    f = _check(fleet if fleet is not None else {}, _FLEET_KEYS, "fleet")
    cfg = FleetConfig(**f)
    for k in ("session_hours", "silent_intervals", "default_interval_s", "battery_fall_v_per_day",
              "battery_window_h", "history_days", "login_failures_per_account", "login_failures_per_address",
              "login_window_s"):
        if getattr(cfg, k) <= 0:
            raise ConfigError(f"[fleet] {k} must be > 0")
    if accounts is None:
        accounts = []
    if not isinstance(accounts, list):
        raise ConfigError("[[account]] must be an array of tables")
    for i, t in enumerate(accounts):
        a = _check(t, {"name": str, "password_hash": str}, f"account {i}")
        name, h = a.get("name"), a.get("password_hash")
        if not isinstance(name, str) or not ACCOUNT_RE.match(name):
            raise ConfigError(f"[account {i}] name must be 1..64 of A-Z a-z 0-9 . _ -")
        if not isinstance(h, str) or not h.startswith("$argon2id$"):
            raise ConfigError(f"[account {i}] password_hash must be an Argon2id hash from "
                              "'trosmart portal hash-password' (a password is never stored in the file)")
        from .auth import check_hash

        problem = check_hash(h)
        if problem:
            raise ConfigError(f"[account {i}] password_hash: {problem}")
        if name in cfg.accounts:
            raise ConfigError(f"[account {i}] name {name} is listed twice")
        cfg.accounts[name] = Account(name, h)
    return cfg
