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

import payload_codec

from . import chirpstack, commands, decoding, homeassistant, jsonio, meta, p2p_uplink, tts
from .config import Config
from .device import DeviceState, Route
from .errors import CommandRejected, InputError
from .joins import JoinTable
from .logs import Throttle, event
from .metrics import PipelineMetrics
from .model import DeviceEvent, Event, InMessage, Uplink
from .store import OutRow
from .topics import CityTopics, device_id, publish_topic_problem

_PARSERS = {"chirpstack": chirpstack.parse, "tts": tts.parse}
ANNOUNCE_FRAME = payload_codec.encode_downlink({"announce_layout": True})  # encoded once
_PARSERS["serial"] = p2p_uplink.parse  # the USB-serial P2P receiver (bridge/serial_source.py)
DEADLETTER_RAW_MAX = 4096  # bytes of an oversize message kept in its dead letter
DEADLETTER_TOPIC_MAX = 1024  # characters of a message's topic kept in its dead letter
ANNOUNCE_EVERY_S = 600.0
GOOD_TOPICS_MAX = 100_000  # topics already checked, remembered (cleared when full)


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
    devices: dict[str, DeviceState] = field(default_factory=dict)
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
    def __init__(self, cfg: Config, metrics: PipelineMetrics, devices: dict[str, DeviceState],
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
        # is due order (one delay for all). Pending at start (``retained`` in the saved state):
        # the bridge stopped before publishing them, so they are due now.
        self._retained_due: dict[str, float] = dict.fromkeys(
            (k for k, st in devices.items() if st.retained is not None), clock())
        self._clock = clock
        self._good_topics: set[str] = set()
        self.joins = JoinTable()  # joins of devices without state yet, until their first uplink
        self.ha = homeassistant.Discovery(cfg.home_assistant_prefix, self.topics)

    # --- entry -------------------------------------------------------------------------
    def handle_batch(self, msgs: list[InMessage], b: Batch) -> None:
        """Parse all, look the uplinks' dedupe keys up in one query, then handle in order."""
        parsed: list[Event | InputError | None] = []
        for msg in msgs:
            if msg.conn == "city":
                parsed.append(None)
                continue
            try:
                parsed.append(self._parse(msg))
            except Exception as e:
                parsed.append(InputError("internal_error", repr(e)))
        keys = [ev.dedupe_key for ev in parsed if isinstance(ev, Uplink)]
        known = self._seen_many(keys) if keys else set()
        for msg, ev in zip(msgs, parsed, strict=False):
            self.handle(msg, b, ev, known)
        self.metrics.flush()

    def handle(self, msg: InMessage, b: Batch, ev: Event | InputError | None = None,
               known: set[str] | None = None) -> None:
        """One input message; counted once in ``inputs_total{outcome}`` (docs/bridge.md §8),
        so that every message the brokers delivered is accounted for."""
        b.acks.append(msg)
        try:
            outcome = self._command(msg, b) if msg.conn == "city" else self._source(msg, b, ev, known)
        except Exception as e:  # a bug must not stop the bridge: keep the message, say why
            if self._throttle.due("internal"):
                event(logging.ERROR, "internal error on a message", topic=msg.topic[:200],
                      error=repr(e))
            self._deadletter(b, msg, "internal_error", repr(e))
            outcome = "deadletter"
        self.metrics.count("inputs", outcome)

    # --- uplinks and device events ----------------------------------------------------
    def _parse(self, msg: InMessage) -> Event | InputError:
        if msg.truncated_from is not None:  # cut by the main process: never parsed
            return InputError("oversize", f"message is {msg.truncated_from} bytes, "
                              f"limit {self.cfg.max_message_bytes}")
        try:
            return _PARSERS[self.source_lns[msg.conn]](msg.topic, msg.payload,
                                                       self.cfg.max_message_bytes)
        except InputError as e:
            return e
    def _source(self, msg: InMessage, b: Batch, ev: Event | InputError | None,
                known: set[str] | None) -> str:
        if ev is None:
            ev = self._parse(msg)
        if isinstance(ev, InputError):
            self._deadletter(b, msg, ev.reason, ev.detail)
            return "deadletter"
        if isinstance(ev, Uplink):
            if known is None:
                known = self._seen_many([ev.dedupe_key])
            if ev.dedupe_key in known:
                self.metrics.count("uplinks_in", msg.conn)
                self.metrics.count("duplicates", msg.conn)
                return "duplicate"
            return self._uplink(msg, ev, b)
        if isinstance(ev, DeviceEvent):
            self._device_event(ev, b)
            return "event"
        self.metrics.count("events", "ignored")
        return "ignored_event"

    def _state(self, b: Batch, dev_eui: str) -> DeviceState:
        """The device's state, changed in place; the batch records it for its commit."""
        st = b.devices.get(dev_eui)
        if st is None:
            st = self.devices.get(dev_eui) or DeviceState()
            b.devices[dev_eui] = st
        return st

    def _uplink(self, msg: InMessage, up: Uplink, b: Batch) -> str:
        self.metrics.count("uplinks_in", msg.conn)
        if up.lns == "tts":
            known = b.devices.get(up.dev_eui) or self.devices.get(up.dev_eui)
            learned = known.route if known is not None else None
            clash = learned and tts.identity_conflict(learned.source, learned.down_topic or "", msg.conn, up)
            if clash:
                self._deadletter(b, msg, "identity_mismatch", clash, up)
                return "deadletter"
        if up.dedupe_key in b.seen_keys:
            self.metrics.count("duplicates", msg.conn)
            return "duplicate"
        b.seen_keys.add(up.dedupe_key)
        b.seen.append((up.dedupe_key, time.time()))
        st = self._state(b, up.dev_eui)
        joined_at = self.joins.take(up.dev_eui) if self.joins else None
        if joined_at is not None:
            meta.join(st.meta, joined_at)
        meta.fold(st.meta, up)
        route = st.route
        if route is None or route.source != msg.conn or route.down_topic != up.down_topic:
            st.route = Route(msg.conn, up.lns, up.down_topic)
        mode = self.cfg.decode_mode(up.dev_eui, up.application_id)
        quantities: Iterable[str] = ()
        if up.data or mode == "passthrough":
            quantities = self._decode(msg, up, mode, st, b)
        self._changed(up.dev_eui, st, quantities)
        b.uplinks += 1
        return "uplink"

    def _decode(self, msg: InMessage, up: Uplink, mode: str, st: DeviceState,
                b: Batch) -> Iterable[str]:
        """SenML into the batch; returns the quantities whose latest value changed."""
        known = st.layouts
        layouts = {int(k): v for k, v in known.items()} if known else None
        try:
            d = decoding.decode(up, mode, layouts, st.seen)
        except decoding.NeedsLayout as e:
            self._deadletter(b, msg, e.reason, e.detail, up)
            if self.cfg.announce_layout:
                self._announce_layout(up, b)
            return ()
        except InputError as e:
            self._deadletter(b, msg, e.reason, e.detail, up)
            return ()
        if d.layout is not None:
            st.layouts[str(d.layout[0])] = d.layout[1]
        if d.firmware is not None:
            st.meta["firmware"] = d.firmware
        if d.interval_s is not None:
            st.meta["interval_s"] = d.interval_s
        if d.model is not None:
            st.model, st.samples = d.model, d.samples
        if d.repeats:
            self.metrics.count("repeated_samples", msg.conn, d.repeats)
        if not d.senml:
            return ()  # every sample of it was published before (a store-and-forward resend)
        b.rows.append(OutRow(self.topics.senml(up.dev_eui), _json(d.senml), origin=up.received_at))
        self.metrics.count("uplinks_out", msg.conn)
        if self.cfg.home_assistant and self.cfg.retained_values:
            # new quantities at once, before their first value; all on a changed device
            for t, p in self.ha.update(up.dev_eui, st, d.latest, mode):
                b.keep(t, p)
        if not self.cfg.retained_values or not d.latest:
            return ()
        # a catch-up sample older than the latest value never replaces it (docs/bridge.md §3b)
        latest = st.latest
        newer = [q for q, v in d.latest.items() if q not in latest or latest[q].get("t", 0) <= v["t"]]
        for q in newer:
            latest[q] = d.latest[q]
        return newer

    # --- retained topics ------------------------------------------------------------------
    def _changed(self, dev_eui: str, st: DeviceState, quantities: Iterable[str] = ()) -> None:
        """Mark a device's ``meta`` and the given latest values for publication. They go out
        ``retained_delay_s`` after the first change not yet published, with the state of
        then: a device sending often updates each retained topic about once per delay, and
        one sending without pause still does (the delay does not restart). The marks are
        part of the saved device state, so a restart publishes what a stop left waiting."""
        waiting = st.retained
        if waiting is None:
            waiting = st.retained = []
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
            latest = st.latest
            for q in st.retained or ():
                if q in latest:
                    b.keep(self.topics.value(dev_eui, q), _json(latest[q]))
            st.retained = None
            b.keep(self.topics.meta(dev_eui), _json(st.meta))

    def _announce_layout(self, up: Uplink, b: Batch) -> None:
        try:
            self.announce_limiter.check(up.dev_eui, time.monotonic())
        except CommandRejected:
            return
        self._queue_downlink(b, up.dev_eui, ANNOUNCE_FRAME, commands.new_id(), None)

    def _device_event(self, ev: DeviceEvent, b: Batch) -> None:
        self.metrics.count("events", ev.kind)
        if ev.dev_eui is None:
            return
        seen = ev.dev_eui in self.devices or ev.dev_eui in b.devices
        if ev.kind == "join" and not seen:  # before the first uplink: held until it comes
            self.joins.remember(ev.dev_eui, ev.received_at)
            return
        if ev.kind in ("join", "status", "location") and seen:
            st = self._state(b, ev.dev_eui)
            if ev.kind == "join":
                meta.join(st.meta, ev.received_at)
            elif ev.kind == "location":
                if "location" not in ev.extra:
                    return  # no usable position in it
                meta.set_location(st.meta, ev.extra["location"], ev.lns)
            elif ev.battery_level is not None:
                st.meta["battery_level"] = ev.battery_level
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
    def _command(self, msg: InMessage, b: Batch) -> str:
        if msg.topic == self.ha.status_topic:
            if self.cfg.home_assistant and msg.payload.strip() == b"online":  # HA (re)started
                self._ha_online(b)
            return "ha_status"
        device = self.topics.command_device(msg.topic)
        if device is None:
            return self._refused("not_a_command_topic")
        if msg.retain:
            return self._refused("retained_command")  # a stale command is never replayed
        dev_eui = device_id(device)
        if dev_eui is None:  # no result topic can be built from it: count and log, no row
            if self._throttle.due("bad_device_id"):
                event(logging.WARNING, "command for a device id that is not 16 hex digits ignored",
                      topic=msg.topic[:DEADLETTER_TOPIC_MAX], topic_chars=len(msg.topic))
            return self._refused("bad_device_id")
        if msg.truncated_from is not None:
            self._result(b, dev_eui, "rejected", None, None, f"oversize: command is "
                         f"{msg.truncated_from} bytes, limit {commands.MAX_COMMAND_BYTES}", "bridge")
            return "command_rejected"
        try:
            _cmd, city_id, frame = commands.parse_command(msg.payload)
        except CommandRejected as e:
            self._result(b, dev_eui, "rejected", None, commands.city_id_of(msg.payload),
                         f"{e.reason}: {e.detail}", "bridge")
            return "command_rejected"
        try:
            if dev_eui not in self.devices and dev_eui not in b.devices:
                if self.cfg.unknown_device_commands == "ignore":  # the instance that knows it answers
                    return self._refused("unknown_device_ignored")
                raise CommandRejected("unknown_device", f"no uplink from {dev_eui} seen yet")
            self.limiter.check(dev_eui, time.monotonic())
        except CommandRejected as e:
            self._result(b, dev_eui, "rejected", None, city_id, f"{e.reason}: {e.detail}", "bridge")
            return "command_rejected"
        self._queue_downlink(b, dev_eui, frame, commands.new_id(), city_id)
        return "command"

    def _ha_online(self, b: Batch) -> None:
        """Every device's discovery configs again: HA announced itself on its birth topic."""
        for dev_eui in {**self.devices, **b.devices}:
            st = b.devices.get(dev_eui) or self.devices[dev_eui]
            for t, p in self.ha.configs(dev_eui, st):
                b.keep(t, p)

    def _refused(self, reason: str) -> str:
        """Input answered with nothing (no outbox row), counted by its reason."""
        self.metrics.count("rejected_inputs", reason)
        return "rejected"

    def _queue_downlink(self, b: Batch, dev_eui: str, frame: bytes, cid: str,
                        city_id: str | None) -> None:
        """The downlink for an encoded command frame, or a ``failed`` result saying why it
        cannot go out (a source renamed or removed, a topic MQTT does not allow)."""
        route = self._state(b, dev_eui).route
        source, down_topic = (route.source, route.down_topic) if route else (None, None)
        problem = None
        if source not in self.source_lns:
            problem = f"no_route: source {source!r} of the device's last uplink is not configured"
        elif not isinstance(down_topic, str):
            problem = "no_route: the device's last uplink gave no downlink topic"
        else:
            bad = publish_topic_problem(down_topic)
            if bad is not None:
                problem = f"bad_topic: downlink topic {down_topic[:80]!r}...: {bad}"
        if problem is not None:
            event(logging.WARNING, "downlink cannot be sent", dev_eui=dev_eui, command_id=cid,
                  id=city_id, reason=problem)
            self._result(b, dev_eui, "failed", cid, city_id, problem, "bridge")
            return
        assert isinstance(source, str) and isinstance(down_topic, str)
        payload = commands.lns_message(self.source_lns[source], dev_eui, frame, cid,
                                       self.cfg.downlink_confirmed)
        b.commands.append((cid, dev_eui, city_id))
        b.downlinks.append(Downlink(source, down_topic, payload, cid, dev_eui, city_id))

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

    def queued(self, b: Batch, d: Downlink, failure: str | None = None) -> None:
        """The LNS broker accepted a downlink (PUBACK), or ``failure`` says why it did not
        (a refused PUBACK, a publish the MQTT client raised on)."""
        if failure is None:
            self._result(b, d.dev_eui, "queued", d.command_id, d.city_id, None, "bridge")
        else:
            event(logging.WARNING, "downlink not accepted by the network server's broker",
                  dev_eui=d.dev_eui, command_id=d.command_id, id=d.city_id, reason=failure)
            self._result(b, d.dev_eui, "failed", d.command_id, d.city_id, failure, "bridge")

    # --- the gate before the outbox ---------------------------------------------------------
    def checked_rows(self, b: Batch) -> list[OutRow]:
        """The batch's rows with every topic checked against MQTT's rules before it is
        stored: a row the city broker could never take becomes a dead letter instead, so no
        row in the outbox can stop the drain (docs/bridge.md §5)."""
        rows = b.all_rows()
        good = self._good_topics
        bad: list[int] = []
        for i, r in enumerate(rows):
            if r.topic in good:
                continue
            problem = publish_topic_problem(r.topic)
            if problem is None:
                if len(good) >= GOOD_TOPICS_MAX:
                    good.clear()
                good.add(r.topic)
            else:
                bad.append(i)
        for i in bad:
            r = rows[i]
            problem = publish_topic_problem(r.topic) or ""
            self.metrics.count("decode_errors", "unpublishable_topic")
            if self._throttle.due("unpublishable_topic"):
                event(logging.WARNING, "a result's topic breaks MQTT's rules: dead-lettered",
                      topic=r.topic[:DEADLETTER_TOPIC_MAX], problem=problem)
            raw = r.payload[:DEADLETTER_RAW_MAX]
            rows[i] = OutRow(self.topics.deadletter(), _json({
                "reason": "unpublishable_topic", "detail": problem, "source": "bridge",
                "topic": r.topic[:DEADLETTER_TOPIC_MAX], "topic_chars": len(r.topic),
                "at": round(time.time(), 3), "message_bytes": len(r.payload),
                "message_b64": base64.b64encode(raw).decode(),
                "message_truncated": len(raw) < len(r.payload)}))
        return rows

    # --- dead letters ------------------------------------------------------------------------
    def _deadletter(self, b: Batch, msg: InMessage, reason: str, detail: str,
                    up: Uplink | None = None) -> None:
        self.metrics.count("decode_errors", reason)
        raw = msg.payload[:DEADLETTER_RAW_MAX]
        size = len(msg.payload) if msg.truncated_from is None else msg.truncated_from
        doc: dict[str, Any] = {
            "reason": reason,
            "detail": detail,
            "source": msg.conn,
            "topic": msg.topic[:DEADLETTER_TOPIC_MAX],
            "at": round(time.time(), 3),
            "message_bytes": size,
            "message_b64": base64.b64encode(raw).decode(),
            "message_truncated": len(raw) < size,
        }
        if len(msg.topic) > DEADLETTER_TOPIC_MAX:
            doc["topic_chars"] = len(msg.topic)
        if up is not None:
            doc.update(dev_eui=up.dev_eui, f_port=up.f_port, f_cnt=up.f_cnt,
                       frame_hex=up.data.hex(), received_at=up.received_at)
        b.rows.append(OutRow(self.topics.deadletter(), _json(doc)))
