"""The HTTP side (Starlette, docs/portal.md §API): read-only JSON API, streamed downloads, the
live stream (server-sent events), the pages and their static files.

Every response carries security headers (a CSP without inline scripts or styles and without
framing) and a ``Link: <licence>; rel="license"`` header; JSON documents carry the licence
block. A bad parameter gives 400 with the reason, an unknown node 404 on a path and 400 as a
parameter; any other failure is logged and answered 500 without details.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import dcat, pages, queries
from .catalog import Catalog, NodeView, node_doc, rounded
from .downloads import csv_stream, senml_stream
from .errors import QueryError
from .fleet.ingest import is_status_quantity
from .fleet.routes import FleetRoutes, accepts_post
from .i18n import LANGS
from .live import Hub
from .sta.routes import Service as SensorThings
from .storage import SeriesInfo
from .timefmt import iso_ms

log = logging.getLogger("trosmart.portal")
STATIC = Path(__file__).parent / "static"
VENDOR = {"leaflet": "leaflet/dist", "uplot": "uplot/dist"}
KEEPALIVE_S = 15.0


class Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def vendor_dir() -> Path:
    return Path(__file__).parent / "web" / "node_modules"


def create_app(catalog: Catalog, hub: Hub, status: Callable[[], dict[str, Any]] | None = None,
               fleet: FleetRoutes | None = None) -> Starlette:
    cfg = catalog.cfg
    lic = catalog.licence()
    link = f'<{lic["url"]}>; rel="license"'
    img_src = "'self' data:"
    if cfg.tile_url.startswith("http"):
        u = urlsplit(cfg.tile_url.replace("{", "").replace("}", ""))
        img_src += f" {u.scheme}://{u.netloc}"
    csp = (f"default-src 'none'; script-src 'self'; style-src 'self'; img-src {img_src}; connect-src 'self'; "
           "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    security = {"Content-Security-Policy": csp, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin", "Link": link}

    def json(doc: dict[str, Any], status_code: int = 200) -> Json:
        return Json({**doc, "licence": lic}, status_code=status_code)

    def public_node(dev: str, *, as_param: bool) -> NodeView:
        view = catalog.node(dev)
        if view is None:
            if as_param:
                raise QueryError(f"unknown node {dev}: not a public node")
            raise QueryError(f"unknown node {dev}", status=404)
        return view

    # ---- JSON API ------------------------------------------------------------------------
    def api_index(request: Request) -> Response:
        queries.only(request.query_params, ())
        return json({"api": "TroSmart portal API v1", "endpoints": {
            "nodes": "/api/v1/nodes", "node": "/api/v1/nodes/{id}",
            "series": "/api/v1/nodes/{id}/series/{quantity}?range=24h|7d|30d|1y or from=&to=[&resolution=]",
            "latest": "/api/v1/latest?quantity=", "csv": "/api/v1/observations.csv?node=&quantity=&from=&to=",
            "senml": "/api/v1/observations.senml.json?node=&quantity=&from=&to=", "stream": "/api/v1/stream",
            "dataset": "/api/v1/dataset"}})

    def api_nodes(request: Request) -> Response:
        queries.only(request.query_params, ())
        views = catalog.nodes()
        return json({"nodes": [node_doc(v) for v in views.values()]})

    def api_node(request: Request) -> Response:
        queries.only(request.query_params, ())
        view = public_node(queries.dev_eui(request.path_params["dev"], "node id"), as_param=False)
        return json({"node": node_doc(view)})

    def api_series(request: Request) -> Response:
        params = request.query_params
        queries.only(params, ("range", "from", "to", "resolution"))
        view = public_node(queries.dev_eui(request.path_params["dev"], "node id"), as_param=False)
        q = queries.quantity(request.path_params["quantity"])
        s = view.quantity(q)
        if s is None or s.kind == "s":
            raise QueryError(f"node {view.node.dev_eui} has no numeric quantity {q}", status=404)
        w = queries.window(params)
        pts = catalog.storage.points(s.id, w.start_ms, w.end_ms, w.resolution)
        return json({"node": view.node.dev_eui, "quantity": q, "unit": s.unit, "resolution": w.resolution,
                     "from": iso_ms(w.start_ms), "to": iso_ms(w.end_ms),
                     "columns": ["time", "mean", "min", "max", "n"],
                     "points": [[p.t_ms / 1000, rounded(p.mean), rounded(p.min), rounded(p.max), p.n] for p in pts]})

    def api_latest(request: Request) -> Response:
        params = request.query_params
        queries.only(params, ("quantity",))
        q = queries.quantity(params["quantity"]) if "quantity" in params else cfg.default_quantity
        series = {} if is_status_quantity(q) else {s.dev_eui: s for s in catalog.storage.series_of_quantity(q)}
        out = []
        for dev, (n, _) in catalog.public().items():
            s = series.get(dev)
            out.append({"id": dev, "name": n.name, "position": None if n.lat is None else [n.lat, n.lon],
                        "value": rounded(s.last_value()) if s else None, "unit": s.unit if s else None,
                        "time": iso_ms(s.last_t) if s and s.last_t is not None else None})
        return json({"quantity": q, "nodes": out})

    def selection(params: Any) -> tuple[list[tuple[NodeView, SeriesInfo]], str]:
        queries.only(params, ("node", "quantity", "from", "to", "range"))
        if "node" in params:
            views = [public_node(queries.dev_eui(params["node"]), as_param=True)]
        else:
            views = list(catalog.nodes().values())
        q = queries.quantity(params["quantity"]) if "quantity" in params else None
        sel = [(v, s) for v in views for s in v.series if q is None or s.quantity == q]
        if q is not None and not sel:
            raise QueryError(f"unknown quantity {q} for this selection")
        name = (views[0].node.dev_eui if "node" in params else "all") + "-" + (q or "all")
        return sel, name.replace("/", "_")

    def download_csv(request: Request) -> Response:
        params = request.query_params
        sel, name = selection(params)
        start, end = queries.download_window(params)
        return StreamingResponse(csv_stream(catalog, sel, start, end, urlencode(sorted(params.items()))),
                                 media_type="text/csv; charset=utf-8; header=present",
                                 headers={"Content-Disposition": f'attachment; filename="trosmart-{name}.csv"'})

    def download_senml(request: Request) -> Response:
        params = request.query_params
        sel, name = selection(params)
        start, end = queries.download_window(params)
        return StreamingResponse(senml_stream(catalog, sel, start, end), media_type="application/senml+json",
                                 headers={"Content-Disposition": f'attachment; filename="trosmart-{name}.json"'})

    def api_dataset(request: Request) -> Response:
        queries.only(request.query_params, ())
        views = catalog.nodes()
        times = [s.last_t for v in views.values() for s in v.series if s.last_t is not None]
        seen = [v.last_seen_ms for v in views.values() if v.last_seen_ms is not None]
        first = catalog.storage.first_time()
        doc = dcat.dataset(catalog, first, max(times, default=None), max(seen, default=None))
        return Response(orjson.dumps(doc), media_type="application/ld+json")

    async def api_stream(request: Request) -> Response:
        queries.only(request.query_params, ())
        q = hub.subscribe()
        public: dict[str, tuple[float, bool]] = {}

        def is_public(dev: str) -> bool:
            hit = public.get(dev)
            if hit is None or hit[0] < time.monotonic():
                hit = (time.monotonic() + 10, catalog.node(dev) is not None)
                public[dev] = hit
            return hit[1]

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 3000\n: TroSmart live values; licence " + lic["id"].encode() + b"\n\n"
                while True:
                    try:
                        ev = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if ev.get("close"):
                        return
                    if ev.get("resync"):
                        yield b"event: resync\ndata: {}\n\n"
                        continue
                    if not await asyncio.to_thread(is_public, ev["node"]):
                        continue
                    vals = {k: {**v, "v": rounded(v["v"]), "t": iso_ms(v["t"])} for k, v in ev["values"].items()
                            if not is_status_quantity(k)}  # status frames are fleet data
                    if not vals:
                        continue
                    yield b"event: pack\ndata: " + orjson.dumps({"node": ev["node"], "values": vals}) + b"\n\n"
            finally:
                hub.unsubscribe(q)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def health(request: Request) -> Response:
        doc = status() if status else {"ok": True}
        return Json(doc, status_code=200 if doc.get("ok") else 503)

    # ---- pages ---------------------------------------------------------------------------
    def root(request: Request) -> Response:
        return RedirectResponse(f"/{pages.lang_of(request.headers.get('accept-language', ''))}/", status_code=303)

    def lang(request: Request) -> str:
        code = str(request.path_params["lang"])
        if code not in LANGS:
            raise QueryError(f"language must be one of {', '.join(LANGS)}", status=404)
        return code

    def page_map(request: Request) -> Response:
        code = lang(request)
        queries.only(request.query_params, ("quantity",))
        q = queries.quantity(request.query_params.get("quantity", cfg.default_quantity))
        return HTMLResponse(pages.map_page(catalog, code, q))

    def page_node(request: Request) -> Response:
        code = lang(request)
        queries.only(request.query_params, ("range",))
        view = public_node(queries.dev_eui(request.path_params["dev"], "node id"), as_param=False)
        rng = request.query_params.get("range", "24h")
        w = queries.window({"range": rng})
        charts = {s.quantity: catalog.storage.points(s.id, w.start_ms, w.end_ms, w.resolution)
                  for s in pages.chart_series(view)}
        return HTMLResponse(pages.node_page(catalog, code, view, rng, charts))

    def page_data(request: Request) -> Response:
        code = lang(request)
        queries.only(request.query_params, ())
        return HTMLResponse(pages.data_page(catalog, code))

    routes = [
        *(fleet.routes() if fleet is not None else []),  # the fleet view, behind its login (portal/fleet/)
        Route("/", root),
        Route("/api/v1/", api_index),
        Route("/api/v1/nodes", api_nodes),
        Route("/api/v1/nodes/{dev}", api_node),
        Route("/api/v1/nodes/{dev}/series/{quantity:path}", api_series),
        Route("/api/v1/latest", api_latest),
        Route("/api/v1/observations.csv", download_csv),
        Route("/api/v1/observations.senml.json", download_senml),
        Route("/api/v1/dataset", api_dataset),
        Route("/api/v1/stream", api_stream),
        Route("/health", health),
        Mount("/v1.1", routes=[Route("/{path:path}", SensorThings(catalog, lic).handle)]),  # docs/portal.md §13
        Route("/favicon.ico", lambda request: RedirectResponse("/static/favicon.svg", status_code=301)),
        Route("/{lang}/", page_map),
        Route("/{lang}/node/{dev}", page_node),
        Route("/{lang}/data", page_data),
        Mount("/static/vendor/leaflet", StaticFiles(directory=vendor_dir() / VENDOR["leaflet"], check_dir=False)),
        Mount("/static/vendor/uplot", StaticFiles(directory=vendor_dir() / VENDOR["uplot"], check_dir=False)),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]

    async def on_query_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, QueryError)
        return json({"error": exc.detail, "status": exc.status}, status_code=exc.status)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return json({"error": exc.detail, "status": exc.status_code}, status_code=exc.status_code)

    async def on_error(request: Request, exc: Exception) -> Response:
        log.error("request failed", exc_info=exc, extra={"fields": {"path": request.url.path[:200]}})
        r = json({"error": "internal error", "status": 500}, status_code=500)
        r.headers.update(security)  # this handler runs outside the middleware
        return r

    app = Starlette(routes=routes, exception_handlers={QueryError: on_query_error, HTTPException: on_http_error,
                                                       Exception: on_error})
    app.add_middleware(_Headers, headers=security, readonly=json(
        {"error": "the portal is read-only: GET and HEAD only", "status": 405}, status_code=405),
        post_allowed=accepts_post if fleet is not None else None)
    return app


class _Headers:
    """Pure ASGI middleware (streams pass through untouched): security headers on every
    response, and 405 for anything but GET and HEAD (and POST to the fleet view's forms)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str], readonly: Response,
                 post_allowed: Callable[[str], bool] | None = None) -> None:
        self.app = app
        self.post_allowed = post_allowed
        self.raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.readonly = readonly

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        post_ok = scope["method"] == "POST" and self.post_allowed is not None and self.post_allowed(scope["path"])
        if scope["method"] not in ("GET", "HEAD") and not post_ok:
            scope = {**scope, "method": "GET"}
            await self._send_with_headers(self.readonly, scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.raw]}
            await send(message)

        await self.app(scope, receive, wrapped)

    async def _send_with_headers(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.raw]}
            await send(message)

        await response(scope, receive, wrapped)
