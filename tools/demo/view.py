"""The demo's live view: a full-screen redraw with plain ANSI escapes on a terminal, or one line
per event when stdout is not a terminal (a pipe, a CI log). No curses: works in any terminal.

A quantity whose value is the codec's invalid marker shows as "—": in the demo, any quantity
of a sensor that fails at run time."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from payload_codec import registry

from .state import DemoState, NodeRow, format_value

HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
HOME, CLEAR_EOL, CLEAR_EOS, CLEAR = "\x1b[H", "\x1b[K", "\x1b[J", "\x1b[2J"
BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
DUTY_BUDGET_MS_PER_H = 36000.0  # 1 % of an hour (EU868 sub-band M, docs/references.md §E)


def hms(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def unit(q: str) -> str:
    try:
        u = registry.by_name(q)[2]
    except ValueError:
        return ""
    return f" {u}" if u else ""


def value_text(q: str, v: object) -> str:
    text = format_value(q, v)
    return text if v is None or isinstance(v, bool) else text + unit(q)


def _ago(state: DemoState, wall: float | None, now: float) -> str:
    if wall is None:
        return "—"
    return f"{hms((now - wall) * state.time_scale)} ago"


def _airtime(state: DemoState, r: NodeRow, now: float) -> str:
    hours = max(state.virtual_s(now) / 3600.0, 1e-9)
    share = r.airtime_ms / (hours * DUTY_BUDGET_MS_PER_H) * 100.0  # of the 1 % budget
    return f"{r.airtime_ms / 1000:.2f} s ({share:.0f}% of 1%/h)"


def render(state: DemoState, width: int = 120, recent: int = 8, now: float | None = None) -> list[str]:
    """The screen as lines (no escapes except bold/dim); pure, so tests can check it."""
    now = now or time.time()
    lines = [
        f"{BOLD}TroSmart demo{RESET} · ≈{hms(state.virtual_s(now))} virtual (×{state.time_scale:g})"
        f" · broker: {state.broker} · city prefix {state.prefix}",
        f"{DIM}real firmware on MicroPython (Unix port) → emulated RAK3172 → simulated ChirpStack → bridge → "
        f"SenML{RESET}",
        "",
        f"{'NODE':<12} {'DEVEUI':<16} {'PROFILE':<12} {'LAST UPLINK':<17} {'fCnt':>4} "
        f"{'UPLINKS':>7}  {'AIRTIME (of 1% budget)':<24} BATTERY",
    ]
    for r in state.rows:
        bat = f"{r.battery:.2f} V" if r.battery is not None else "—"
        fcnt = "—" if r.fcnt is None else str(r.fcnt)
        last = _ago(state, r.last_uplink, now) if r.joined or r.last_uplink else "joining…"
        lines.append(f"{BOLD}{r.name:<12}{RESET} {r.deveui:<16} {r.profile:<12} {last:<17} {fcnt:>4} "
                     f"{r.uplinks:>7}  {_airtime(state, r, now):<24} {bat}")
        vals = " · ".join(f"{q} {value_text(q, r.values.get(q))}" for q in r.quantities)
        lines.append(f"   decoded: {vals if r.values else 'no reading yet'}")
        if r.city_last:
            recs = ", ".join(_record(rec) for rec in r.city_last)
            lines.append(f"   city: {state.prefix}/{r.deveui}/senml #{r.city_packs} "
                         f"({_ago(state, r.city_at, now)}): {recs}")
        else:
            lines.append(f"   city: {state.prefix}/{r.deveui}/senml — nothing yet")
    lines += ["", f"{BOLD}Recent{RESET} (city broker: {state.city_messages} SenML packs, "
                  f"{state.deadletters} dead letters)   Ctrl-C stops everything"]
    for ev in state.events[-recent:]:
        lines.append(f"  [{hms(state.virtual_s(ev.at))}] {ev.text}")
    return [_clip(ln, width) for ln in lines]


def _record(rec: dict) -> str:
    name = rec.get("n", "?")
    for k in ("v", "vb", "vs"):
        if k in rec:
            u = rec.get("u")
            return f"{name}={rec[k]}" + (f" {u}" if u and k == "v" else "")
    return str(name)


def _clip(line: str, width: int) -> str:
    visible = 0
    out = []
    i = 0
    while i < len(line):  # count printable characters only; escapes are free
        if line[i] == "\x1b":
            j = line.index("m", i) + 1
            out.append(line[i:j])
            i = j
            continue
        if visible >= width - 1:
            out.append("…")
            break
        out.append(line[i])
        visible += 1
        i += 1
    return "".join(out) + (RESET if "\x1b" in line else "")


class Screen:
    """Redraws the whole view in place (TTY) or prints each new event as a line (not a TTY)."""

    def __init__(self, state: DemoState, out: TextIO = sys.stdout, tty: bool | None = None) -> None:
        self.state = state
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._printed = 0
        self._opened = False

    def open(self) -> None:
        self._opened = True
        if self.tty:
            self.out.write(HIDE_CURSOR + CLEAR)
            self.out.flush()

    def draw(self) -> None:
        with self.state.lock:
            if self.tty:
                size = shutil.get_terminal_size((120, 40))
                rows = render(self.state, size.columns, recent=max(3, size.lines - 20))
                text = HOME + "".join(ln + CLEAR_EOL + "\n" for ln in rows) + CLEAR_EOS
            else:
                new = self.state.events[self._printed:]
                self._printed += len(new)
                text = "".join(f"[{hms(self.state.virtual_s(ev.at))}] {ev.text}\n" for ev in new)
        if text:
            self.out.write(text)
            self.out.flush()

    def close(self) -> None:
        if not self._opened:
            return
        self.draw()
        if self.tty:
            self.out.write(SHOW_CURSOR)
            self.out.flush()
