"""Accounts, password hashes, sessions and CSRF tokens (docs/portal.md §Fleet view, security).

* Passwords: Argon2id through argon2-cffi (RFC 9106 parameters of its ``PasswordHasher``);
  at most ``MAX_PASSWORD_CHARS`` characters (a longer one is refused before any hashing),
  and at most ``VERIFY_PARALLEL`` verifications at once (each takes 64 MiB).
* An unknown account name is verified against a dummy hash, so the time of an answer does
  not tell whether the account exists.
* Sessions: a random 256-bit token in a cookie; the database keeps only its SHA-256 (a
  leaked table gives no usable cookie), the account, the session's CSRF token and the expiry.
  Logout deletes the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from .settings import Account
from .store import FleetStore

MAX_PASSWORD_CHARS = 256
VERIFY_PARALLEL = 2
_hasher = argon2.PasswordHasher()
_verifying = threading.BoundedSemaphore(VERIFY_PARALLEL)


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("empty password")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def check_hash(h: str) -> str | None:
    """Why ``h`` is not a usable Argon2 hash, or None."""
    try:
        argon2.extract_parameters(h)
    except InvalidHashError as e:
        return str(e) or "not an Argon2 hash"
    return None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Session:
    account: str
    csrf: str
    expires_ms: int


class Accounts:
    def __init__(self, accounts: dict[str, Account], store: FleetStore, session_hours: float) -> None:
        self.accounts = accounts
        self.store = store
        self.session_ms = int(session_hours * 3_600_000)
        self._dummy = _hasher.hash(secrets.token_urlsafe(16))

    def verify(self, name: str, password: str) -> bool:
        """True when ``name`` is an account and ``password`` its password."""
        if len(password) > MAX_PASSWORD_CHARS:
            return False
        acc = self.accounts.get(name)
        with _verifying:
            try:
                return _hasher.verify(acc.password_hash if acc else self._dummy, password) and acc is not None
            except (VerificationError, InvalidHashError):
                return False

    def open_session(self, account: str, now_ms: int) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        s = Session(account, secrets.token_urlsafe(32), now_ms + self.session_ms)
        self.store.add_session(token_hash(token), s.account, s.csrf, now_ms, s.expires_ms)
        return token, s

    def session(self, token: str | None, now_ms: int) -> Session | None:
        if not token or len(token) > 100:
            return None
        row = self.store.session(token_hash(token))
        if row is None:
            return None
        account, csrf, expires = row
        if expires <= now_ms or account not in self.accounts:  # expired, or the account was removed
            return None
        return Session(account, csrf, expires)

    def close_session(self, token: str) -> None:
        self.store.drop_session(token_hash(token))
