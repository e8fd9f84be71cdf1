"""parse -> dedupe -> decode -> SenML -> outbox rows, for one input message at a time.

No I/O: the worker hands in the device table and a dedupe look-up, and collects what a
message produces in a ``Batch`` that it commits in one transaction. Nothing raises out of
``handle``: bad input becomes a dead letter (or a rejected command) with a reason.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import commands, decoding, homeassistant, jsonio, meta, p2p_uplink, parse_chirpstack, parse_tts
from .config import Config
from .errors import CommandRejected, InputError
from .logs import Throttle, event
from .metrics import PipelineMetrics
from .model import DeviceEvent, Event, Ignored, InMessage, Uplink
from .store import OutRow
from .topics import CityTopics

_PARSERS = {"chirpstack": parse_chirpstack.parse, "tts": parse_tts.parse}
_PARSERS["serial"] = p2p_uplink.parse  # the USB-serial P2P receiver (bridge/serial_source.py)
DEADLETTER_RAW_MAX = 4096  # bytes of an oversize message kept in its dead letter
ANNOUNCE_EVERY_S = 600.0


def _json(doc: Any) -> bytes:
    return jsonio.dumps(doc)


@dataclass
class Downlink:
    source: str
    topic: str
    payload: bytes
    command_id: str
    dev_eui: str
    city_id: str | None


@dataclass
class Batch:
    rows: list[OutRow] = field(default_factory=list)
    retained: dict[str, bytes] = field(default_factory=dict)  # topic -> newest payload
    seen: list[tuple[str, float]] = field(default_factory=list)
    seen_keys: set[str] = field(default_factory=set)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    commands: list[tuple[str, str, str | None]] = field(default_factory=list)
    acks: list[InMessage] = field(default_factory=list)
    downlinks: list[Downlink] = field(default_factory=list)
    uplinks: int = 0

    def keep(self, topic: str, payload: bytes) -> None:
        """A retained row: only the newest per topic in a batch reaches the outbox."""
        self.retained.pop(topic, None)
        self.retained[topic] = payload

    def all_rows(self) -> list[OutRow]:
        return self.rows + [OutRow(t, p, retain=True) for t, p in self.retained.items()]


class Processor:
    def __init__(self, cfg: Config, metrics: PipelineMetrics, devices: dict[str, dict[str, Any]],
                 seen_many: Callable[[list[str]], set[str]],
                 command_lookup: Callable[[str], tuple[str, str | None] | None],
                 source_lns: dict[str, str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.topics = CityTopics(cfg.prefix)
        self.metrics = metrics
        self.devices = devices
        self._seen_many = seen_many
        self._command_lookup = command_lookup
        self.source_lns = source_lns
        self.limiter = commands.RateLimiter(cfg.downlink_min_interval_s)
        self.announce_limiter = commands.RateLimiter(ANNOUNCE_EVERY_S)
        self._throttle = Throttle(10.0)
        # devices with retained topics waiting -> monotonic time they are due; insertion order
        # is due order (one delay for all). Pending at start (``_retained`` in the saved state):
        # the bridge stopped before publishing them, so they are due now.
        self._retained_due: dict[str, float] = dict.fromkeys(
            (k for k, st in devices.items() if "_retained" in st), clock())
        self._clock = clock

    # --- entry -------------------------------------------------------------------------
    def handle_batch(self, msgs: list[InMessage], b: Batch) -> None:
        """Parse all, look the uplinks' dedupe keys up in one query, then handle in order."""
        parsed: list[Event | InputError | None] = []
        for msg in msgs:
            if msg.conn == "city":
                parsed.append(None)
                continue
            try:
                parsed.append(_PARSERS[self.source_lns[msg.conn]](msg.topic, msg.payload,
                                                                  self.cfg.max_message_bytes))
            except InputError as e:
                parsed.append(e)
            except Exception as e:
                parsed.append(InputError("internal_error", repr(e)))
        keys = [ev.dedupe_key for ev in parsed if isinstance(ev, Uplink)]
        known = self._seen_many(keys) if keys else set()
        for msg, ev in zip(msgs, parsed, strict=False):
            self.handle(msg, b, ev, known)
        self.metrics.flush()

    def handle(self, msg: InMessage, b: Batch, ev: Event | InputError | None = None,
               known: set[str] | None = None) -> None:
        b.acks.append(msg)
        try:
            if msg.conn == "city":
                self._command(msg, b)
            else:
                self._source(msg, b, ev, known)
        except Exception as e:  # a bug must not stop the bridge: keep the message, say why
            if self._throttle.due("internal"):
                event(logging.ERROR, "internal error on a message", topic=msg.topic, error=repr(e))
            self._deadletter(b, msg, "internal_error", repr(e))

    # --- uplinks and device events ----------------------------------------------------
    def _source(self, msg: InMessage, b: Batch, ev: Event | InputError | None,
                known: set[str] | None) -> None:
        if ev is None:
            try:
                ev = _PARSERS[self.source_lns[msg.conn]](msg.topic, msg.payload,
                                                         self.cfg.max_message_bytes)
            except InputError as e:
                ev = e
        if isinstance(ev, InputError):
            self._deadletter(b, msg, ev.reason, ev.detail)
            return
        if isinstance(ev, Uplink):
            if known is None:
                known = self._seen_many([ev.dedupe_key])
            if ev.dedupe_key in known:
                self.metrics.count("uplinks_in", msg.conn)
                self.metrics.count("duplicates", msg.conn)
                return
            self._uplink(msg, ev, b)
        elif isinstance(ev, DeviceEvent):
            self._device_event(ev, b)
        elif isinstance(ev, Ignored):
            self.metrics.count("events", "ignored")

    def _state(self, b: Batch, dev_eui: str) -> dict[str, Any]:
        st = b.devices.get(dev_eui)
        if st is None:
            st = dict(self.devices.get(dev_eui, {}))
            b.devices[dev_eui] = st
        return st

    def _uplink(self, msg: InMessage, up: Uplink, b: Batch) -> None:
        self.metrics.count("uplinks_in", msg.conn)
        if up.dedupe_key in b.seen_keys:
            self.metrics.count("duplicates", msg.conn)
            return
        b.seen_keys.add(up.dedupe_key)
        b.seen.append((up.dedupe_key, time.time()))
        st = self._state(b, up.dev_eui)
        meta.fold(st, up)
        st["_route"] = {"source": msg.conn, "lns": up.lns, "down_topic": up.down_topic}
        mode = self.cfg.decode_mode(up.dev_eui, up.application_id)
        quantities: Iterable[str] = ()
        if up.data or mode == "passthrough":
            quantities = self._decode(msg, up, mode, st, b)
        self._changed(up.dev_eui, st, quantities)
        b.uplinks += 1

    def _decode(self, msg: InMessage, up: Uplink, mode: str, st: dict[str, Any],
                b: Batch) -> Iterable[str]:
        """SenML into the batch; returns the quantities whose latest value changed."""
        known = st.get("_layouts")
        layouts = {int(k): v for k, v in known.items()} if known else None
        try:
            d = decoding.decode(up, mode, layouts)
        except decoding.NeedsLayout as e:
            self._deadletter(b, msg, e.reason, e.detail, up)
            if self.cfg.announce_layout:
                self._announce_layout(up, b)
            return ()
        except InputError as e:
            self._deadletter(b, msg, e.reason, e.detail, up)
            return ()
        if d.layout is not None:
            st.setdefault("_layouts", {})[str(d.layout[0])] = d.layout[1]
        if d.firmware is not None:
            st["firmware"] = d.firmware
        b.rows.append(OutRow(self.topics.senml(up.dev_eui), _json(d.senml), origin=up.received_at))
        self.metrics.count("uplinks_out", msg.conn)
        if not self.cfg.retained_values or not d.latest:
            return ()
        latest = st.get("_latest")
        if latest is None:
            latest = st["_latest"] = {}
        latest.update(d.latest)
        if self.cfg.home_assistant:
            announced = set(st.get("_ha", []))
            for q, val in d.latest.items():
                if q not in announced:  # discovery goes out at once, before the first value
                    t, p = homeassistant.discovery(self.cfg.home_assistant_prefix, self.topics,
                                                   up.dev_eui, up.device_name, q, val)
                    b.keep(t, p)
                    announced.add(q)
            st["_ha"] = sorted(announced)
        return d.latest.keys()

    # --- retained topics ------------------------------------------------------------------
    def _changed(self, dev_eui: str, st: dict[str, Any], quantities: Iterable[str] = ()) -> None:
        """Mark a device's ``meta`` and the given latest values for publication. They go out
        ``retained_delay_s`` after the first change not yet published, with the state of
        then: a device sending often updates each retained topic about once per delay, and
        one sending without pause still does (the delay does not restart). The marks are
        part of the saved device state, so a restart publishes what a stop left waiting."""
        waiting = st.get("_retained")
        if waiting is None:
            waiting = st["_retained"] = []
            self._retained_due.setdefault(dev_eui, self._clock() + self.cfg.retained_delay_s)
        for q in quantities:
            if q not in waiting:
                waiting.append(q)

    def next_retained(self) -> float:
        """Monotonic time the next device's retained topics are due (inf: none waits)."""
        for due in self._retained_due.values():
            return due
        return float("inf")

    def emit_retained(self, b: Batch, now: float) -> None:
        """Retained rows of every device whose delay has passed by ``now`` (monotonic)."""
        due = self._retained_due
        while due:
            dev_eui = next(iter(due))
            if due[dev_eui] > now:
                return
            del due[dev_eui]
            st = self._state(b, dev_eui)
            latest = st.get("_latest") or {}
            for q in st.pop("_retained", ()):
                if q in latest:
                    b.keep(self.topics.value(dev_eui, q), _json(latest[q]))
            b.keep(self.topics.meta(dev_eui), _json(meta.public(st)))

    def _announce_layout(self, up: Uplink, b: Batch) -> None:
        try:
            self.announce_limiter.check(up.dev_eui, time.monotonic())
        except CommandRejected:
            return
        cid = commands.new_id()
        self._queue_downlink(b, up.dev_eui, {"announce_layout": True}, cid, None)

    def _device_event(self, ev: DeviceEvent, b: Batch) -> None:
        self.metrics.count("events", ev.kind)
        if ev.dev_eui is None:
            return
        if ev.kind in ("join", "status") and (ev.dev_eui in self.devices or ev.dev_eui in b.devices):
            st = self._state(b, ev.dev_eui)
            if ev.kind == "join":
                st["joined_at"] = round(ev.received_at, 3)
            elif ev.battery_level is not None:
                st["battery_level"] = ev.battery_level
            self._changed(ev.dev_eui, st)
            return
        if ev.command_id is None:
            return
        known = self._command_lookup(ev.command_id) or next(
            ((c[1], c[2]) for c in b.commands if c[0] == ev.command_id), None)
        if known is None:
            return  # a downlink someone else queued
        dev_eui, city_id = known
        self._result(b, dev_eui, ev.kind, ev.command_id, city_id, ev.reason, "lns")

    # --- commands -------------------------------------------------------------------------
    def _command(self, msg: InMessage, b: Batch) -> None:
        device = self.topics.command_device(msg.topic)
        if device is None or msg.retain:
            return  # not a command topic, or a stale retained command: never replayed
        dev_eui = device.lower()
        try:
            cmd, city_id, _frame = commands.parse_command(msg.payload)
        except CommandRejected as e:
            self._result(b, dev_eui, "rejected", None, None, f"{e.reason}: {e.detail}", "bridge")
            return
        try:
            if dev_eui not in self.devices and dev_eui not in b.devices:
                if self.cfg.unknown_device_commands == "ignore":
                    return  # partitioned instances: the one that knows the device answers
                raise CommandRejected("unknown_device", f"no uplink from {dev_eui} seen yet")
            self.limiter.check(dev_eui, time.monotonic())
        except CommandRejected as e:
            self._result(b, dev_eui, "rejected", None, city_id, f"{e.reason}: {e.detail}", "bridge")
            return
        self._queue_downlink(b, dev_eui, cmd, commands.new_id(), city_id)

    def _queue_downlink(self, b: Batch, dev_eui: str, cmd: dict[str, Any], cid: str,
                        city_id: str | None) -> None:
        st = self._state(b, dev_eui)
        route = st.get("_route") or {}
        frame = commands.parse_command(_json(cmd))[2]
        payload = commands.lns_message(route.get("lns", "chirpstack"), dev_eui, frame, cid,
                                       self.cfg.downlink_confirmed)
        b.commands.append((cid, dev_eui, city_id))
        b.downlinks.append(Downlink(route["source"], route["down_topic"], payload, cid, dev_eui,
                                    city_id))

    def _result(self, b: Batch, dev_eui: str, status: str, cid: str | None, city_id: str | None,
                reason: str | None, by: str) -> None:
        self.metrics.count("commands", status)
        doc: dict[str, Any] = {"status": status, "at": round(time.time(), 3), "by": by}
        if cid:
            doc["command_id"] = cid
        if city_id:
            doc["id"] = city_id
        if reason:
            doc["reason"] = reason
        b.rows.append(OutRow(self.topics.command_result(dev_eui), _json(doc)))

    def queued(self, b: Batch, d: Downlink) -> None:
        """The LNS broker accepted a downlink (PUBACK)."""
        self._result(b, d.dev_eui, "queued", d.command_id, d.city_id, None, "bridge")

    # --- dead letters ------------------------------------------------------------------------
    def _deadletter(self, b: Batch, msg: InMessage, reason: str, detail: str,
                    up: Uplink | None = None) -> None:
        self.metrics.count("decode_errors", reason)
        raw = msg.payload[:DEADLETTER_RAW_MAX]
        doc: dict[str, Any] = {
            "reason": reason,
            "detail": detail,
            "source": msg.conn,
            "topic": msg.topic,
            "at": round(time.time(), 3),
            "message_bytes": len(msg.payload),
            "message_b64": base64.b64encode(raw).decode(),
            "message_truncated": len(raw) < len(msg.payload),
        }
        if up is not None:
            doc.update(dev_eui=up.dev_eui, f_port=up.f_port, f_cnt=up.f_cnt,
                       frame_hex=up.data.hex(), received_at=up.received_at)
        b.rows.append(OutRow(self.topics.deadletter(), _json(doc)))
