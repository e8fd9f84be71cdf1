"""The citizens' pages, rendered on the server (German and English) with every value escaped.

No inline script or style (the CSP forbids both): behaviour comes from /static/map.js and
/static/node.js, configuration from ``data-`` attributes. Every chart has its values table
as the text alternative; links and buttons are plain, focusable elements.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from .catalog import Catalog, NodeView, rounded
from .i18n import LANGS, TEXT, quantity_name, unit_label
from .queries import RANGES
from .storage import Point, SeriesInfo
from .timefmt import iso_ms


def _e(v: Any) -> str:
    return escape(str(v), quote=True)


def fmt_value(v: Any, unit: str, lang: str) -> str:
    if v is None:
        return TEXT[lang]["no_value"]
    if isinstance(v, bool):
        return {"de": "ja", "en": "yes"}[lang] if v else {"de": "nein", "en": "no"}[lang]
    if isinstance(v, float):
        text = f"{rounded(v):.4g}" if abs(v) < 1e5 else f"{v:.0f}"
        if lang == "de":
            text = text.replace(".", ",")
        return f"{text} {unit_label(unit, lang)}".strip()
    return str(v)


def _time(t_ms: int | None, lang: str) -> str:
    if t_ms is None:
        return TEXT[lang]["no_value"]
    iso = iso_ms(t_ms)
    return f'<time datetime="{iso}">{iso[:10]} {iso[11:16]} UTC</time>'


def _layout(lang: str, title: str, body: str, *, path: str, scripts: list[str], css: list[str]) -> str:
    t = TEXT[lang]
    other = "en" if lang == "de" else "de"
    links = "".join(f'<link rel="stylesheet" href="{_e(c)}">' for c in css)
    js = "".join(f'<script src="{_e(s)}" defer></script>' for s in scripts)
    return f"""<!doctype html>
<html lang="{lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
{links}<link rel="stylesheet" href="/static/portal.css">{js}</head>
<body>
<a class="skip" href="#main">{_e(t["skip"])}</a>
<header><a class="brand" href="/{lang}/">TroSmart</a>
<nav aria-label="{_e(t["map"])}"><a href="/{lang}/">{_e(t["map"])}</a> <a href="/{lang}/data">{_e(t["data"])}</a>
<a id="lang-switch" hreflang="{other}" lang="{other}" href="/{other}{_e(path)}">{_e(t["switch"])}</a></nav></header>
<main id="main">
{body}
</main>
</body></html>
"""


def map_page(catalog: Catalog, lang: str, quantity: str) -> str:
    t = TEXT[lang]
    nodes = sorted(catalog.nodes().values(), key=lambda v: v.node.name)
    quantities = sorted({s.quantity for v in nodes for s in v.series if s.kind in "nb"})
    if quantities and quantity not in quantities:
        quantity = quantities[0]
    opts = "".join(f'<option value="{_e(q)}"{" selected" if q == quantity else ""}>{_e(quantity_name(q, lang))}'
                   "</option>" for q in quantities)
    rows = []
    for v in nodes:
        n = v.node
        cells = []
        for q in quantities:
            s = v.quantity(q)
            cells.append(f'<td data-q="{_e(q)}"{"" if q == quantity else " hidden"}>'
                         f'{_e(fmt_value(s.last_value() if s else None, s.unit if s else "", lang))}</td>')
        rows.append(f'<tr data-node="{_e(n.dev_eui)}"><th scope="row"><a href="/{lang}/node/{_e(n.dev_eui)}">'
                    f'{_e(n.name)}</a></th>{"".join(cells)}<td class="seen">{_time(v.last_seen_ms, lang)}</td></tr>')
    heads = "".join(f'<th scope="col" data-q="{_e(q)}"{"" if q == quantity else " hidden"}>'
                    f"{_e(quantity_name(q, lang))}</th>" for q in quantities)
    table = (f'<table class="values" id="node-table"><caption>{_e(t["nodes"])}</caption><thead><tr>'
             f'<th scope="col">{_e(t["name"])}</th>{heads}<th scope="col">{_e(t["last_seen"])}</th></tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>') if nodes else f"<p>{_e(t['no_nodes'])}</p>"
    cfg = catalog.cfg
    body = f"""<h1>{_e(t["title"])}</h1>
<form class="controls" action="/{lang}/" method="get"><label for="quantity">{_e(t["quantity"])}</label>
<select id="quantity" name="quantity">{opts}</select> <noscript><button type="submit">OK</button></noscript>
<span id="live" class="live" data-on="{_e(t["live"])}" data-off="{_e(t["offline"])}">{_e(t["offline"])}</span></form>
<div id="map" role="region" aria-label="{_e(t["map"])}" data-lang="{lang}" data-quantity="{_e(quantity)}"
 data-tile-url="{_e(cfg.tile_url)}" data-tile-attribution="{_e(cfg.tile_attribution)}"></div>
<p class="legend"><span class="scale"></span> {_e(t["legend"])} <span id="legend-range"></span></p>
{table}
{_licence_note(catalog, lang)}"""
    return _layout(lang, t["title"], body, path=f"/?{urlencode({'quantity': quantity})}",
                   scripts=["/static/vendor/leaflet/leaflet.js", "/static/map.js"],
                   css=["/static/vendor/leaflet/leaflet.css"])


def _licence_note(catalog: Catalog, lang: str) -> str:
    lic = catalog.licence()
    t = TEXT[lang]
    return (f'<footer class="licence"><p>{_e(t["licence"])}: <a rel="license" href="{_e(lic["url"])}">'
            f'{_e(lic["name"])}</a>. {_e(t["attribution"])}: {_e(lic["attribution"])}</p></footer>')


def node_page(catalog: Catalog, lang: str, view: NodeView, rng: str, charts: dict[str, list[Point]]) -> str:
    t = TEXT[lang]
    n = view.node
    dev = _e(n.dev_eui)
    owner = _e(n.owner_name or ("Stadt" if lang == "de" else "City")) if n.owner == "city" else _e(t["private"])
    if n.lat is None:
        pos = _e(t["none"])
    else:
        pos = f'{n.lat:.5f}, {n.lon:.5f} ({_e(t["exact"] if n.position_exact else t["grid"])})'
    latest = "".join(
        f'<tr data-q="{_e(s.quantity)}"><th scope="row">{_e(quantity_name(s.quantity, lang))}</th>'
        f'<td class="v">{_e(fmt_value(s.last_value(), s.unit, lang))}</td><td>{_time(s.last_t, lang)}</td></tr>'
        for s in view.series)
    current = ' aria-current="page"'
    ranges = "".join(
        f'<li><a href="/{lang}/node/{dev}?range={r}"{current if r == rng else ""}>'
        f'{_e(t["r" + r])}</a></li>' for r in RANGES)
    blocks = []
    for s in view.series:
        if s.quantity not in charts:
            continue
        pts = charts[s.quantity]
        qn = _e(quantity_name(s.quantity, lang))
        ul = _e(unit_label(s.unit, lang))
        rows = "".join(f"<tr><td>{_time(p.t_ms, lang)}</td><td>{_e(fmt_value(p.mean, '', lang))}</td>"
                       f"<td>{_e(fmt_value(p.min, '', lang))}</td><td>{_e(fmt_value(p.max, '', lang))}</td>"
                       f"<td>{p.n}</td></tr>" for p in pts)
        dl = _downloads(n.dev_eui, s.quantity, rng)
        blocks.append(f"""<section class="chart-block"><h3 id="h-{_e(s.quantity)}">{qn} ({ul or "–"})</h3>
<div class="chart" role="img" aria-labelledby="h-{_e(s.quantity)}" data-node="{dev}" data-quantity="{_e(s.quantity)}"
 data-range="{rng}" data-unit="{ul}" data-expected="{len(pts)}"></div>
<details><summary>{_e(t["values_table"])} ({len(pts)})</summary><table class="values">
<thead><tr><th scope="col">{_e(t["time"])}</th><th scope="col">{_e(t["mean"])}</th><th scope="col">{_e(t["min"])}</th>
<th scope="col">{_e(t["max"])}</th><th scope="col">{_e(t["count"])}</th></tr></thead><tbody>{rows}</tbody></table>
</details><p class="downloads">{_e(t["downloads"])}: {dl}</p></section>""")
    body = f"""<p><a href="/{lang}/">← {_e(t["back"])}</a></p>
<h1 id="node-name">{_e(n.name)}</h1>
<dl class="facts"><dt>{_e(t["node"])}</dt><dd><code>{dev}</code></dd><dt>{_e(t["owner"])}</dt><dd>{owner}</dd>
<dt>{_e(t["position"])}</dt><dd>{pos}</dd><dt>{_e(t["last_seen"])}</dt>
<dd id="last-seen">{_time(view.last_seen_ms, lang)}</dd></dl>
{f"<p>{_e(n.description)}</p>" if n.description else ""}
<h2>{_e(t["latest"])}</h2>
<table class="values" id="latest" data-node="{dev}" data-lang="{lang}"><tbody>{latest}</tbody></table>
<p class="downloads">{_e(t["downloads"])} ({_e(t["all_data"])}): {_downloads(n.dev_eui, None, None)}</p>
<h2>{_e(t["charts"])}</h2>
<nav aria-label="{_e(t["range"])}"><ul class="ranges">{ranges}</ul></nav>
{"".join(blocks)}
{_licence_note(catalog, lang)}"""
    return _layout(lang, f"{n.name} – TroSmart", body, path=f"/node/{n.dev_eui}?range={rng}",
                   scripts=["/static/vendor/uplot/uPlot.iife.min.js", "/static/node.js"],
                   css=["/static/vendor/uplot/uPlot.min.css"])


def _downloads(dev: str, quantity: str | None, rng: str | None) -> str:
    q: dict[str, str] = {"node": dev}
    if quantity:
        q["quantity"] = quantity
    if rng:
        q["range"] = rng
    qs = _e(urlencode(q))
    return (f'<a href="/api/v1/observations.csv?{qs}" download>CSV</a> · '
            f'<a href="/api/v1/observations.senml.json?{qs}" download>SenML JSON</a>')


def data_page(catalog: Catalog, lang: str) -> str:
    t = TEXT[lang]
    lic = catalog.licence()
    ds = catalog.cfg.dataset
    cols = {
        "de": ["node: DevEUI des Knotens", "name: Anzeigename", "lat, lon: WGS 84; private Knoten auf ein "
               "Raster von ca. 100 m gerundet", "quantity: Messgröße (SenML-Name)", "unit: SenML-Einheit",
               "time: ISO 8601, UTC", "value: Zahl, true/false oder Text (invalid = Sensorfehler)"],
        "en": ["node: the node's DevEUI", "name: display name", "lat, lon: WGS 84; private nodes rounded to a "
               "grid of about 100 m", "quantity: SenML name", "unit: SenML unit", "time: ISO 8601, UTC",
               "value: number, true/false or text (invalid = sensor failed)"],
    }[lang]
    body = f"""<h1>{_e(t["data"])}</h1>
<p>{_e(ds.description if lang == "de" else ds.description_en)}</p>
<h2>{_e(t["licence"])}</h2>
<p><a rel="license" href="{_e(lic["url"])}">{_e(lic["name"])}</a> ({_e(lic["id"])})</p>
<p>{_e(t["attribution"])}: <q>{_e(lic["attribution"])}</q></p>
<h2>{_e(t["downloads"])}</h2>
<p>{_e(t["all_nodes"])}: <a href="/api/v1/observations.csv" download>CSV</a> ·
<a href="/api/v1/observations.senml.json" download>SenML JSON</a>. {_e(t["per_node"])}</p>
<p><code>?node=…&amp;quantity=…&amp;from=2026-01-01&amp;to=2026-02-01</code></p>
<h3>CSV: {_e(t["columns"])}</h3><ul>{"".join(f"<li>{_e(c)}</li>" for c in cols)}</ul>
<p><a href="/api/v1/dataset">{_e(t["dataset"])}</a> · <a href="/api/v1/">{_e(t["api"])}</a></p>"""
    return _layout(lang, f"{t['data']} – TroSmart", body, path="/data", scripts=[], css=[])


def lang_of(accept_language: str) -> str:
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "de"


def chart_series(view: NodeView) -> list[SeriesInfo]:
    return [s for s in view.series if s.kind in "nb"]
