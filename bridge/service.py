"""The running bridge: connections, the worker process, the outbox drain, metrics, shutdown.

Two processes. This one holds every MQTT connection (paho's network thread per connection;
callbacks enqueue only), a feeder thread that hands input in batches to the worker process,
a thread that hears the worker's commits and then acknowledges the input and publishes the
downlinks, the drain (outbox -> city broker at QoS 1, delete on PUBACK), and the HTTP
endpoint. The worker process (bridge/worker.py) parses, dedupes, decodes and commits one
SQLite transaction per batch; it has a core of its own instead of sharing one GIL with
paho (docs/bridge.md §9).

Back-pressure: the input queue is bounded (``input_queue`` messages, ``input_queue_bytes``
bytes; a message above ``max_message_bytes`` is cut to its first bytes before it is queued,
and MQTT 5 brokers are asked for a Maximum Packet Size); when it is full paho's
network thread waits, so unacknowledged messages stay with the source broker. When the
outbox holds ``outbox_max_rows`` rows the worker stops reading input (metric
``outbox_full`` = 1, a warning every 10 s) until the drain makes room; the feeder then
waits, and so does paho: nothing accepted is ever dropped, and the source broker keeps the
rest in the bridge's persistent session.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from .config import Config
from .errors import BridgeError
from .inqueue import BatchQueue
from .logs import Throttle, event
from .metrics import HttpEndpoint, Metrics
from .model import InMessage
from .mqtt import MqttConnection
from .serial_source import SerialSource
from .store import Store, Stored
from .topics import CityTopics, publish_topic_problem
from .worker import DB_NAME
from .worker_link import WorkerLink

DELETE_BATCH = 2000  # PUBACKed rows removed per transaction
DELETE_EVERY_S = 0.1
IDLE_POLL_S = 0.2  # a safety net only: every commit and PUBACK wakes the drain
FEED_WAIT_S = 0.2
WORKER_START_S = 60.0  # imports and opening the state database
WORKER_STOP_S = 30.0  # the worker finishes the batches it has before it reports "stopped"
RETRY_REFUSALS = ("Quota exceeded",)  # PUBACK reason codes worth a retry (MQTT 5 §3.4.2.1)
LOST_STRIKES = 3  # connections lost while a row awaits its PUBACK before the drain isolates
PROBE_STRIKES = 2  # ... and while it alone awaits it, before it is parked
MESSAGE_OVERHEAD = 200  # bytes an InMessage holds besides its topic and payload (counted)


def _message_bytes(m: InMessage) -> int:
    return len(m.payload) + len(m.topic) + MESSAGE_OVERHEAD


def packet_bytes(topic: str, payload: bytes) -> int:
    """The size of a QoS 1 PUBLISH (MQTT 5 §3.3: at most 5 bytes of fixed header, topic,
    packet identifier, an empty property length)."""
    return 5 + 2 + len(topic.encode()) + 2 + 1 + len(payload)


class Bridge:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = cfg.state_dir / DB_NAME
        self.metrics = Metrics()
        self.topics = CityTopics(cfg.prefix)
        # quick_check first (CorruptDatabase), then the schema, before the worker starts
        self._dstore = Store(self.db_path, cfg.synchronous, check=True)
        self.inq: BatchQueue[InMessage] = BatchQueue(cfg.input_queue, cfg.input_queue_bytes,
                                                     _message_bytes)
        self._pubacks: collections.deque[tuple[str, int, bool]] = collections.deque()
        self._drain_wake = threading.Event()
        self._stop_input = threading.Event()
        self._stop_drain = threading.Event()
        self._stopping = False
        self._down_lock = threading.Lock()  # publish + record vs. look-up of downlink mids
        self._pending_down: dict[tuple[str, int], str] = {}  # (source, mid) -> command id
        self._down_acks: collections.deque[tuple[str, int, bool]] = collections.deque()
        self._down_failed: collections.deque[tuple[str, str]] = collections.deque()  # (cid, why)
        self._throttle = Throttle(10.0)
        self.depth = 0
        self.full = False
        limits: dict[str, Any] = {"max_packet_bytes": cfg.max_packet_bytes,
                                  "payload_limit": cfg.max_message_bytes}
        self.city = MqttConnection(
            cfg.city, subscriptions=[(self.topics.command_filter(), 1)]
            + ([(f"{cfg.home_assistant_prefix}/status", 1)] if cfg.home_assistant else []),
            on_message=self._enqueue,
            on_puback=self._puback, on_state=self._state,
            max_inflight=0, **limits)  # the drain window bounds it; paho's own limit is O(n) per PUBACK
        self.sources: dict[str, MqttConnection | SerialSource] = {
            s.name: MqttConnection(
                s, subscriptions=[(f"$share/{s.shared_group}/{t}" if s.shared_group else t, s.qos)
                                  for t in s.topics],
                on_message=self._enqueue, on_puback=self._puback, on_state=self._state, **limits)
            for s in cfg.sources if s.lns != "serial"}
        for s in cfg.sources:  # USB-serial P2P receivers (docs/p2p.md §5)
            if s.lns == "serial":
                self.sources[s.name] = SerialSource(s, cfg.state_dir, self._enqueue, self._state)
        self._inputs = {c.name: c for c in [self.city, *self.sources.values()]}
        self.link = WorkerLink(cfg, self._worker_done, self._worker_status, self._worker_exit)
        self.http = HttpEndpoint(self.metrics, self.health, cfg.metrics_host, cfg.metrics_port)
        self.fatal: str | None = None  # set when the worker or drain cannot go on
        self.fatal_event = threading.Event()
        self._feeder = threading.Thread(target=self._guard, args=(self._feed,), name="feeder",
                                        daemon=True)
        self._drain = threading.Thread(target=self._guard, args=(self._drain_loop,), name="drain",
                                       daemon=True)

    def _guard(self, body: Callable[[], None]) -> None:
        """A dead feeder or drain must not leave a process that looks alive: report and stop.

        Unacknowledged input stays in the source broker's session and the outbox on disk, so
        a supervisor restart (systemd Restart=on-failure) resumes without loss.
        """
        try:
            body()
        except Exception as e:
            self._fail(f"{threading.current_thread().name}: {e!r}")

    def _fail(self, reason: str) -> None:
        if self.fatal is None:
            self.fatal = reason
            event(logging.CRITICAL, "bridge cannot continue", error=reason)
        self.fatal_event.set()

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> Bridge:
        self.http.start()
        self.link.start()
        if not self.link.wait_ready(WORKER_START_S):
            self.link.close()
            self.http.stop()
            raise BridgeError(f"the worker process did not start: {self.link.exit_reason or 'timeout'}")
        self._feeder.start()
        self._drain.start()
        self.city.start()
        for s in self.sources.values():
            s.start()
        event(logging.INFO, "bridge started", state=str(self.db_path), metrics_port=self.http.port,
              sources=list(self.sources), worker_pid=self.link.proc.pid if self.link.proc else None)
        return self

    def stop(self) -> None:
        """SIGTERM path: the worker finishes the batches it has, they are acked, the outbox
        drains until ``drain_timeout_s``; what is left stays on disk."""
        self._stopping = True
        self._stop_input.set()
        if self.full:  # the worker reads no input, so it would not read "stop" either
            event(logging.WARNING, "outbox full at stop: input the worker holds is not "
                  "acknowledged and will be redelivered")
        else:
            self._feeder.join(timeout=WORKER_STOP_S)
            if not self.link.wait_stopped(WORKER_STOP_S) and self.link.alive():
                event(logging.WARNING, "worker did not finish its batches in time; "
                      "their input is not acknowledged and will be redelivered")
        self.link.close()
        self._feeder.join(timeout=5)
        for s in self.sources.values():
            s.stop()
        deadline = time.monotonic() + self.cfg.drain_timeout_s
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
            depth: int | None = self._dstore.depth()[0]
        except sqlite3.Error:
            depth = None  # the database is what failed; its rows are still on disk
        event(logging.INFO, "bridge stopped", outbox_kept=depth,
              worker_exit=self.link.proc.returncode if self.link.proc else None)
        self._dstore.close()

    def __enter__(self) -> Bridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _outbox_empty(self) -> bool:
        return self.fatal is not None or (self._drain_inflight == 0
                                          and self._dstore.depth()[0] == 0)

    def watch(self) -> None:
        """Called about once a second by the main loop: a paho network thread that ended on its
        own (an exception inside paho) makes the bridge fatal, like any other dead thread."""
        for c in [self.city, *self.sources.values()]:
            if isinstance(c, MqttConnection) and not c.network_alive():
                self._fail(f"{c.name}: paho's network thread ended")

    def health(self) -> tuple[bool, dict[str, Any]]:
        self.watch()
        conns = {c.name: c.connected.is_set() for c in [self.city, *self.sources.values()]}
        ok = (all(conns.values()) and self.link.alive() and self.link.reading()
              and self._feeder.is_alive() and self._drain.is_alive() and self.fatal is None)
        return ok, {"ok": ok, "connections": conns, "outbox_depth": self.depth,
                    "outbox_full": self.full, "worker_alive": self.link.alive(),
                    "parked": self.parked, "fatal": self.fatal}

    def metric(self, name: str, **labels: str) -> float:
        """A metric's current value (``uplinks_in``, ``source="cs"``); 0 before it exists.
        Worker metrics lag by at most the worker's status interval."""
        full = f"trosmart_bridge_{name}"
        value = self.metrics.value(full + "_total", **labels)  # a counter's sample
        if value is None:
            value = self.metrics.value(full, **labels)  # a gauge's
        return value or 0.0

    # --- callbacks from paho threads -------------------------------------------------------
    # An exception in one of them would end paho's network thread and leave a connection
    # that looks up but reads nothing: each is guarded and makes the bridge fatal instead.
    def _enqueue(self, msg: InMessage) -> None:
        try:
            self.inq.put(msg, 1.0, self._input_full)
        except Exception as e:
            self._fail(f"input from {msg.conn}: {e!r}")

    def _input_full(self) -> bool:
        """The input queue stayed full for a second: go on waiting unless stopping (an input
        not queued is not acked: the broker redelivers it to the next session)."""
        if self._stop_input.is_set():
            return False
        if self._throttle.due("inq"):
            event(logging.WARNING, "input queue full, waiting", size=self.cfg.input_queue)
        return True

    def _puback(self, conn: str, mid: int, ok: bool) -> None:  # appends only: cannot raise
        if conn == self.city.name:
            self._pubacks.append((conn, mid, ok))
            if not self._drain_wake.is_set():  # set() takes a lock: once per drain round is enough
                self._drain_wake.set()
        else:  # never take a lock here: paho holds its own while calling us
            self._down_acks.append((conn, mid, ok))

    def _state(self, name: str, up: bool) -> None:
        try:
            self.metrics.connected.labels(name).set(1 if up else 0)
            if up:
                self.metrics.reconnects.labels(name).inc()
                if self._inputs[name].settings.tls_insecure:
                    event(logging.WARNING, "TLS certificate checks are off (tls_insecure): this "
                          "connection can be intercepted", connection=name)
                if name == self.city.name:
                    self._drain_wake.set()
        except Exception as e:
            self._fail(f"connection state of {name}: {e!r}")

    # --- the worker process: feed it, hear it ---------------------------------------------
    def _feed(self) -> None:
        """Batches of input and downlink PUBACKs to the worker; then ``stop``."""
        try:
            self._feed_loop()
        except OSError:
            if not self.link.exited.wait(5):
                raise
            # the worker is gone: the link reports why (unsent input is not acknowledged)

    def _feed_loop(self) -> None:
        limit = self.cfg.batch_max
        while not self._stop_input.is_set():
            downs = self._take_down_acks()
            while self._down_failed:
                downs.append(self._down_failed.popleft())
            if downs:
                self.link.send(("down", downs))
            msgs = self.inq.take(limit, FEED_WAIT_S)
            if msgs:
                self.link.send(("msgs", msgs))
        self.link.send(("stop",))

    def _take_down_acks(self) -> list[tuple[str, str | None]]:
        """(command id, None) for each accepted downlink, (command id, reason) for a refusal."""
        out: list[tuple[str, str | None]] = []
        with self._down_lock:
            while self._down_acks:
                conn, mid, ok = self._down_acks.popleft()
                cid = self._pending_down.pop((conn, mid), None)
                if cid is not None:
                    reason = None if ok else "refused by the network server's broker: " + \
                        self.sources[conn].refused.pop(mid, "PUBACK failure")
                    out.append((cid, reason))
        return out

    def _worker_done(self, acks: list[tuple[str, int, int, int]],
                     downlinks: list[tuple[str, str, str, bytes]], rows: int) -> None:
        """A batch is committed: acknowledge its input, publish its downlinks, wake the drain."""
        if rows:
            self._drain_wake.set()
        by_conn: dict[str, list[tuple[int, int, int]]] = {}
        for conn, mid, qos, generation in acks:
            by_conn.setdefault(conn, []).append((mid, qos, generation))
        for conn, items in by_conn.items():
            self._inputs[conn].ack(items)
        for cid, source, topic, payload in downlinks:
            src = self.sources.get(source)
            if src is None:  # the worker checks this; a failed result all the same, never silence
                self._down_failed.append((cid, f"no_route: source {source!r} is not configured"))
                continue
            with self._down_lock:
                try:
                    mid = src.publish(topic, payload, qos=1)
                except (BridgeError, ValueError, OSError) as e:  # paho refused the message
                    self._down_failed.append((cid, f"publish_failed: {e}"[:500]))
                    continue
                self._pending_down[(source, mid)] = cid

    def _connection_lost(self, inflight: dict[int, Stored], strikes: dict[int, int],
                         probe: list[Stored], isolating: bool) -> bool:
        """The city connection was lost with rows awaiting their PUBACK; returns whether the
        drain now isolates (sends one row at a time). A probed row that loses the connection
        PROBE_STRIKES times is parked: the broker closes the connection on it (mosquitto 2.0
        does so after refusing a publish its ACL denies)."""
        for r in inflight.values():
            strikes[r.id] = strikes.get(r.id, 0) + 1
        if isolating:
            (mid, r), = inflight.items()
            if strikes[r.id] >= PROBE_STRIKES:
                self.city.forget([mid])
                del inflight[mid]
                strikes.pop(r.id, None)
                self._park([(r, f"connection_lost: the city broker closed the connection "
                                 f"{PROBE_STRIKES} times while this row alone awaited its PUBACK")])
            return True
        if max(strikes[r.id] for r in inflight.values()) < LOST_STRIKES:
            return False
        self.city.forget(list(inflight))  # paho must not resend them: the probe does, one by one
        probe[:0] = sorted(inflight.values(), key=lambda r: r.id)
        for r in inflight.values():
            strikes[r.id] = 0
        inflight.clear()
        event(logging.WARNING, "the city broker keeps closing the connection while rows await "
              "their PUBACK: sending them one at a time to find the one it refuses", rows=len(probe))
        return True

    # --- parked rows: what the city broker or paho refuses never blocks the outbox ----------
    parked = 0  # rows parked by this process (the table may hold older ones)

    def _publishable(self, rows: list[Stored]) -> list[Stored]:
        """The rows paho and the city broker can take; the others are parked with the reason.
        The worker checks topics before it stores a row; this covers older databases and
        the broker's own Maximum Packet Size (MQTT 5 §3.2.2.3.6, learned at each CONNACK)."""
        limit = self.city.server_max_packet
        bad: list[tuple[Stored, str]] = []
        for r in rows:
            problem = publish_topic_problem(r.topic)
            if problem is None and limit is not None and packet_bytes(r.topic, r.payload) > limit:
                problem = (f"packet_too_large: {packet_bytes(r.topic, r.payload)} bytes, the city "
                           f"broker's Maximum Packet Size is {limit}")
            if problem is not None:
                bad.append((r, problem))
        if not bad:
            return rows
        self._park(bad)
        parked = {r.id for r, _ in bad}
        return [r for r in rows if r.id not in parked]

    def _park(self, rows: list[tuple[Stored, str]]) -> None:
        self._dstore.park(rows)
        self.parked += len(rows)
        for r, reason in rows:
            self.metrics.parked.labels(reason.split(":", 1)[0][:40]).inc()
            event(logging.ERROR, "outbox row parked: the city broker cannot take it",
                  row=r.id, topic=r.topic[:200], topic_chars=len(r.topic),
                  payload_bytes=len(r.payload), reason=reason[:500],
                  hint="trosmart bridge parked --config ... list | replay ID | drop ID")

    def _worker_status(self, depth: int, full: bool, snapshot: list[Any]) -> None:
        self.depth = depth
        self.full = full
        self.metrics.worker.metrics = snapshot

    def _worker_exit(self, reason: str) -> None:
        if not self._stopping:
            self._fail(reason)

    # --- drain ---------------------------------------------------------------------------------
    _drain_inflight = 0

    def _drain_loop(self) -> None:
        inflight: dict[int, Stored] = {}
        retry: list[Stored] = []
        last_id = 0  # cursor over the outbox (ids ascend in commit order)
        window = self.cfg.drain_window
        to_delete: list[int] = []
        last_delete = time.monotonic()
        # a row that makes the broker drop the connection gets no PUBACK, and paho resends it
        # after every reconnect: rows count the connections lost while they waited, and after
        # LOST_STRIKES the drain sends its rows one at a time ("probe") to find and park it
        strikes: dict[int, int] = {}  # row id -> connections lost while awaiting its PUBACK
        probe: list[Stored] = []
        isolating = False
        generation = self.city.generation
        while True:
            self._drain_wake.wait(DELETE_EVERY_S if to_delete else IDLE_POLL_S)
            self._drain_wake.clear()
            done: list[int] = []
            refused: list[tuple[Stored, str]] = []
            while self._pubacks:
                _c, mid, ok = self._pubacks.popleft()
                r = inflight.pop(mid, None)
                if r is None:
                    continue
                strikes.pop(r.id, None)
                if ok:
                    done.append(r.id)
                    if r.origin is not None:
                        self.metrics.lag.observe(max(0.0, time.time() - r.origin))
                else:
                    why = self.city.refused.pop(mid, "PUBACK failure")
                    if why in RETRY_REFUSALS:
                        retry.append(r)
                    else:
                        refused.append((r, f"refused by the city broker: {why}"))
            if done:
                to_delete += done
                self.metrics.published.inc(len(done))
            if refused:
                self._park(refused)
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
            if self.city.generation != generation:  # reconnected: paho resent what was in flight
                generation = self.city.generation
                if inflight:
                    isolating = self._connection_lost(inflight, strikes, probe, isolating)
            if isolating:
                if not inflight and probe:
                    rows = self._publishable(probe[:1])
                    del probe[:1]
                    if rows:
                        mids = self.city.publish_batch([(r.topic, r.payload, r.retain) for r in rows])
                        inflight.update(zip(mids, rows, strict=True))
                if not inflight and not probe:
                    isolating = False
                    event(logging.INFO, "drain back to its full window")
                    self._drain_wake.set()
                self._drain_inflight = len(inflight)
                continue
            rows = retry[:window - len(inflight)]
            del retry[:len(rows)]
            if len(inflight) + len(rows) < window:
                rows += self._dstore.fetch(last_id, window - len(inflight) - len(rows))
            if rows:
                last_id = max(last_id, rows[-1].id)  # fetched rows follow the retried ones
                rows = self._publishable(rows)
            if rows:
                mids = self.city.publish_batch([(r.topic, r.payload, r.retain) for r in rows])
                inflight.update(zip(mids, rows, strict=True))
            self._drain_inflight = len(inflight)
            if rows and len(inflight) < window:
                self._drain_wake.set()  # more may be waiting
