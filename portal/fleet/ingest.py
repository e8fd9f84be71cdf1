"""What the fleet view keeps from the city topics (docs/portal.md §Fleet view; docs/bridge.md §3).

* ``{prefix}/{device}/meta``: the bridge's device metadata. Each one becomes a history row at
  its ``last_seen``: the best gateway's RSSI and SNR, frame counters and the loss the bridge
  counted from their gaps, firmware and interval (from status frames), the network server's
  battery level.
* ``{prefix}/{device}/senml``: a status frame's pack (docs/codec.md §5, ``status_records`` in
  payload_codec/senml.py) becomes a history row and the node's latest status: firmware,
  battery voltage, interval, reset cause, ``config_error`` and ``sensor_failed`` records (one
  per key or sensor, so several per pack) and ``sensor_errors/<sensor>`` counters. A
  measurement pack gives the samples per frame (its distinct times).
* ``{prefix}/{device}/command/result``: the bridge's results; those whose ``id`` is a command
  sent from the fleet view update it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from ..errors import InputError
from ..storage import Pack
from .store import FleetStore

MAX_RESULT_BYTES = 4096
PRUNE_EVERY_S = 3600.0
DAY_MS = 86_400_000
# the record names of a status frame's SenML (payload_codec/senml.py status_records)
STATUS_NAMES = frozenset({"firmware", "reset_cause", "uptime_s", "sample_counter", "interval_s", "config_hash",
                          "config_error", "sensor_failed", "command_result"})
STATUS_PREFIXES = ("sensor_errors/",)
META_KEYS = ("rssi", "snr", "gateway", "gateways", "f_cnt", "frames", "lost", "packet_loss", "firmware",
             "interval_s", "battery_level", "sessions", "dr", "spreading_factor")


def is_status_quantity(q: str) -> bool:
    """A record of a status frame: fleet data, never shown on a public page."""
    return q in STATUS_NAMES or q.startswith(STATUS_PREFIXES)


def status_doc(p: Pack) -> tuple[int, dict[str, Any]] | None:
    """(time ms, status fields) of a status frame's pack; None for any other pack."""
    obs = p.observations
    if not any(is_status_quantity(o.quantity) for o in obs):
        return None
    doc: dict[str, Any] = {"config_errors": [], "failed_sensors": [], "sensor_errors": {}}
    for o in obs:
        q = o.quantity
        v: Any = o.vs if o.vs is not None else o.v
        if q == "config_error" and isinstance(v, str):
            doc["config_errors"].append(v)
        elif q == "sensor_failed" and isinstance(v, str):
            doc["failed_sensors"].append(v)
        elif q.startswith("sensor_errors/") and isinstance(v, float):
            doc["sensor_errors"][q[len("sensor_errors/"):]] = int(v)
        elif q in ("firmware", "reset_cause", "config_hash", "command_result") and isinstance(v, str):
            doc[q] = v
        elif q in ("uptime_s", "interval_s", "sample_counter") and isinstance(v, float):
            doc[q] = int(v)
        elif q == "battery_voltage" and isinstance(v, float):
            doc[q] = v
    return max(o.t_ms for o in obs), doc


def meta_doc(meta: dict[str, Any], now_ms: int) -> tuple[int, dict[str, Any]]:
    seen = meta.get("last_seen")
    t = round(seen * 1000) if isinstance(seen, (int, float)) and not isinstance(seen, bool) else now_ms
    return t, {k: meta[k] for k in META_KEYS if k in meta and isinstance(meta[k], (int, float, str))}


def result_doc(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_RESULT_BYTES:
        raise InputError("oversize", f"{len(payload)} bytes > {MAX_RESULT_BYTES}")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise InputError("invalid_json", str(e)) from None
    if not isinstance(doc, dict):
        raise InputError("bad_result", "a command result must be a JSON object")
    return doc


class FleetIngest:
    """Called by the portal's ingest thread once per batch, before the batch is acknowledged."""

    def __init__(self, store: FleetStore, history_days: int) -> None:
        self.store = store
        self.history_days = history_days
        self._next_prune = 0.0
        self.results = 0

    def subscriptions(self, prefix: str, qos: int) -> list[tuple[str, int]]:
        return [(f"{prefix}/+/command/result", qos)]

    def handle(self, metas: Sequence[tuple[str, dict[str, Any]]], packs: Sequence[Pack], now_ms: int) -> None:
        history: list[tuple[str, int, str, dict[str, Any]]] = []
        status: dict[str, tuple[int, dict[str, Any]]] = {}
        samples: dict[str, int] = {}
        for dev, meta in metas:
            t, doc = meta_doc(meta, now_ms)
            history.append((dev, t, "meta", doc))
        for p in packs:
            if not p.observations:
                continue
            st = status_doc(p)
            if st is not None:
                history.append((p.dev_eui, st[0], "status", st[1]))
                if p.dev_eui not in status or status[p.dev_eui][0] < st[0]:
                    status[p.dev_eui] = st
            elif not any(o.quantity.startswith("layout") for o in p.observations):
                samples[p.dev_eui] = len({o.t_ms for o in p.observations})
        self.store.record(history, [(d, t, doc) for d, (t, doc) in status.items()], list(samples.items()))
        self._maybe_prune(now_ms)

    def result(self, dev: str, payload: bytes, now_ms: int) -> None:
        doc = result_doc(payload)
        cid = doc.get("id")
        if isinstance(cid, str) and cid.startswith("fleet-"):
            keep: dict[str, Any] = {k: doc[k] for k in ("status", "by", "reason", "at", "command_id") if k in doc}
            if self.store.command_result(cid, dev, keep, now_ms):
                self.results += 1

    def _maybe_prune(self, now_ms: int) -> None:
        now = time.monotonic()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_S
            self.store.prune(now_ms - self.history_days * DAY_MS)
