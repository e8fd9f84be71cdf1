"""The fleet view's URLs (docs/portal.md §Fleet view). Every one but the login page refuses a
request without a valid session: pages redirect to the login (303), the API answers 401.

| URL | what |
|---|---|
| ``GET /{lang}/fleet/login``, ``POST`` | login form (a CSRF token in a cookie and the form), login |
| ``POST /{lang}/fleet/logout`` | end the session (CSRF token) |
| ``GET /{lang}/fleet/`` | every node, the ones needing a visit at the top |
| ``GET /{lang}/fleet/node/{id}`` | one node's health, history, commands and the command form |
| ``POST /{lang}/fleet/node/{id}/command`` | send a command (CSRF token) |
| ``GET /api/v1/fleet/nodes``, ``/nodes/{id}``, ``/commands/{cid}`` | the same as JSON |

POSTs also refuse a cross-site ``Origin`` or ``Sec-Fetch-Site``; cookies are HttpOnly,
SameSite=Strict and Secure unless the portal serves plain http on loopback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bridge.config import is_loopback

from ..config import Config
from ..errors import QueryError
from ..i18n import FLEET_TEXT, LANGS
from ..registry import DEVEUI_RE
from ..storage import Storage
from . import commands, pages
from .auth import MAX_PASSWORD_CHARS, Accounts, Session, same
from .commands import Publish, Sender
from .ratelimit import FailureLimiter
from .store import FleetStore
from .view import Fleet

FORM_MAX_BYTES = 4096
NEXT_RE = re.compile(r"/(de|en)/fleet/(node/[0-9a-f]{16})?\Z")
POST_RE = re.compile(r"/(de|en)/fleet/(login|logout|node/[0-9a-f]{16}/command)\Z")
NO_STORE = {"Cache-Control": "no-store"}


def accepts_post(path: str) -> bool:
    """The only URLs of the portal that take a POST (the rest is read-only)."""
    return POST_RE.match(path) is not None


def _json(doc: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json",
                    headers={**NO_STORE, **(headers or {})})


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={**NO_STORE, **(headers or {})})


async def read_form(request: Request, limit: int = FORM_MAX_BYTES) -> dict[str, str]:
    """An urlencoded form of at most ``limit`` bytes, each field once; QueryError otherwise."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise QueryError("a form must be application/x-www-form-urlencoded", status=415)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise QueryError(f"a form has at most {limit} bytes", status=413)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise QueryError("the form is not readable UTF-8 urlencoded text") from None
    form: dict[str, str] = {}
    for k, v in pairs:
        if k in form:
            raise QueryError(f"form field {k[:40]!r} given twice")
        form[k] = v
    return form


class FleetRoutes:
    def __init__(self, cfg: Config, storage: Storage, store: FleetStore, publish: Publish | None) -> None:
        self.cfg = cfg
        self.fc = cfg.fleet
        self.store = store
        self.fleet = Fleet(cfg, storage, self.store)
        self.accounts = Accounts(self.fc.accounts, self.store, self.fc.session_hours)
        self.by_account = FailureLimiter(self.fc.login_failures_per_account, self.fc.login_window_s,
                                         max_keys=max(1, len(self.fc.accounts)))
        self.by_address = FailureLimiter(self.fc.login_failures_per_address, self.fc.login_window_s)
        self.sender = Sender(cfg.prefix, publish)
        # Secure cookies unless plain http on loopback (a browser drops Secure cookies there)
        self.secure = cfg.public_url.startswith("https://") or not is_loopback(cfg.host)
        pre = "__Host-" if self.secure else ""
        self.session_cookie = pre + "trosmart_fleet"
        self.login_cookie = pre + "trosmart_login"

    # ---- helpers -----------------------------------------------------------------------------
    def _cookie(self, r: Response, name: str, value: str, max_age: int) -> None:
        r.set_cookie(name, value, max_age=max_age, path="/", secure=self.secure, httponly=True, samesite="strict")

    def session_of(self, request: Request) -> Session | None:
        return self.accounts.session(request.cookies.get(self.session_cookie), int(time.time() * 1000))

    def client(self, request: Request) -> str:
        if self.fc.trust_forwarded_for:
            fwd = request.headers.get("x-forwarded-for", "")
            if fwd:
                return fwd.split(",")[-1].strip()[:64]
        return request.client.host if request.client else "unknown"

    @staticmethod
    def lang(request: Request) -> str:
        code = str(request.path_params["lang"])
        if code not in LANGS:
            raise QueryError(f"language must be one of {', '.join(LANGS)}", status=404)
        return code

    @staticmethod
    def dev(request: Request) -> str:
        dev = str(request.path_params["dev"])
        if not DEVEUI_RE.match(dev):
            raise QueryError("a node id is 16 lower-case hex digits", status=404)
        return dev

    @staticmethod
    def same_site(request: Request) -> bool:
        """A POST from one of our own pages. A browser says so in ``Sec-Fetch-Site``; with the
        portal's ``Referrer-Policy: no-referrer`` Chromium sends ``Origin: null`` on a form
        POST, so ``Origin`` decides only without that header (a client that sends neither,
        such as curl, still needs the session's CSRF token)."""
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return site == "same-origin"
        origin = request.headers.get("origin")
        if origin is None:
            return True
        return urlsplit(origin).netloc == request.headers.get("host", "")

    def to_login(self, request: Request, lang: str) -> Response:
        nxt = request.url.path if NEXT_RE.match(request.url.path) else f"/{lang}/fleet/"
        return RedirectResponse(f"/{lang}/fleet/login?next={nxt}", status_code=303, headers=NO_STORE)

    def page(self, fn: Callable[[Request, str, Session], Response]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            lang = self.lang(request)
            s = self.session_of(request)
            if s is None:
                return self.to_login(request, lang)
            return fn(request, lang, s)
        return handler

    def api(self, fn: Callable[[Request, Session], Response]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            s = self.session_of(request)
            if s is None:
                return _json({"error": "login required", "status": 401}, 401,
                             {"WWW-Authenticate": 'Cookie realm="TroSmart fleet"'})
            return fn(request, s)
        return handler

    def post(self, fn: Callable[[Request, str, Session, dict[str, str]], Awaitable[Response]]
             ) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            lang = self.lang(request)
            s = await run_in_threadpool(self.session_of, request)
            if s is None:
                return self.to_login(request, lang)
            if not self.same_site(request):
                return _json({"error": "cross-site request refused", "status": 403}, 403)
            form = await read_form(request)
            if not same(form.get("csrf", ""), s.csrf):
                return _json({"error": "missing or wrong CSRF token", "status": 403}, 403)
            return await fn(request, lang, s, form)
        return handler

    # ---- login / logout ----------------------------------------------------------------------
    def _login_form(self, lang: str, nxt: str, message: str | None = None, status: int = 200,
                    headers: dict[str, str] | None = None) -> Response:
        from secrets import token_urlsafe

        token = token_urlsafe(32)
        r = _html(pages.login_page(lang, token, nxt if NEXT_RE.match(nxt) else f"/{lang}/fleet/", message),
                  status, headers)
        self._cookie(r, self.login_cookie, token, 3600)
        return r

    def login_page(self, request: Request) -> Response:
        lang = self.lang(request)
        return self._login_form(lang, request.query_params.get("next", ""))

    async def login(self, request: Request) -> Response:
        lang = self.lang(request)
        f = FLEET_TEXT[lang]
        if not self.same_site(request):
            return _json({"error": "cross-site request refused", "status": 403}, 403)
        form = await read_form(request)
        nxt = form.get("next", "")
        cookie = request.cookies.get(self.login_cookie, "")
        if not cookie or not same(form.get("csrf", ""), cookie):
            return self._login_form(lang, nxt, f["login_bad"], 403)
        name, password = form.get("name", ""), form.get("password", "")
        now = time.monotonic()
        address = self.client(request)
        known = name in self.fc.accounts
        wait = max(self.by_address.retry_after(address, now), self.by_account.retry_after(name, now) if known else 0)
        if wait > 0:
            return self._login_form(lang, nxt, f["login_limited"], 429, {"Retry-After": str(int(wait) + 1)})
        if len(password) > MAX_PASSWORD_CHARS or len(name) > 64 or not password:
            self.by_address.failed(address, now)  # refused before any hashing
            return self._login_form(lang, nxt, f["login_failed"], 400)
        ok = await run_in_threadpool(self.accounts.verify, name, password)
        if not ok:
            self.by_address.failed(address, now)
            if known:
                self.by_account.failed(name, now)
            return self._login_form(lang, nxt, f["login_failed"], 401)
        self.by_account.clear(name)
        token, _s = await run_in_threadpool(self.accounts.open_session, name, int(time.time() * 1000))
        r = RedirectResponse(nxt if NEXT_RE.match(nxt) else f"/{lang}/fleet/", status_code=303, headers=NO_STORE)
        self._cookie(r, self.session_cookie, token, int(self.fc.session_hours * 3600))
        r.delete_cookie(self.login_cookie, path="/", secure=self.secure, httponly=True, samesite="strict")
        return r

    async def _logout(self, request: Request, lang: str, s: Session, form: dict[str, str]) -> Response:
        token = request.cookies.get(self.session_cookie, "")
        await run_in_threadpool(self.accounts.close_session, token)
        r = RedirectResponse(f"/{lang}/fleet/login", status_code=303, headers=NO_STORE)
        r.delete_cookie(self.session_cookie, path="/", secure=self.secure, httponly=True, samesite="strict")
        return r

    # ---- pages and API -----------------------------------------------------------------------
    def _overview(self, request: Request, lang: str, s: Session) -> Response:
        return _html(pages.fleet_page(lang, self.fleet.overview(int(time.time() * 1000)), s.csrf, s.account))

    def _node(self, request: Request, lang: str, s: Session) -> Response:
        d = self.fleet.node(self.dev(request), int(time.time() * 1000))
        if d is None:
            raise QueryError("unknown node", status=404)
        return _html(pages.node_page(lang, d, s.csrf, s.account))

    async def _command(self, request: Request, lang: str, s: Session, form: dict[str, str]) -> Response:
        dev = self.dev(request)
        if not await run_in_threadpool(self.fleet.known, dev):
            raise QueryError(f"unknown node {dev}: the portal has heard nothing from it", status=404)
        cmd = commands.from_form(form)
        cid = commands.new_id()
        payload = commands.payload_of(cmd, cid)
        sent = self.sender.send(dev, payload)
        await run_in_threadpool(self.store.add_command, cid, dev, s.account, cmd, int(time.time() * 1000),
                                "published" if sent else "not_sent")
        return RedirectResponse(f"/{lang}/fleet/node/{dev}#commands", status_code=303, headers=NO_STORE)

    def _api_nodes(self, request: Request, s: Session) -> Response:
        return _json({"nodes": [n.doc() for n in self.fleet.overview(int(time.time() * 1000))]})

    def _api_node(self, request: Request, s: Session) -> Response:
        d = self.fleet.node(self.dev(request), int(time.time() * 1000))
        if d is None:
            return _json({"error": "unknown node", "status": 404}, 404)
        return _json({"node": d.health.doc(), "history": [{"t": t, "source": src, **doc} for t, src, doc in d.history],
                      "battery_hourly": [[p.t_ms, p.mean] for p in d.battery], "commands": d.commands})

    def _api_command(self, request: Request, s: Session) -> Response:
        cid = str(request.path_params["cid"])
        c = self.store.command(cid) if commands.ID_RE.match(cid) else None
        if c is None:
            return _json({"error": "unknown command", "status": 404}, 404)
        return _json({"command": c})

    def routes(self) -> list[Route]:
        return [
            Route("/{lang}/fleet/login", self.login_page, methods=["GET", "HEAD"]),
            Route("/{lang}/fleet/login", self.login, methods=["POST"]),
            Route("/{lang}/fleet/logout", self.post(self._logout), methods=["POST"]),
            Route("/{lang}/fleet/", self.page(self._overview), methods=["GET", "HEAD"]),
            Route("/{lang}/fleet/node/{dev}", self.page(self._node), methods=["GET", "HEAD"]),
            Route("/{lang}/fleet/node/{dev}/command", self.post(self._command), methods=["POST"]),
            Route("/api/v1/fleet/nodes", self.api(self._api_nodes), methods=["GET", "HEAD"]),
            Route("/api/v1/fleet/nodes/{dev}", self.api(self._api_node), methods=["GET", "HEAD"]),
            Route("/api/v1/fleet/commands/{cid}", self.api(self._api_command), methods=["GET", "HEAD"]),
        ]
