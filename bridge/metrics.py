"""Prometheus metrics and the health endpoint (HTTP on 127.0.0.1 by default).

``GET /metrics`` is the Prometheus text format; ``GET /health`` answers 200 with a JSON
summary while every connection is up and the worker runs, 503 otherwise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_PREFIX = "trosmart_bridge_"


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.uplinks_in = Counter(_PREFIX + "uplinks_in", "Uplinks received", ["source"], registry=r)
        self.uplinks_out = Counter(_PREFIX + "uplinks_out", "SenML packs committed to the outbox",
                                   ["source"], registry=r)
        self.duplicates = Counter(_PREFIX + "duplicates", "Uplinks dropped as duplicates",
                                  ["source"], registry=r)
        self.decode_errors = Counter(_PREFIX + "decode_errors", "Messages dead-lettered, by reason",
                                     ["reason"], registry=r)
        self.events = Counter(_PREFIX + "events", "Non-uplink events", ["kind"], registry=r)
        self.commands = Counter(_PREFIX + "commands", "Command outcomes", ["status"], registry=r)
        self.published = Counter(_PREFIX + "published", "Messages PUBACKed by the city broker",
                                 registry=r)
        self.outbox_depth = Gauge(_PREFIX + "outbox_depth", "Rows waiting in the outbox", registry=r)
        self.outbox_age = Gauge(_PREFIX + "outbox_oldest_age_seconds", "Age of the oldest outbox row",
                                registry=r)
        self.outbox_full = Gauge(_PREFIX + "outbox_full", "1 while input is paused: outbox full",
                                 registry=r)
        self.outbox_full_total = Counter(_PREFIX + "outbox_full_pauses", "Times input was paused",
                                         registry=r)
        self.lag = Histogram(_PREFIX + "end_to_end_lag_seconds",
                             "LNS reception to city PUBACK", registry=r,
                             buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
        self.reconnects = Counter(_PREFIX + "reconnects", "Connections (re)established",
                                  ["connection"], registry=r)
        self.connected = Gauge(_PREFIX + "connected", "1 while connected", ["connection"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
