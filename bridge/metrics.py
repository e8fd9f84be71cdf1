"""Prometheus metrics and the health endpoint (HTTP on 127.0.0.1 by default).

``GET /metrics`` is the Prometheus text format; ``GET /health`` answers 200 with a JSON
summary while every connection is up and the worker runs, 503 otherwise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

_PREFIX = "trosmart_bridge_"


def _counter(r: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(_PREFIX + name, doc, list(labels), registry=r)


class PipelineMetrics:
    """What the worker process counts (parse, dedupe, decode, outbox). It lives in the worker
    and reaches the endpoint as a ``snapshot`` every ``SNAPSHOT_EVERY_S``."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.uplinks_in = _counter(r, "uplinks_in", "Uplinks received", ("source",))
        self.uplinks_out = _counter(r, "uplinks_out", "SenML packs committed to the outbox", ("source",))
        self.duplicates = _counter(r, "duplicates", "Uplinks dropped as duplicates", ("source",))
        self.repeated_samples = _counter(r, "repeated_samples", "Samples a store-and-forward node "
                                         "sent again, left out (bridge/samples.py)", ("source",))
        self.decode_errors = _counter(r, "decode_errors", "Messages dead-lettered, by reason", ("reason",))
        self.events = _counter(r, "events", "Non-uplink events", ("kind",))
        self.commands = _counter(r, "commands", "Command outcomes", ("status",))
        self.rejected_inputs = _counter(r, "rejected_inputs", "Input answered without an outbox "
                                        "row (a command topic whose device id is not a DevEUI, a "
                                        "retained command...)", ("reason",))
        self.inputs = _counter(r, "inputs", "Input messages handled, once each, by outcome",
                               ("outcome",))
        self.outbox_depth = Gauge(_PREFIX + "outbox_depth", "Rows waiting in the outbox", registry=r)
        self.outbox_age = Gauge(_PREFIX + "outbox_oldest_age_seconds", "Age of the oldest outbox row",
                                registry=r)
        self.outbox_full = Gauge(_PREFIX + "outbox_full", "1 while input is paused: outbox full",
                                 registry=r)
        self.outbox_full_total = _counter(r, "outbox_full_pauses", "Times input was paused")
        self._children: dict[tuple[str, str], Any] = {}
        self._counts: dict[tuple[str, str], int] = {}  # not yet added to the counters

    def child(self, metric: str, label: str) -> Any:
        """A labelled child, looked up once (``labels()`` costs a lock and a tuple per call)."""
        c = self._children.get((metric, label))
        if c is None:
            c = self._children[(metric, label)] = getattr(self, metric).labels(label)
        return c

    def count(self, metric: str, label: str, n: int = 1) -> None:
        """``n`` more on a labelled counter; ``flush`` adds the counts (a counter's ``inc``
        takes a lock, twice per uplink otherwise)."""
        k = (metric, label)
        self._counts[k] = self._counts.get(k, 0) + n

    def flush(self) -> None:
        for (metric, label), n in self._counts.items():
            self.child(metric, label).inc(n)
        self._counts.clear()

    def snapshot(self) -> list[Metric]:
        self.flush()
        return list(self.registry.collect())


class _Snapshot(Collector):
    """The worker's latest snapshot, exposed by the main process's registry."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        return list(self.metrics)


class Metrics:
    """The main process's registry: connections and the drain, plus the worker's snapshot."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.published = _counter(r, "published", "Messages PUBACKed by the city broker")
        self.lag = Histogram(_PREFIX + "end_to_end_lag_seconds",
                             "LNS reception to city PUBACK", registry=r,
                             buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
        self.reconnects = _counter(r, "reconnects", "Connections (re)established", ("connection",))
        self.connected = Gauge(_PREFIX + "connected", "1 while connected", ["connection"], registry=r)
        self.parked = _counter(r, "parked", "Outbox rows the city broker refused, set aside "
                               "(docs/bridge.md §5)", ("reason",))
        self.worker = _Snapshot()
        r.register(self.worker)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float | None:
        """One sample by its full name (``trosmart_bridge_uplinks_in_total``) and labels."""
        for m in self.registry.collect():
            for s in m.samples:
                if s.name == name and s.labels == labels:
                    return float(s.value)
        return None


class HttpEndpoint:
    """/metrics and /health on a local port (port 0: any free port, see ``.port``)."""

    def __init__(self, metrics: Metrics, health: Callable[[], tuple[bool, dict[str, Any]]],
                 host: str, port: int) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, outer.metrics.render())
                elif self.path == "/health":
                    ok, doc = outer.health()
                    self._send(200 if ok else 503, "application/json", json.dumps(doc).encode())
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.metrics = metrics
        self.health = health
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
