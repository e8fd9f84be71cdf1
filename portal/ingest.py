"""City topics → storage: a persistent QoS 1 session, acknowledged only after the commit.

Subscriptions ``{prefix}/+/senml`` and ``{prefix}/+/meta`` (the city topic API v1,
docs/bridge.md §3). paho's manual acknowledgement (the bridge's ``MqttConnection``) means a
message is PUBACKed only once the transaction holding it committed; a portal killed at any
point is sent again what it had not acknowledged, and idempotent ingest stores it once.
Messages the portal cannot use go to the ``rejects`` table with their raw bytes and are
acknowledged too: nothing is lost and no single message can stop ingest.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from bridge.model import InMessage
from bridge.mqtt import MqttConnection

from .config import Config
from .errors import InputError
from .fleet.ingest import FleetIngest
from .registry import DEVEUI_RE
from .senml import load_json, parse_pack
from .storage import Pack, Storage

log = logging.getLogger("trosmart.portal")
MAX_META_BYTES = 16384
RETENTION_EVERY_S = 3600.0


class Ingest:
    """The MQTT connection plus one writer thread (the storage's only writer)."""

    def __init__(self, cfg: Config, storage: Storage, on_stored: Callable[[list[dict[str, Any]]], None]
                 | None = None, fleet: FleetIngest | None = None) -> None:
        self.cfg = cfg
        self.storage = storage
        self.on_stored = on_stored
        self.prefix = cfg.prefix
        self._q: queue.Queue[InMessage] = queue.Queue(maxsize=max(1000, 4 * cfg.batch_max))
        self._stop = threading.Event()
        self.fatal: str | None = None
        self.counts = {"messages": 0, "packs": 0, "stored": 0, "duplicates": 0, "rejected": 0, "meta": 0}
        self._lock = threading.Lock()
        self.fleet = fleet  # the fleet view's tables (portal/fleet/ingest.py) and its command results
        subs = [(f"{cfg.prefix}/+/senml", cfg.mqtt.qos), (f"{cfg.prefix}/+/meta", cfg.mqtt.qos)]
        if fleet is not None:
            subs += fleet.subscriptions(cfg.prefix, cfg.mqtt.qos)
        self.mqtt = MqttConnection(cfg.mqtt, subscriptions=subs,
                                   on_message=self._q.put, persistent=True, max_inflight=cfg.batch_max)
        self._thread = threading.Thread(target=self._run, name="portal-ingest", daemon=True)
        self._next_retention = 0.0

    def start(self) -> Ingest:
        self._thread.start()
        self.mqtt.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.mqtt.stop()

    @property
    def connected(self) -> bool:
        return self.mqtt.connected.is_set()

    # ---- the writer thread ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._q.get(timeout=0.2)
            except queue.Empty:
                self._maybe_retention()
                continue
            batch = [first]
            while len(batch) < self.cfg.batch_max:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            try:
                events = self._handle(batch)
            except Exception as e:  # storage failed: nothing of this batch is acknowledged
                self.fatal = f"{type(e).__name__}: {e}"
                log.critical("portal cannot continue", extra={"fields": {"error": self.fatal}})
                self._stop.set()
                return
            self.mqtt.ack([(m.mid, m.qos, m.generation) for m in batch])
            if events and self.on_stored is not None:
                self.on_stored(events)
            self._maybe_retention()

    def _maybe_retention(self) -> None:
        now = time.monotonic()
        if self.storage.raw_retention_days and now >= self._next_retention:
            self._next_retention = now + RETENTION_EVERY_S
            n = self.storage.apply_retention()
            if n:
                log.info("raw retention", extra={"fields": {"deleted": n}})

    def _handle(self, batch: list[InMessage]) -> list[dict[str, Any]]:
        now_ms = int(time.time() * 1000)
        packs: list[Pack] = []
        sources: list[InMessage] = []
        metas: list[tuple[str, dict[str, Any]]] = []
        for m in batch:
            try:
                kind, dev = self._route(m.topic)
                if kind == "meta":
                    if not m.payload:  # a retained meta cleared on the broker: the node keeps its last
                        continue
                    doc = _meta(m.payload)
                    self.storage.put_meta(dev, doc, now_ms)
                    metas.append((dev, doc))
                    self.counts["meta"] += 1
                elif kind == "command/result":
                    assert self.fleet is not None
                    self.fleet.result(dev, m.payload, now_ms)
                else:
                    packs.append(Pack(dev, parse_pack(m.payload, dev)))
                    sources.append(m)
            except InputError as e:
                self._reject(m, e.reason, e.detail, now_ms)
        res = self.storage.ingest(packs, now_ms=now_ms)
        rejected = {i for i, _, _ in res.rejected}
        for i, reason, detail in res.rejected:
            self._reject(sources[i], reason, detail, now_ms)
        if self.fleet is not None:
            self.fleet.handle(metas, [p for i, p in enumerate(packs) if i not in rejected], now_ms)
        with self._lock:
            self.counts["messages"] += len(batch)
            self.counts["packs"] += len(packs) - len(rejected)
            self.counts["stored"] += res.stored
            self.counts["duplicates"] += res.duplicates
        if not res.stored:
            return []
        return [_event(p) for i, p in enumerate(packs) if i not in rejected and p.observations]

    def _route(self, topic: str) -> tuple[str, str]:
        head, _, rest = topic.partition(self.prefix + "/")
        dev, _, kind = rest.partition("/")
        kinds = ("senml", "meta", "command/result") if self.fleet is not None else ("senml", "meta")
        if head or kind not in kinds or not DEVEUI_RE.match(dev):
            raise InputError("bad_topic", topic[:200])
        return kind, dev

    def _reject(self, m: InMessage, reason: str, detail: str, now_ms: int) -> None:
        with self._lock:
            self.counts["rejected"] += 1
        log.warning("message rejected", extra={"fields": {"topic": m.topic[:200], "reason": reason,
                                                           "detail": detail[:200]}})
        self.storage.reject(m.topic, m.payload, reason, detail, now_ms)


def _meta(payload: bytes) -> dict[str, Any]:
    doc = load_json(payload, MAX_META_BYTES)
    if not isinstance(doc, dict):
        raise InputError("bad_meta", "meta must be a JSON object")
    return doc


def _event(p: Pack) -> dict[str, Any]:
    """What the live stream says about a stored pack: the node's newest value per quantity."""
    values: dict[str, dict[str, Any]] = {}
    for o in p.observations:
        cur = values.get(o.quantity)
        if cur is None or o.t_ms >= cur["t"]:
            v: Any = o.vb if o.vb is not None else (o.vs if o.vs is not None else o.v)
            values[o.quantity] = {"v": v, "u": o.unit, "t": o.t_ms}
    return {"node": p.dev_eui, "values": values}
