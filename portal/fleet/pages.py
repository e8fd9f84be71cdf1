"""The fleet view's pages (German and English), every value escaped, no inline script or
style (the portal's CSP): /static/fleet.js follows a sent command's result."""

from __future__ import annotations

from typing import Any

from ..i18n import FLEET_TEXT
from ..pages import _e, _layout, _time, fmt_value
from .commands import FORM_COMMANDS
from .health import NodeHealth
from .view import NodeDetail


def _duration(s: int, lang: str) -> str:
    if s % 3600 == 0:
        return f"{s // 3600} h"
    if s % 60 == 0:
        return f"{s // 60} min"
    return f"{s} s"


def _num(v: float | None, fmt: str, lang: str) -> str:
    if v is None:
        return "—"
    text = format(v, fmt)
    return text.replace(".", ",") if lang == "de" else text


def _logout(lang: str, csrf: str, account: str) -> str:
    f = FLEET_TEXT[lang]
    return (f'<form class="logout" method="post" action="/{lang}/fleet/logout"><span>{_e(f["signed_in"])} '
            f'<strong id="account">{_e(account)}</strong></span> <input type="hidden" name="csrf" value="{_e(csrf)}">'
            f'<button type="submit" id="logout">{_e(f["logout"])}</button></form>')


def login_page(lang: str, token: str, next_path: str, message: str | None = None) -> str:
    f = FLEET_TEXT[lang]
    msg = f'<p class="error" id="login-error" role="alert">{_e(message)}</p>' if message else ""
    body = f"""<h1>{_e(f["login_title"])}</h1>{msg}
<form class="login" method="post" action="/{lang}/fleet/login">
<input type="hidden" name="csrf" value="{_e(token)}"><input type="hidden" name="next" value="{_e(next_path)}">
<p><label for="name">{_e(f["account"])}</label> <input id="name" name="name" autocomplete="username" required
 maxlength="64"></p>
<p><label for="password">{_e(f["password"])}</label> <input id="password" name="password" type="password"
 autocomplete="current-password" required maxlength="256"></p>
<p><button type="submit" id="login">{_e(f["login"])}</button></p></form>"""
    return _layout(lang, f"{f['login']} – TroSmart", body, path="/fleet/login", scripts=[], css=[])


def _reasons(n: NodeHealth, lang: str) -> list[str]:
    f = FLEET_TEXT[lang]
    out = []
    if n.silent:
        out.append(f["silent_long"].format(n=n.silent_intervals, p=_duration(n.period_s, lang)))
    if n.battery_fast and n.battery_slope is not None:
        out.append(f["battery_fast_long"].format(r=_num(-n.battery_slope, ".3f", lang)))
    return out


def _failures(n: NodeHealth, lang: str) -> str:
    f = FLEET_TEXT[lang]
    parts = list(n.failed_sensors)
    if n.invalid_quantities:
        parts.append(f'{f["invalid"]}: {", ".join(n.invalid_quantities)}')
    return ", ".join(parts) or f["none"]


def _row(n: NodeHealth, lang: str) -> str:
    f = FLEET_TEXT[lang]
    cls = ' class="alert"' if n.highlighted else ""
    flags = []
    if n.silent:
        flags.append(f'<span class="flag silent">{_e(f["silent"])}</span>')
    if n.battery_fast:
        flags.append(f'<span class="flag battery">{_e(f["battery_fast"])}</span>')
    link = f'{_num(n.rssi, ".0f", lang)} dBm / {_num(n.snr, ".1f", lang)} dB'
    if n.gateway:
        link += f" ({_e(n.gateway)})"
    loss = (f'{_num(None if n.packet_loss is None else n.packet_loss * 100, ".1f", lang)} % / '
            f'{_num(None if n.loss_24h is None else n.loss_24h * 100, ".1f", lang)} %')
    trend = "—" if n.battery_slope is None else f'{_num(n.battery_slope, "+.3f", lang)} {f["per_day"]}'
    return (f'<tr{cls} data-node="{_e(n.dev_eui)}"><th scope="row"><a href="/{lang}/fleet/node/{_e(n.dev_eui)}">'
            f'{_e(n.name)}</a> {" ".join(flags)}<br><code>{_e(n.dev_eui)}</code></th>'
            f'<td>{_e(f["public"] if n.public else f["private"])}</td>'
            f'<td class="seen">{_time(n.last_seen_ms, lang)}</td>'
            f'<td>{_num(n.battery_v, ".2f", lang)} V<br>{_e(trend)}</td><td>{link}</td><td>{_e(loss)}</td>'
            f'<td>{_e(n.firmware or "—")}</td><td>{_e(", ".join(n.config_errors) or f["none"])}</td>'
            f'<td>{_e(_failures(n, lang))}</td></tr>')


def _head(lang: str) -> str:
    f = FLEET_TEXT[lang]
    cols = [f["node"], f["visibility"], "last_seen", f["battery"], f["link"],
            f'{f["loss"]} ({f["loss_total"]} / {f["loss_24h"]})', f["firmware"], f["config_errors"],
            f["sensor_failures"]]
    cols[2] = {"de": "Zuletzt gesehen", "en": "Last seen"}[lang]
    return "<thead><tr>" + "".join(f'<th scope="col">{_e(c)}</th>' for c in cols) + "</tr></thead>"


def fleet_page(lang: str, nodes: list[NodeHealth], csrf: str, account: str) -> str:
    f = FLEET_TEXT[lang]
    hot = [n for n in nodes if n.highlighted]
    attention = "".join(
        f'<li data-node="{_e(n.dev_eui)}"><a href="/{lang}/fleet/node/{_e(n.dev_eui)}">{_e(n.name)}</a>: '
        f'{_e("; ".join(_reasons(n, lang)))}</li>' for n in hot)
    body = f"""{_logout(lang, csrf, account)}
<h1>{_e(f["fleet"])}</h1>
<section id="attention" class="attention"><h2>{_e(f["attention"])} ({len(hot)})</h2>
{f'<ul>{attention}</ul>' if hot else f'<p>{_e(f["nothing"])}</p>'}</section>
<h2>{_e(f["all"])} ({len(nodes)})</h2>
<div class="scroll"><table class="values fleet" id="fleet-table">{_head(lang)}<tbody>
{"".join(_row(n, lang) for n in nodes)}</tbody></table></div>"""
    return _layout(lang, f"{f['fleet']} – TroSmart", body, path="/fleet/", scripts=[], css=[])


def _history_row(t: int, source: str, doc: dict[str, Any], lang: str) -> str:
    f = FLEET_TEXT[lang]
    if source == "meta":
        what = (f'RSSI {_num(doc.get("rssi"), ".0f", lang)} dBm, SNR {_num(doc.get("snr"), ".1f", lang)} dB'
                f'{" (" + str(doc["gateway"]) + ")" if doc.get("gateway") else ""}, f_cnt {doc.get("f_cnt", "—")}, '
                + f["lost_of"].format(lost=doc.get("lost", 0), n=doc.get("frames", 0) + doc.get("lost", 0)))
        if doc.get("battery_level") is not None:
            what += f', {f["battery"]} {doc["battery_level"]} %'
    else:
        parts = [f'{f["firmware"]} {doc.get("firmware", "—")}']
        if doc.get("battery_voltage") is not None:
            parts.append(f'{f["battery"]} {_num(doc["battery_voltage"], ".3f", lang)} V')
        if doc.get("interval_s"):
            parts.append(f'{f["interval"]} {doc["interval_s"]} s')
        if doc.get("reset_cause"):
            parts.append(f'reset {doc["reset_cause"]}')
        parts.append(f'{f["config_errors"]}: {", ".join(doc.get("config_errors", [])) or f["none"]}')
        parts.append(f'{f["sensor_failures"]}: {", ".join(doc.get("failed_sensors", [])) or f["none"]}')
        if doc.get("command_result"):  # the node's own answer to a command (docs/codec.md §5)
            parts.append(f'{f["node_answer"]}: {doc["command_result"]}')
        if doc.get("sensor_errors"):
            counts = ", ".join(f"{k} {v}" for k, v in sorted(doc["sensor_errors"].items()))
            parts.append(f'{f["sensor_errors"]}: {counts}')
        what = "; ".join(parts)
    src = f["meta"] if source == "meta" else f["status_frame"]
    return f'<tr data-source="{_e(source)}"><td>{_time(t, lang)}</td><td>{_e(src)}</td><td>{_e(what)}</td></tr>'


def _command_row(c: dict[str, Any], lang: str) -> str:
    f = FLEET_TEXT[lang]
    (name, value), = c["command"].items() if len(c["command"]) == 1 else (("?", None),)
    label = f.get("cmd_" + name, name) + ("" if value is True else f" = {value}")
    status = f.get("st_" + c["status"], c["status"])
    reason = f': {c["reason"]}' if c.get("reason") else ""
    return (f'<tr data-command="{_e(c["id"])}" data-final="{"true" if c["final"] else "false"}" data-lang="{lang}">'
            f'<td>{_time(c["sent_at"], lang)}</td><td>{_e(label)}</td><td>{_e(c["account"])}</td>'
            f'<td class="command-status" data-status="{_e(c["status"])}">{_e(status + reason)}</td></tr>')


def node_page(lang: str, d: NodeDetail, csrf: str, account: str) -> str:
    f = FLEET_TEXT[lang]
    n = d.health
    dev = _e(n.dev_eui)
    reasons = _reasons(n, lang)
    opts = "".join(f'<option value="{_e(c)}">{_e(f["cmd_" + c])}</option>' for c in FORM_COMMANDS)
    commands = "".join(_command_row(c, lang) for c in d.commands)
    history = "".join(_history_row(t, s, doc, lang) for t, s, doc in d.history)
    battery = "".join(f"<tr><td>{_time(p.t_ms, lang)}</td><td>{_e(fmt_value(p.mean, 'V', lang))}</td></tr>"
                      for p in reversed(d.battery))
    errors = ", ".join(f"{k} {v}" for k, v in sorted(n.sensor_errors.items()))
    st_labels = " ".join(f'data-{k.replace("_", "-")}="{_e(v)}"' for k, v in f.items() if k.startswith("st_"))
    body = f"""{_logout(lang, csrf, account)}
<p><a href="/{lang}/fleet/">← {_e(f["back"])}</a></p>
<h1 id="node-name">{_e(n.name)}</h1>
{f'<p class="alert" id="reasons">{_e("; ".join(reasons))}</p>' if reasons else ""}
<table class="fleet" id="node-health">{_head(lang)}<tbody>{_row(n, lang)}</tbody></table>
<dl class="facts"><dt>{_e(f["period"])}</dt><dd>{_e(_duration(n.period_s, lang))}</dd>
<dt>{_e(f["status_as_of"])}</dt><dd>{_time(n.status_t, lang)}</dd>
<dt>{_e(f["sensor_errors"])}</dt><dd>{_e(errors or f["none"])}</dd></dl>
<h2 id="commands-heading">{_e(f["commands"])}</h2>
<form class="command" id="command-form" method="post" action="/{lang}/fleet/node/{dev}/command">
<input type="hidden" name="csrf" value="{_e(csrf)}">
<label for="command">{_e(f["command"])}</label> <select id="command" name="command">{opts}</select>
<label for="value">{_e(f["value"])}</label> <input id="value" name="value" inputmode="numeric" pattern="[0-9]*"
 maxlength="6" size="7"> <button type="submit" id="send">{_e(f["send"])}</button></form>
<table class="values" id="commands" {st_labels}><thead><tr><th scope="col">{_e(f["sent_at"])}</th>
<th scope="col">{_e(f["command"])}</th><th scope="col">{_e(f["by"])}</th>
<th scope="col">{_e(f["result"])}</th></tr></thead>
<tbody>{commands or f'<tr><td colspan="4">{_e(f["no_commands"])}</td></tr>'}</tbody></table>
<h2>{_e(f["history"])}</h2>
<table class="values" id="history"><thead><tr><th scope="col">{_e({"de": "Zeit", "en": "Time"}[lang])}</th>
<th scope="col">{_e(f["source"])}</th><th scope="col">{_e(f["status"])}</th></tr></thead>
<tbody>{history}</tbody></table>
<details><summary>{_e(f["battery_hourly"])} ({len(d.battery)})</summary><table class="values" id="battery">
<tbody>{battery}</tbody></table></details>"""
    return _layout(lang, f"{n.name} – {f['fleet']} – TroSmart", body, path=f"/fleet/node/{n.dev_eui}",
                   scripts=["/static/fleet.js"], css=[])
