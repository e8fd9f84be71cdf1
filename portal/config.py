"""``portal.toml``: documented defaults (docs/portal.md §Configuration); unknown keys are errors
that name the key. The MQTT connection keys and their secret handling are the bridge's
(``bridge.config``: passwords only from ``password_env`` or a 0600 ``password_file``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import config as bridge_config
from bridge.errors import ConfigError as BridgeConfigError

from .errors import ConfigError
from .fleet.settings import FleetConfig
from .fleet.settings import parse as parse_fleet
from .registry import NodeEntry, parse_node

DL_DE_BY_2_0 = {  # docs/references.md §R.G
    "id": "dl-de/by-2-0",
    "name": "Datenlizenz Deutschland – Namensnennung – Version 2.0",
    "url": "https://www.govdata.de/dl-de/by-2-0",
    "dcat_uri": "http://dcat-ap.de/def/licenses/dl-by-de/2.0",
    "spdx": "DL-DE-BY-2.0",
}


@dataclass
class Licence:
    id: str = DL_DE_BY_2_0["id"]
    name: str = DL_DE_BY_2_0["name"]
    url: str = DL_DE_BY_2_0["url"]
    dcat_uri: str = DL_DE_BY_2_0["dcat_uri"]
    spdx: str = DL_DE_BY_2_0["spdx"]
    provider: str = "Stadt Troisdorf"  # Quellenvermerk (1): the provider's name as it wants it

    def attribution(self, dataset_uri: str) -> str:
        """The source note dl-de/by-2-0 asks for: provider, licence with its URL, the dataset's URI
        (docs/references.md §R.G)."""
        return f"{self.provider}, {self.name} ({self.id}, {self.url}), {dataset_uri}"


@dataclass
class Dataset:
    title: str = "TroSmart Sensordaten Troisdorf"
    title_en: str = "TroSmart sensor data, Troisdorf"
    description: str = ("Messwerte der öffentlichen TroSmart-Sensorknoten in Troisdorf (LoRaWAN): "
                        "Umwelt-, Wasserstands- und Parkdaten, Rohwerte und Stunden-/Tagesmittel.")
    description_en: str = ("Measurements of the public TroSmart sensor nodes in Troisdorf (LoRaWAN): "
                           "environment, water level and parking data, raw values and hourly/daily means.")
    publisher: str = "Stadt Troisdorf"
    contact_email: str = ""
    keywords: list[str] = field(default_factory=lambda: ["Sensor", "Umwelt", "LoRaWAN", "Troisdorf", "Smart City"])
    political_geocoding_uri: str = ""  # e.g. the municipality key URI of Troisdorf
    contributor_id: str = ""  # GovData dcatde:contributorID, when delivering to GovData


@dataclass
class Config:
    mqtt: bridge_config.Connection
    prefix: str = "trosmart/v1"
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = ""
    state_dir: Path = Path("portal-state")
    backend: str = "sqlite"
    sqlite_path: Path = Path("portal-state/portal.sqlite3")
    dsn: str = field(default="", repr=False)
    raw_retention_days: int = 0
    tile_url: str = ""
    tile_attribution: str = ""
    default_quantity: str = "temperature"
    unlisted_public: bool = False
    batch_max: int = 500
    log_level: str = "INFO"
    licence: Licence = field(default_factory=Licence)
    dataset: Dataset = field(default_factory=Dataset)
    nodes: dict[str, NodeEntry] = field(default_factory=dict)
    fleet: FleetConfig = field(default_factory=FleetConfig)  # [fleet] and [[account]]

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")


_PORTAL_KEYS = {"prefix": str, "host": str, "port": int, "base_url": str, "state_dir": str, "tile_url": str,
                "tile_attribution": str, "default_quantity": str, "unlisted_public": bool, "batch_max": int,
                "log_level": str}
_STORAGE_KEYS = {"backend": str, "path": str, "dsn_env": str, "dsn_file": str, "raw_retention_days": int}
_LICENCE_KEYS = {"id": str, "name": str, "url": str, "dcat_uri": str, "spdx": str, "provider": str}
_DATASET_KEYS = {"title": str, "title_en": str, "description": str, "description_en": str, "publisher": str,
                 "contact_email": str, "keywords": list, "political_geocoding_uri": str, "contributor_id": str}
TILE_RE = re.compile(r"(https?://[^\s\"'<>]+|/[^\s\"'<>]*)\Z")


def _keys(t: Any, allowed: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(t, dict):
        raise ConfigError(f"[{where}] must be a table")
    try:
        bridge_config._check_keys(t, allowed, where)
    except BridgeConfigError as e:
        raise ConfigError(str(e)) from None
    return t


def parse(doc: dict[str, Any], base_dir: Path | None = None) -> Config:
    allowed = ("portal", "storage", "mqtt", "licence", "dataset", "node", "fleet", "account")
    for k in doc:
        if k not in allowed:
            raise ConfigError(f"unknown table [{k}] (allowed: {', '.join(allowed)})")
    base = base_dir or Path.cwd()
    p = _keys(doc.get("portal", {}), _PORTAL_KEYS, "portal")
    m = _keys(doc.get("mqtt", {}), bridge_config._CONN_KEYS, "mqtt")
    try:
        mqtt = bridge_config._connection(bridge_config.Connection, m, "mqtt", name="city")
    except BridgeConfigError as e:
        raise ConfigError(str(e)) from None
    mqtt.client_id = mqtt.client_id or "trosmart-portal"
    cfg = Config(mqtt=mqtt)
    for k, v in p.items():
        setattr(cfg, k, v)
    cfg.state_dir = _path(base, p.get("state_dir", "portal-state"))
    s = _keys(doc.get("storage", {}), _STORAGE_KEYS, "storage")
    cfg.backend = s.get("backend", "sqlite")
    cfg.raw_retention_days = s.get("raw_retention_days", 0)
    if cfg.backend == "sqlite":
        if "dsn_env" in s or "dsn_file" in s:
            raise ConfigError("[storage] dsn_env/dsn_file are for backend = \"postgresql\"")
        cfg.sqlite_path = _path(cfg.state_dir, s.get("path", "portal.sqlite3"))
    elif cfg.backend == "postgresql":
        cfg.dsn = _dsn(s)
    else:
        raise ConfigError(f"[storage] backend must be \"sqlite\" or \"postgresql\", got {cfg.backend!r}")
    if cfg.raw_retention_days < 0:
        raise ConfigError("[storage] raw_retention_days must be >= 0 (0 keeps raw data for ever)")
    if not cfg.prefix or any(c in cfg.prefix for c in "+#") or cfg.prefix.endswith("/"):
        raise ConfigError(f"[portal] prefix {cfg.prefix!r} must be a topic without wildcards")
    if not 0 <= cfg.port < 65536:
        raise ConfigError(f"[portal] port {cfg.port} is not 0..65535")
    if cfg.batch_max < 1:
        raise ConfigError("[portal] batch_max must be >= 1")
    if cfg.tile_url and not TILE_RE.match(cfg.tile_url):
        raise ConfigError("[portal] tile_url must be an http(s) URL or a path on the portal, "
                          "e.g. /tiles/{z}/{x}/{y}.png")
    if cfg.base_url and not re.match(r"https?://[^\s\"'<>]+\Z", cfg.base_url):
        raise ConfigError("[portal] base_url must be an http(s) URL")
    lic = _keys(doc.get("licence", {}), _LICENCE_KEYS, "licence")
    cfg.licence = Licence(**lic)
    ds = _keys(doc.get("dataset", {}), _DATASET_KEYS, "dataset")
    if not all(isinstance(k, str) for k in ds.get("keywords", [])):
        raise ConfigError("[dataset] keywords must be strings")
    cfg.dataset = Dataset(**ds)
    nodes = doc.get("node", [])
    if not isinstance(nodes, list):
        raise ConfigError("[[node]] must be an array of tables")
    for i, t in enumerate(nodes):
        entry = parse_node(t, f"node {i}")
        if entry.dev_eui in cfg.nodes:
            raise ConfigError(f"[node {i}] dev_eui {entry.dev_eui} is listed twice")
        cfg.nodes[entry.dev_eui] = entry
    cfg.fleet = parse_fleet(doc.get("fleet"), doc.get("account"))
    return cfg


def _path(base: Path, p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else base / path


def _dsn(s: dict[str, Any]) -> str:
    """The PostgreSQL connection string may hold a password: from an environment variable or a
    0600 file only, never inline."""
    if "dsn_env" in s and "dsn_file" in s:
        raise ConfigError("[storage] set dsn_env or dsn_file, not both")
    if "dsn_env" in s:
        dsn = os.environ.get(s["dsn_env"])
        if dsn is None:
            raise ConfigError(f"[storage] dsn_env names {s['dsn_env']}, which is not set")
        return dsn
    if "dsn_file" in s:
        try:
            return bridge_config.read_secret_file(s["dsn_file"], "[storage] dsn_file")
        except BridgeConfigError as e:
            raise ConfigError(str(e)) from None
    raise ConfigError("[storage] backend = \"postgresql\" needs dsn_env or dsn_file (the connection string)")


def load(path: str | Path) -> Config:
    p = Path(path)
    try:
        doc = bridge_config.read_toml(p)
    except BridgeConfigError as e:
        raise ConfigError(str(e)) from None
    return parse(doc, p.parent.resolve())
