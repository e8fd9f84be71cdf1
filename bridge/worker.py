"""The worker process: parse -> dedupe -> decode -> SenML -> one SQLite transaction per batch.

The pipeline is CPU-bound Python; paho's network threads are too. In one process they share
one GIL and slow each other down (docs/bridge.md §9), so the worker runs as its own process
(``python -m bridge.worker FD``, started by ``WorkerLink``). It owns the outbox writes and
never talks MQTT: the main process holds every connection, acknowledges input only after the
worker reported the commit, publishes the downlinks it asks for and drains the outbox.

One socket pair, ``multiprocessing.connection`` framing (pickle):

* main -> worker: ``("config", Config)`` first, then ``("msgs", [InMessage])``,
  ``("down", [(command_id, failure)])`` (the LNS broker's PUBACK of a downlink: failure None,
  else why it was refused or could not be published) and ``("stop",)``.
* worker -> main: ``("done", acks, downlinks, rows)`` after each commit, ``("status", depth,
  full, metrics)`` every ``STATUS_EVERY_S``, ``("fatal", text)`` and ``("stopped",)``; first
  ``("ready",)`` once the state database is open.

When the main process dies, its end closes and the worker stops: it acknowledges nothing
itself, so the broker redelivers whatever the main process had not acknowledged.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import signal
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from . import logs
from .config import Config
from .logs import Throttle, event
from .metrics import PipelineMetrics
from .model import InMessage
from .pipeline import Batch, Downlink, Processor
from .store import Store

DB_NAME = "bridge.sqlite3"
DEPTH_EVERY_S = 1.0
PRUNE_EVERY_S = 60.0
STATUS_EVERY_S = 0.5
STATUS_AFTER_COMMIT_S = 0.05
FULL_POLL_S = 0.1  # how often a full outbox is looked at again (the drain deletes rows)
RECEIVE_WAIT_S = 0.2
COMMAND_TTL_S = 7 * 86400
MAX_PENDING_DOWNLINKS = 10_000  # downlinks waiting for the LNS broker's PUBACK

Ack = tuple[str, int, int, int]  # connection, mid, qos, connection generation
DownlinkOut = tuple[str, str, str, bytes]  # command id, source, topic, payload


class Worker:
    def __init__(self, cfg: Config, conn: Connection) -> None:
        self.cfg = cfg
        self.conn = conn
        self.metrics = PipelineMetrics()
        # the commit thread writes through ``store``; this thread reads through ``reader``
        # (WAL: readers and the writer do not wait for each other)
        self.store = Store(cfg.state_dir / DB_NAME, cfg.synchronous)
        self.reader = Store(cfg.state_dir / DB_NAME, cfg.synchronous)
        self.committer = ThreadPoolExecutor(1, thread_name_prefix="commit")
        self.committing: tuple[Batch, Future[int]] | None = None
        self.processor = Processor(
            cfg, self.metrics, self.reader.devices(), self._seen_many, self.reader.command,
            {s.name: s.lns for s in cfg.sources})
        self.pending: collections.deque[InMessage] = collections.deque()
        self.down_results: list[tuple[str, str | None]] = []  # (command id, failure or None)
        self.downlinks: dict[str, Downlink] = {}  # command id -> published, awaiting PUBACK
        self.depth = 0
        self.full = False
        self.stopping = False
        self._throttle = Throttle(10.0)

    def run(self) -> None:
        last_depth = last_prune = last_status = 0.0
        while True:
            now = time.monotonic()
            if now - last_depth >= DEPTH_EVERY_S or self.full:
                last_depth = now
                self._update_depth()
            self._set_full(self.depth >= self.cfg.outbox_max_rows)
            if now - last_prune >= PRUNE_EVERY_S:
                last_prune = now
                self._finish()  # the commit thread is idle now: the write connection is free
                self.store.prune_seen(time.time() - self.cfg.dedupe_window_s)
                self.store.prune_commands(time.time() - COMMAND_TTL_S)
            if now - last_status >= STATUS_EVERY_S:
                last_status = now
                self._status()
            if self.full:
                self._finish()
                time.sleep(FULL_POLL_S)  # input waits in the pipe and the source's session
                continue
            idle = not self.pending and not self.down_results and not self.stopping
            if idle and not self._receive(0):
                self._finish()  # no input to overlap with: report the last batch now
                wait = min(RECEIVE_WAIT_S, max(0.0, self.processor.next_retained() - now))
                if not self._receive(wait) and self.processor.next_retained() > time.monotonic():
                    continue
            # room for the batch: a message adds a few rows, and ``depth`` lags the batch being
            # committed, so the limit overshoots by at most the rows of two batches
            room = max(1, min(self.cfg.batch_max, self.cfg.outbox_max_rows - self.depth))
            b = Batch()
            self._take(b, room)
            if b.acks or b.rows or b.retained:
                self._commit(b)
                if time.monotonic() - last_status >= STATUS_AFTER_COMMIT_S:
                    last_status = time.monotonic()
                    self._status()  # counters on /metrics follow a quiet link's commits closely
            if self.stopping and not self.pending:
                self._finish()
                self._status()
                self.conn.send(("stopped",))
                return

    def _receive(self, timeout_s: float) -> bool:
        """Read what the main process sent (at least one item within ``timeout_s``, then what is
        already there while fewer than a batch of messages wait). EOFError: main is gone."""
        got = False
        while len(self.pending) < self.cfg.batch_max and self.conn.poll(0 if got else timeout_s):
            item = self.conn.recv()
            got = True
            if item[0] == "msgs":
                self.pending.extend(item[1])
            elif item[0] == "down":
                self.down_results.extend(item[1])
            elif item[0] == "stop":
                self.stopping = True
                break
        return got

    def _take(self, b: Batch, limit: int) -> None:
        for cid, failure in self.down_results:
            d = self.downlinks.pop(cid, None)
            if d is not None:
                self.processor.queued(b, d, failure)
        self.down_results = []
        n = min(limit, len(self.pending))
        if n:
            msgs = [self.pending.popleft() for _ in range(n)]
            self.processor.handle_batch(msgs, b)
        # retained topics whose delay has passed; all of them before a stop
        done = self.stopping and not self.pending
        self.processor.emit_retained(b, float("inf") if done else time.monotonic())

    def _seen_many(self, keys: list[str]) -> set[str]:
        """Dedupe keys already committed, or in the batch being committed."""
        known = self.reader.seen_many(keys)
        if self.committing is not None:
            known.update(self.committing[0].seen_keys.intersection(keys))
        return known

    def _commit(self, b: Batch) -> None:
        """Hand the batch to the commit thread, which commits while this thread handles the
        next one (the fsync and SQLite's own work run without the GIL). The batch before it
        is reported first: at most one batch is between handled and committed."""
        self.processor.devices.update(b.devices)  # the next batch builds on this state
        self._finish()
        self.committing = (b, self.committer.submit(
            self.store.commit, self.processor.checked_rows(b), b.seen, Store.device_rows(b.devices), b.commands))

    def _finish(self) -> None:
        """Wait for the batch being committed; then acknowledge its input and hand over its
        downlinks. A failed commit raises here and ends the worker: nothing of it is acked."""
        if self.committing is None:
            return
        b, result = self.committing
        rows = result.result()
        self.committing = None
        self.depth += rows
        acks: list[Ack] = [(m.conn, m.mid, m.qos, m.generation) for m in b.acks]
        downs: list[DownlinkOut] = []
        for d in b.downlinks:
            if len(self.downlinks) >= MAX_PENDING_DOWNLINKS:
                self.downlinks.pop(next(iter(self.downlinks)))
            self.downlinks[d.command_id] = d
            downs.append((d.command_id, d.source, d.topic, d.payload))
        self.conn.send(("done", acks, downs, rows))

    def close(self) -> None:
        self.committer.shutdown(wait=True)  # a commit under way completes (not acked: redelivered)
        self.store.close()
        self.reader.close()

    def _update_depth(self) -> None:
        self._finish()  # counted once: either in the table or in ``depth``
        depth, oldest = self.reader.depth()
        self.depth = depth
        self.metrics.outbox_depth.set(depth)
        self.metrics.outbox_age.set(time.time() - oldest if oldest else 0)

    def _set_full(self, full: bool) -> None:
        if full != self.full:
            self.full = full
            self.metrics.outbox_full.set(1 if full else 0)
            if full:
                self.metrics.outbox_full_total.inc()
            self._status()
        if full and self._throttle.due("full"):
            event(logging.WARNING, "outbox full: input paused", depth=self.depth,
                  limit=self.cfg.outbox_max_rows)

    def _status(self) -> None:
        self.conn.send(("status", self.depth, self.full, self.metrics.snapshot()))


def serve(conn: Connection) -> int:
    """The worker process's life: configuration, the loop, and a report if it fails."""
    # Ctrl-C, systemd's SIGTERM and a closed terminal's SIGHUP reach the whole process group:
    # the main process handles them and tells the worker to stop after its batches; its
    # death closes the pair
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    item: Any = conn.recv()
    cfg: Config = item[1]
    logs.setup(cfg.log_level)
    worker: Worker | None = None
    try:
        worker = Worker(cfg, conn)
        conn.send(("ready",))
        worker.run()
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return 0  # the main process is gone: nothing to acknowledge, nothing lost
    except Exception as e:
        text = f"worker: {e!r}"
        event(logging.CRITICAL, "bridge worker cannot continue", error=text)
        with contextlib.suppress(OSError):
            conn.send(("fatal", text))
        return 1
    finally:
        if worker is not None:
            worker.close()
        conn.close()
    return 0


def main(argv: list[str]) -> int:
    return serve(Connection(int(argv[1])))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
