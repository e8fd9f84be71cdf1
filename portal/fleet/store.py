"""The fleet view's tables, on either storage backend (the same statements; docs/portal.md §Fleet view).

* ``fleet_history``: per node a row per ``meta`` (radio link, frame counters, firmware,
  interval) and per status frame (battery, configuration errors, failed sensors, sensor
  error counters), key (node, time, source): a redelivered message changes nothing.
* ``fleet_nodes``: per node the latest status frame and the samples per measurement frame
  (the uplink period is the interval times the samples).
* ``fleet_sessions``: logins (the SHA-256 of the cookie's token, never the token).
* ``fleet_commands``: commands sent from the fleet view and the bridge's results for them.

Created at open like the core tables (``CREATE TABLE IF NOT EXISTS``): a portal database
from before the fleet view gains them when the new portal starts. Every value is bound.
"""

from __future__ import annotations

import json
from typing import Any

from ..storage import Storage

SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_history (dev_eui TEXT NOT NULL, t BIGINT NOT NULL, source TEXT NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (dev_eui, t, source));
CREATE TABLE IF NOT EXISTS fleet_nodes (dev_eui TEXT PRIMARY KEY, samples BIGINT, status_t BIGINT, status TEXT);
CREATE TABLE IF NOT EXISTS fleet_sessions (token_hash TEXT PRIMARY KEY, account TEXT NOT NULL, csrf TEXT NOT NULL,
    created BIGINT NOT NULL, expires BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS fleet_commands (id TEXT PRIMARY KEY, dev_eui TEXT NOT NULL, account TEXT NOT NULL,
    command TEXT NOT NULL, sent_at BIGINT NOT NULL, status TEXT NOT NULL, reason TEXT, updated_at BIGINT NOT NULL,
    results TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS fleet_commands_dev ON fleet_commands (dev_eui, sent_at)
"""
FINAL = ("acked", "failed", "rejected", "not_sent")


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


class FleetStore:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        storage.add_schema(SCHEMA)

    # ---- ingest side ---------------------------------------------------------------------
    def record(self, history: list[tuple[str, int, str, dict[str, Any]]],
               status: list[tuple[str, int, dict[str, Any]]], samples: list[tuple[str, int]]) -> None:
        """History rows (node, t, source, doc), newest status frames (node, t, doc) and samples
        per frame (node, n), in one transaction."""
        stmts: list[tuple[str, Any]] = []
        for dev, t, source, doc in history:
            stmts.append(("INSERT INTO fleet_history(dev_eui, t, source, doc) VALUES (?, ?, ?, ?) "
                          "ON CONFLICT(dev_eui, t, source) DO NOTHING", (dev, t, source, _dumps(doc))))
        for dev, t, doc in status:
            stmts.append(("INSERT INTO fleet_nodes(dev_eui, status_t, status) VALUES (?, ?, ?) "
                          "ON CONFLICT(dev_eui) DO UPDATE SET status_t = excluded.status_t, status = excluded.status "
                          "WHERE fleet_nodes.status_t IS NULL OR fleet_nodes.status_t < excluded.status_t",
                          (dev, t, _dumps(doc))))
        for dev, n in samples:
            stmts.append(("INSERT INTO fleet_nodes(dev_eui, samples) VALUES (?, ?) "
                          "ON CONFLICT(dev_eui) DO UPDATE SET samples = excluded.samples", (dev, n)))
        if stmts:
            self.storage.write(stmts)

    def prune(self, before_ms: int) -> int:
        return self.storage.write([("DELETE FROM fleet_history WHERE t < ?", (before_ms,))])[0]

    # ---- read side -----------------------------------------------------------------------
    def nodes(self) -> dict[str, tuple[int | None, int | None, dict[str, Any] | None]]:
        """Per node: (samples, time of the latest status frame, that frame's doc)."""
        return {d: (n, t, json.loads(s) if s else None)
                for d, n, t, s in self.storage.query("SELECT dev_eui, samples, status_t, status FROM fleet_nodes")}

    def history(self, dev_eui: str, since_ms: int, limit: int = 500) -> list[tuple[int, str, dict[str, Any]]]:
        """Newest first: (t, source, doc)."""
        return [(int(t), s, json.loads(d)) for t, s, d in self.storage.query(
            "SELECT t, source, doc FROM fleet_history WHERE dev_eui = ? AND t >= ? ORDER BY t DESC, source LIMIT ?",
            (dev_eui, since_ms, limit))]

    def meta_ends(self, since_ms: int) -> dict[str, list[dict[str, Any]]]:
        """Per node its first and newest meta row since ``since_ms`` (oldest first): the bridge's
        ``frames`` and ``lost`` only grow, so their differences give the recent loss (one
        indexed pass instead of every row of every node)."""
        out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for d, t, doc in self.storage.query(
                "SELECT h.dev_eui, h.t, h.doc FROM fleet_history h JOIN (SELECT dev_eui, min(t) AS a, max(t) AS b "
                "FROM fleet_history WHERE source = 'meta' AND t >= ? GROUP BY dev_eui) e "
                "ON h.dev_eui = e.dev_eui AND (h.t = e.a OR h.t = e.b) WHERE h.source = 'meta'", (since_ms,)):
            out.setdefault(d, []).append((int(t), json.loads(doc)))
        return {d: [doc for _, doc in sorted(rows, key=lambda r: r[0])] for d, rows in out.items()}

    def battery_hourly(self, since_ms: int) -> dict[str, list[tuple[int, float]]]:
        """Every node's hourly mean battery voltage since ``since_ms`` (the portal's rollups)."""
        out: dict[str, list[tuple[int, float]]] = {}
        for d, b, s, n in self.storage.query(
                "SELECT s.dev_eui, h.bucket, h.sum, h.n FROM hourly h JOIN series s ON s.id = h.series_id "
                "WHERE s.quantity = 'battery_voltage' AND h.bucket >= ? ORDER BY s.dev_eui, h.bucket", (since_ms,)):
            out.setdefault(d, []).append((int(b), float(s) / int(n)))
        return out

    # ---- sessions ------------------------------------------------------------------------
    def add_session(self, token_hash: str, account: str, csrf: str, now_ms: int, expires_ms: int) -> None:
        self.storage.write([
            ("DELETE FROM fleet_sessions WHERE expires <= ?", (now_ms,)),
            ("INSERT INTO fleet_sessions(token_hash, account, csrf, created, expires) VALUES (?, ?, ?, ?, ?)",
             (token_hash, account, csrf, now_ms, expires_ms)),
        ])

    def session(self, token_hash: str) -> tuple[str, str, int] | None:
        r = self.storage.query("SELECT account, csrf, expires FROM fleet_sessions WHERE token_hash = ?", (token_hash,))
        return (str(r[0][0]), str(r[0][1]), int(r[0][2])) if r else None

    def drop_session(self, token_hash: str) -> None:
        self.storage.write([("DELETE FROM fleet_sessions WHERE token_hash = ?", (token_hash,))])

    # ---- commands ------------------------------------------------------------------------
    def add_command(self, cid: str, dev_eui: str, account: str, command: dict[str, Any], now_ms: int,
                    status: str, reason: str | None = None) -> None:
        self.storage.write([(
            "INSERT INTO fleet_commands(id, dev_eui, account, command, sent_at, status, reason, updated_at, results) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, dev_eui, account, _dumps(command), now_ms, status, reason, now_ms, "[]"))])

    def command_result(self, cid: str, dev_eui: str, result: dict[str, Any], now_ms: int) -> bool:
        """Add a bridge result to a command of ours; False when ``cid`` is not one (another
        city application's command). A result only moves the status on: a late ``queued``
        after ``sent`` is kept in the list but does not become the status."""
        rows = self.storage.query("SELECT status, results FROM fleet_commands WHERE id = ? AND dev_eui = ?",
                                  (cid, dev_eui))
        if not rows:
            return False
        status, results = str(rows[0][0]), json.loads(rows[0][1])
        if result in results:  # a redelivered result
            return True
        results.append(result)
        new = str(result.get("status", "unknown"))
        order = ("published", "queued", "sent", "acked")
        moves = status not in FINAL and (new not in order or status not in order
                                         or order.index(new) > order.index(status))
        reason = result.get("reason")
        if moves:
            self.storage.write([("UPDATE fleet_commands SET results = ?, updated_at = ?, status = ?, reason = ? "
                                 "WHERE id = ?", (_dumps(results), now_ms, new,
                                                  reason if isinstance(reason, str) else None, cid))])
        else:
            self.storage.write([("UPDATE fleet_commands SET results = ?, updated_at = ? WHERE id = ?",
                                 (_dumps(results), now_ms, cid))])
        return True

    def command(self, cid: str) -> dict[str, Any] | None:
        r = self.storage.query("SELECT id, dev_eui, account, command, sent_at, status, reason, updated_at, results "
                               "FROM fleet_commands WHERE id = ?", (cid,))
        return _command_doc(r[0]) if r else None

    def commands_of(self, dev_eui: str, limit: int = 20) -> list[dict[str, Any]]:
        return [_command_doc(r) for r in self.storage.query(
            "SELECT id, dev_eui, account, command, sent_at, status, reason, updated_at, results FROM fleet_commands "
            "WHERE dev_eui = ? ORDER BY sent_at DESC LIMIT ?", (dev_eui, limit))]


def _command_doc(r: Any) -> dict[str, Any]:
    return {"id": r[0], "node": r[1], "account": r[2], "command": json.loads(r[3]), "sent_at": int(r[4]),
            "status": r[5], "reason": r[6], "updated_at": int(r[7]), "results": json.loads(r[8]),
            "final": r[5] in FINAL}
