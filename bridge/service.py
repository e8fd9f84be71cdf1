"""The running bridge: connections, the worker thread, the outbox drain, metrics, shutdown.

Threads: paho's network thread per connection (callbacks enqueue only), one worker
(parse/dedupe/decode, one SQLite transaction per batch, then the input acks), one drain
(outbox -> city broker at QoS 1, delete on PUBACK), and the HTTP endpoint.

Back-pressure: the input queue is bounded (``input_queue``); when it is full paho's
network thread waits, so unacknowledged messages stay with the source broker. When the
outbox holds ``outbox_max_rows`` rows the worker stops taking input (metric
``outbox_full`` = 1, a warning every 10 s) until the drain makes room: nothing accepted is
ever dropped, and the source broker keeps the rest in the bridge's persistent session.
"""

from __future__ import annotations

import collections
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from .config import Config
from .logs import Throttle, event
from .metrics import HttpEndpoint, Metrics
from .mqtt import InMessage, MqttConnection
from .pipeline import Batch, Downlink, Processor
from .store import Store, Stored
from .topics import CityTopics

DB_NAME = "bridge.sqlite3"
DEPTH_EVERY_S = 1.0
PRUNE_EVERY_S = 60.0
COMMAND_TTL_S = 7 * 86400
DELETE_BATCH = 2000  # PUBACKed rows removed per transaction
DELETE_EVERY_S = 0.1
RETAINED_POLL_S = 0.2  # how often the drain looks for retained rows that became due


class Bridge:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = cfg.state_dir / DB_NAME
        self.metrics = Metrics()
        self.topics = CityTopics(cfg.prefix)
        self._wstore = Store(self.db_path, cfg.synchronous)
        self._dstore = Store(self.db_path, cfg.synchronous)
        self.inq: queue.Queue[InMessage] = queue.Queue(maxsize=cfg.input_queue)
        self._pubacks: collections.deque[tuple[str, int, bool]] = collections.deque()
        self._drain_wake = threading.Event()
        self._worker_wake = threading.Event()
        self._stop_input = threading.Event()
        self._stop_drain = threading.Event()
        self._pending_down: dict[tuple[str, int], Downlink] = {}  # worker thread only
        self._down_acks: collections.deque[tuple[str, int, bool]] = collections.deque()
        self._throttle = Throttle(10.0)
        self.depth = 0
        self.full = False
        self._last_due = self._wstore.last_due()  # keeps ``due`` non-decreasing with row id
        self._flush_retained = False
        self.processor = Processor(
            cfg, self.metrics, self._wstore.devices(), self._wstore.seen_many, self._wstore.command,
            {s.name: s.lns for s in cfg.sources})
        self.city = MqttConnection(
            cfg.city, subscriptions=[(self.topics.command_filter(), 1)], on_message=self._enqueue,
            on_puback=self._puback, on_state=self._state,
            max_inflight=0)  # the drain window bounds it; paho's own limit costs O(n) per PUBACK
        self.sources = {
            s.name: MqttConnection(
                s, subscriptions=[(f"$share/{s.shared_group}/{t}" if s.shared_group else t, s.qos)
                                  for t in s.topics],
                on_message=self._enqueue, on_puback=self._puback, on_state=self._state)
            for s in cfg.sources}
        self.http = HttpEndpoint(self.metrics, self.health, cfg.metrics_host, cfg.metrics_port)
        self.fatal: str | None = None  # set when the worker or drain cannot go on
        self.fatal_event = threading.Event()
        self._worker = threading.Thread(target=self._guard, args=(self._work,), name="worker",
                                        daemon=True)
        self._drain = threading.Thread(target=self._guard, args=(self._drain_loop,), name="drain",
                                       daemon=True)

    def _guard(self, body: Callable[[], None]) -> None:
        """A dead worker or drain must not leave a process that looks alive: report and stop.

        Unacknowledged input stays in the source broker's session and the outbox on disk, so
        a supervisor restart (systemd Restart=on-failure) resumes without loss.
        """
        try:
            body()
        except Exception as e:
            self.fatal = f"{threading.current_thread().name}: {e!r}"
            event(logging.CRITICAL, "bridge cannot continue", error=self.fatal)
            self.fatal_event.set()

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> Bridge:
        self.http.start()
        self._worker.start()
        self._drain.start()
        self.city.start()
        for s in self.sources.values():
            s.start()
        event(logging.INFO, "bridge started", state=str(self.db_path), metrics_port=self.http.port,
              sources=list(self.sources))
        return self

    def stop(self) -> None:
        """SIGTERM path: finish the batch in hand, ack it, drain the outbox, keep what is left."""
        self._stop_input.set()
        self._worker_wake.set()
        self._worker.join(timeout=30)
        for s in self.sources.values():
            s.stop()
        deadline = time.monotonic() + self.cfg.drain_timeout_s
        self._flush_retained = True  # retained rows need not wait for their due time now
        while time.monotonic() < deadline and self._drain.is_alive():
            if self._outbox_empty():
                break
            self._drain_wake.set()
            time.sleep(0.05)  # polling the drain's progress until the deadline
        self._stop_drain.set()
        self._drain_wake.set()
        self._drain.join(timeout=10)
        self.city.stop()
        self.http.stop()
        try:
            depth: int | None = self._wstore.depth()[0]
        except sqlite3.Error:
            depth = None  # the database is what failed; its rows are still on disk
        event(logging.INFO, "bridge stopped", outbox_kept=depth)
        self._wstore.close()
        self._dstore.close()

    def __enter__(self) -> Bridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _outbox_empty(self) -> bool:
        return self.fatal is not None or (self._drain_inflight == 0
                                          and self._wstore.depth()[0] == 0)

    def health(self) -> tuple[bool, dict[str, Any]]:
        conns = {c.name: c.connected.is_set() for c in [self.city, *self.sources.values()]}
        ok = all(conns.values()) and self._worker.is_alive() and self._drain.is_alive()
        return ok, {"ok": ok, "connections": conns, "outbox_depth": self.depth,
                    "outbox_full": self.full, "fatal": self.fatal}

    # --- callbacks from paho threads -------------------------------------------------------
    def _enqueue(self, msg: InMessage) -> None:
        while True:
            try:
                self.inq.put(msg, timeout=1.0)
                return
            except queue.Full:
                if self._stop_input.is_set():
                    return  # not acked: the broker redelivers it to the next session
                if self._throttle.due("inq"):
                    event(logging.WARNING, "input queue full, waiting", size=self.cfg.input_queue)

    def _puback(self, conn: str, mid: int, ok: bool) -> None:
        if conn == "city":
            self._pubacks.append((conn, mid, ok))
            self._drain_wake.set()
        else:  # never take a lock here: paho holds its own while calling us
            self._down_acks.append((conn, mid, ok))

    def _state(self, name: str, up: bool) -> None:
        self.metrics.connected.labels(name).set(1 if up else 0)
        if up:
            self.metrics.reconnects.labels(name).inc()
            if name == "city":
                self._drain_wake.set()

    # --- worker ------------------------------------------------------------------------------
    def _work(self) -> None:
        last_depth = 0.0
        last_prune = 0.0
        while not self._stop_input.is_set():
            now = time.monotonic()
            if now - last_depth >= DEPTH_EVERY_S or self.full:
                last_depth = now
                self._update_depth()
            self._set_full(self.depth >= self.cfg.outbox_max_rows)
            if now - last_prune >= PRUNE_EVERY_S:
                last_prune = now
                self._wstore.prune_seen(time.time() - self.cfg.dedupe_window_s)
                self._wstore.prune_commands(time.time() - COMMAND_TTL_S)
            if self.full:
                self._worker_wake.wait(0.2)  # the drain wakes us when it removed rows
                self._worker_wake.clear()
                continue
            b = Batch()
            # room for the batch: a message adds a few rows, so the limit overshoots by at most
            # the rows of one batch
            self._take(b, min(self.cfg.batch_max, self.cfg.outbox_max_rows - self.depth))
            if b.acks or b.rows or b.retained:
                self._commit(b)

    def _set_full(self, full: bool) -> None:
        if full != self.full:
            self.full = full
            self.metrics.outbox_full.set(1 if full else 0)
            if full:
                self.metrics.outbox_full_total.inc()
        if full and self._throttle.due("full"):
            event(logging.WARNING, "outbox full: input paused", depth=self.depth,
                  limit=self.cfg.outbox_max_rows)

    def _take(self, b: Batch, limit: int) -> None:
        while self._down_acks:
            conn, mid, ok = self._down_acks.popleft()
            d = self._pending_down.pop((conn, mid), None)
            if d is not None and ok:
                self.processor.queued(b, d)
        try:
            msgs = [self.inq.get(timeout=0.2)]
        except queue.Empty:
            return
        while len(msgs) < limit:
            try:
                msgs.append(self.inq.get_nowait())
            except queue.Empty:
                break
        self.processor.handle_batch(msgs, b)

    def _commit(self, b: Batch) -> None:
        self._last_due = max(self._last_due, time.time() + self.cfg.retained_delay_s)
        self.depth += self._wstore.commit(b.all_rows(), b.seen, b.devices, b.commands,
                                          due=self._last_due)
        self.processor.devices.update(b.devices)
        self._drain_wake.set()
        for m in b.acks:
            conn = self.city if m.conn == "city" else self.sources[m.conn]
            conn.ack(m)
        for d in b.downlinks:
            src = self.sources.get(d.source)
            if src is None:
                continue
            mid = src.publish(d.topic, d.payload, qos=1)
            self._pending_down[(d.source, mid)] = d

    def _update_depth(self) -> None:
        depth, oldest = self._wstore.depth()
        self.depth = depth
        self.metrics.outbox_depth.set(depth)
        self.metrics.outbox_age.set(time.time() - oldest if oldest else 0)

    # --- drain ---------------------------------------------------------------------------------
    _drain_inflight = 0

    def _drain_loop(self) -> None:
        inflight: dict[int, Stored] = {}
        retry: list[Stored] = []
        last_id = 0  # cursor over rows that are not retained values
        last_rid = 0  # cursor over retained rows (published once due)
        clock = 0.0  # wall time that never goes back, for the due check
        window = self.cfg.drain_window
        to_delete: list[int] = []
        last_delete = time.monotonic()
        while True:
            self._drain_wake.wait(DELETE_EVERY_S if to_delete else RETAINED_POLL_S)
            self._drain_wake.clear()
            done: list[int] = []
            while self._pubacks:
                _c, mid, ok = self._pubacks.popleft()
                r = inflight.pop(mid, None)
                if r is None:
                    continue
                if ok:
                    done.append(r.id)
                    if r.origin is not None:
                        self.metrics.lag.observe(max(0.0, time.time() - r.origin))
                else:
                    retry.append(r)
            if done:
                to_delete += done
                if self.full:
                    self._worker_wake.set()
                self.metrics.published.inc(len(done))
            if to_delete and (len(to_delete) >= DELETE_BATCH or self._stop_drain.is_set()
                              or time.monotonic() - last_delete >= DELETE_EVERY_S):
                self._dstore.delete(to_delete)  # a crash before this republishes: at least once
                to_delete = []
                last_delete = time.monotonic()
            self._drain_inflight = len(inflight)
            if self._stop_drain.is_set():
                return
            if not self.city.connected.is_set():
                continue
            rows = retry[:window - len(inflight)]
            del retry[:len(rows)]
            if len(inflight) + len(rows) < window:
                rows += self._dstore.fetch(last_id, window - len(inflight) - len(rows))
            if len(inflight) + len(rows) < window:
                clock = max(clock, time.time())
                due_by = float("inf") if self._flush_retained else clock
                rows += self._dstore.fetch_retained(last_rid, due_by,
                                                    window - len(inflight) - len(rows))
            for r in rows:
                mid = self.city.publish(r.topic, r.payload, qos=1, retain=r.retain)
                inflight[mid] = r
                if r.retain:
                    last_rid = max(last_rid, r.id)
                else:
                    last_id = max(last_id, r.id)
            self._drain_inflight = len(inflight)
            if rows and len(inflight) < window:
                self._drain_wake.set()  # more may be waiting
