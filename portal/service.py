"""The portal process: storage, the ingest thread and the web server (uvicorn) together.

``run()`` serves until SIGTERM/SIGINT; ``Portal`` is the same in-process for tests. Exit 1
when ingest cannot continue (the storage failed): what was not committed was not
acknowledged, so the broker sends it again to the restarted portal.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from typing import Any

import uvicorn

from bridge import logs

from .app import create_app, vendor_dir
from .catalog import Catalog
from .config import Config
from .errors import PortalError
from .fleet.ingest import FleetIngest
from .fleet.routes import FleetRoutes
from .fleet.store import FleetStore
from .ingest import Ingest
from .live import Hub
from .storage import Storage, open_storage

log = logging.getLogger("trosmart.portal")


def open_configured_storage(cfg: Config) -> Storage:
    if cfg.backend == "sqlite":
        return open_storage("sqlite", path=str(cfg.sqlite_path), raw_retention_days=cfg.raw_retention_days)
    return open_storage("postgresql", dsn=cfg.dsn, raw_retention_days=cfg.raw_retention_days)


class Portal:
    def __init__(self, cfg: Config, *, ingest: bool = True) -> None:
        if not (vendor_dir() / "leaflet").is_dir() or not (vendor_dir() / "uplot").is_dir():
            raise PortalError(f"the front-end libraries are missing in {vendor_dir()}: run 'make setup' "
                              "(npm ci in portal/web)")
        self.cfg = cfg
        self.storage = open_configured_storage(cfg)
        self.hub = Hub()
        self.catalog = Catalog(cfg, self.storage)
        self.fleet_store = FleetStore(self.storage)
        self.fleet_ingest = FleetIngest(self.fleet_store, cfg.fleet.history_days)
        self.ingest = Ingest(cfg, self.storage, self.hub.publish, self.fleet_ingest) if ingest else None
        self.fleet = FleetRoutes(cfg, self.storage, self.fleet_store, self.publish)
        self.app = create_app(self.catalog, self.hub, self.status, self.fleet)
        self.sock = socket.socket(socket.AF_INET6 if ":" in cfg.host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((cfg.host, cfg.port))
        except OSError as e:
            self.sock.close()
            self.storage.close()
            raise PortalError(f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror}") from None
        self.port = int(self.sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off",
                                                    timeout_graceful_shutdown=2, access_log=False))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.cfg.host}]" if ":" in self.cfg.host else self.cfg.host
        return f"http://{host}:{self.port}"

    def publish(self, topic: str, payload: bytes) -> bool:
        """A fleet command onto the city broker at QoS 1; False without a connection."""
        ing = self.ingest
        if ing is None or not ing.connected:
            return False
        ing.mqtt.publish(topic, payload, qos=1)
        return True

    def status(self) -> dict[str, Any]:
        ing = self.ingest
        doc: dict[str, Any] = {"ok": True, "storage": self.storage.name, "listeners": self.hub.listeners}
        if ing is not None:
            doc.update(mqtt_connected=ing.connected, ingest=dict(ing.counts), fatal=ing.fatal)
            doc["ok"] = ing.connected and ing.fatal is None
        return doc

    def start(self) -> Portal:
        """Serve in a background thread (tests, the demo)."""
        if self.ingest is not None:
            self.ingest.start()
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name="portal-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise PortalError("the web server did not start")
            time.sleep(0.01)  # uvicorn offers no start event
        return self

    def stop(self) -> None:
        self.hub.close()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self.ingest is not None:
            self.ingest.stop()
        self.sock.close()
        self.storage.close()


def run(cfg: Config) -> int:
    logs.setup(cfg.log_level)
    portal = Portal(cfg)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_signal)
    portal.start()
    log.info("portal serving", extra={"fields": {"url": portal.url, "storage": portal.storage.name,
                                                 "broker": f"{cfg.mqtt.host}:{cfg.mqtt.port}"}})
    print(f"portal: serving {portal.url}/ (storage {portal.storage.name}, city broker "
          f"{cfg.mqtt.host}:{cfg.mqtt.port})", flush=True)
    code = 0
    while not stop.wait(0.5):
        if portal.ingest is not None and portal.ingest.fatal:
            code = 1
            break
    portal.stop()
    return code
