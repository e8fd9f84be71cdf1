"""TOML configuration with documented defaults (docs/bridge.md §6); secrets from env or files.

Passwords are never written inline: ``password_env`` names an environment variable,
``password_file`` a file that only its owner may read (mode 0600 or stricter). The same
check applies to a client-certificate key file.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payload_codec import p2p_radio

from .decoding import MODES
from .errors import BridgeError, ConfigError
from .topics import TOPIC_MAX_BYTES, check_prefix

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LNS_KINDS = ("chirpstack", "tts", "serial")
DEFAULT_TOPICS = {
    "chirpstack": ["application/+/device/+/event/+"],
    "tts": ["v3/+/devices/+/up", "v3/+/devices/+/join", "v3/+/devices/+/down/+"],
    "serial": [],  # a USB-serial P2P receiver (docs/p2p.md §5): no MQTT topics
}
RECEIVERS = ("rak3172", "node")
PROTOCOLS = ("3.1.1", "5")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
# a PUBLISH's fixed header (5), topic length (2), topic, packet id (2), properties (<= 16 used)
PACKET_OVERHEAD = 5 + 2 + TOPIC_MAX_BYTES + 2 + 16


@dataclass
class Connection:
    name: str
    host: str = "127.0.0.1"
    port: int = 1883
    protocol: str = "5"
    client_id: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    allow_plaintext: bool = False  # a password without TLS to a host that is not loopback
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 86400
    qos: int = 1
    reconnect_max_s: int = 30


@dataclass
class Source(Connection):
    lns: str = "chirpstack"
    topics: list[str] = field(default_factory=list)
    shared_group: str = ""
    # lns = "serial" only (docs/p2p.md §5)
    device: str = ""  # the receiver's serial device, e.g. /dev/serial/by-id/usb-...
    baud: int = 115200
    receiver: str = "rak3172"  # rak3172: the bridge sets P2P receive up; node: it prints lines
    p2p_freq_hz: int = 868100000
    p2p_sf: int = 7
    p2p_bw_khz: int = 125
    keys_file: str = ""  # JSON {"<DevEUI>": "<AES-128 key hex>"}, mode 0600
    reconnect_s: float = 1.0


@dataclass
class Config:
    city: Connection
    sources: list[Source]
    state_dir: Path = Path("bridge-state")
    prefix: str = "trosmart/v1"
    max_message_bytes: int = 65536
    dedupe_window_s: int = 7 * 86400
    outbox_max_rows: int = 1_000_000
    synchronous: str = "FULL"
    batch_max: int = 500
    input_queue: int = 5000
    input_queue_bytes: int = 64 * 1024 * 1024
    max_packet_bytes: int = 1024 * 1024
    drain_window: int = 1000
    drain_timeout_s: float = 10.0
    downlink_min_interval_s: float = 60.0
    downlink_confirmed: bool = False
    announce_layout: bool = True
    unknown_device_commands: str = "reject"
    retained_values: bool = True
    retained_delay_s: float = 1.0
    home_assistant: bool = False
    home_assistant_prefix: str = "homeassistant"
    log_level: str = "INFO"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    decode_default: str = "trosmart"
    decode_applications: dict[str, str] = field(default_factory=dict)
    decode_devices: dict[str, str] = field(default_factory=dict)

    def decode_mode(self, dev_eui: str, application_id: str | None) -> str:
        if dev_eui in self.decode_devices:
            return self.decode_devices[dev_eui]
        if application_id and application_id in self.decode_applications:
            return self.decode_applications[application_id]
        return self.decode_default


_BRIDGE_KEYS = {
    "state_dir": str, "prefix": str, "max_message_bytes": int, "dedupe_window_s": int,
    "outbox_max_rows": int, "synchronous": str, "batch_max": int, "input_queue": int,
    "input_queue_bytes": int, "max_packet_bytes": int,
    "drain_window": int, "drain_timeout_s": (int, float), "downlink_min_interval_s": (int, float),
    "downlink_confirmed": bool, "announce_layout": bool, "retained_values": bool,
    "unknown_device_commands": str,
    "retained_delay_s": (int, float),
    "home_assistant": bool, "home_assistant_prefix": str, "log_level": str,
}
_CONN_KEYS = {
    "host": str, "port": int, "protocol": str, "client_id": str, "username": str, "password": str,
    "password_env": str, "password_file": str, "tls": bool, "ca_file": str, "cert_file": str,
    "key_file": str, "tls_insecure": bool, "allow_plaintext": bool, "keepalive_s": int,
    "session_expiry_s": int, "qos": int,
    "reconnect_max_s": int,
}
_SOURCE_KEYS = {**_CONN_KEYS, "name": str, "lns": str, "topics": list, "shared_group": str}
_SERIAL_KEYS = {"device": str, "baud": int, "receiver": str, "p2p_freq_hz": int, "p2p_sf": int,
                "p2p_bw_khz": int, "keys_file": str, "reconnect_s": (int, float)}


def _check_keys(table: dict[str, Any], allowed: dict[str, Any], where: str) -> None:
    for k, v in table.items():
        if k not in allowed:
            raise ConfigError(f"[{where}] has unknown key {k!r} (allowed: {', '.join(sorted(allowed))})")
        want = allowed[k]
        if isinstance(v, bool) and want is not bool and bool not in (want if isinstance(want, tuple) else ()):
            raise ConfigError(f"[{where}] {k} must be {_tname(want)}, got a boolean")
        if not isinstance(v, want):
            raise ConfigError(f"[{where}] {k} must be {_tname(want)}, got {type(v).__name__}")


def _tname(t: Any) -> str:
    if isinstance(t, tuple):
        return "a number"
    return {str: "a string", int: "an integer", bool: "true or false", list: "a list"}[t]


def read_secret_file(path: str, what: str) -> str:
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path}: {e.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{what}: {path} has mode {stat.S_IMODE(st.st_mode):04o}; "
                          "secrets must be 0600 (chmod 600)")
    return p.read_text().strip()


def _connection(cls: type[Connection], t: dict[str, Any], where: str, **kw: Any) -> Any:
    keys = dict(t)
    pw_env = keys.pop("password_env", None)
    pw_file = keys.pop("password_file", None)
    if "password" in t:
        raise ConfigError(f"[{where}] password must not be inline: use password_env or password_file")
    password = None
    if pw_env and pw_file:
        raise ConfigError(f"[{where}] set password_env or password_file, not both")
    if pw_env:
        password = os.environ.get(pw_env)
        if password is None:
            raise ConfigError(f"[{where}] password_env names {pw_env}, which is not set")
    elif pw_file:
        password = read_secret_file(pw_file, f"[{where}] password_file")
    conn = cls(password=password, **{**keys, **kw})
    if conn.protocol not in PROTOCOLS:
        raise ConfigError(f"[{where}] protocol must be one of {PROTOCOLS}, got {conn.protocol!r}")
    if not 0 < conn.port < 65536:
        raise ConfigError(f"[{where}] port {conn.port} is not 1..65535")
    if conn.qos not in (0, 1):
        raise ConfigError(f"[{where}] qos must be 0 or 1")
    if conn.key_file:
        read_secret_file(conn.key_file, f"[{where}] key_file")
        if not conn.cert_file:
            raise ConfigError(f"[{where}] key_file needs cert_file")
    for k in ("ca_file", "cert_file"):
        path = getattr(conn, k)
        if path and not Path(path).is_file():
            raise ConfigError(f"[{where}] {k} {path} does not exist")
    if (conn.ca_file or conn.cert_file) and not conn.tls:
        raise ConfigError(f"[{where}] ca_file/cert_file given but tls = false")
    if conn.password is not None and not conn.tls and not conn.allow_plaintext \
            and not is_loopback(conn.host):
        raise ConfigError(f"[{where}] a password would travel in cleartext to {conn.host}: set "
                          "tls = true (or allow_plaintext = true to accept that)")
    return conn


def is_loopback(host: str) -> bool:
    """True for a name or address of this machine's loopback interface."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse(doc: dict[str, Any], base_dir: Path | None = None) -> Config:
    for k in doc:
        if k not in ("bridge", "metrics", "decode", "city", "source"):
            raise ConfigError(f"unknown table [{k}] (allowed: bridge, metrics, decode, city, source)")
    bridge = doc.get("bridge", {})
    _check_keys(bridge, _BRIDGE_KEYS, "bridge")
    if "city" not in doc:
        raise ConfigError("[city] is missing: the city broker connection")
    city_t = doc["city"]
    _check_keys(city_t, _CONN_KEYS, "city")
    city = _connection(Connection, city_t, "city", name="city")
    if not city.client_id:
        city.client_id = "trosmart-bridge-city"
    srcs = doc.get("source", [])
    if not isinstance(srcs, list) or not srcs:
        raise ConfigError("at least one [[source]] is needed")
    sources = []
    names = set()
    for i, s in enumerate(srcs):
        where = f"source {i}"
        lns = s.get("lns", "chirpstack")
        _check_keys(s, {**_SOURCE_KEYS, **_SERIAL_KEYS} if lns == "serial" else _SOURCE_KEYS, where)
        if lns not in LNS_KINDS:
            raise ConfigError(f"[{where}] lns must be one of {LNS_KINDS}, got {lns!r}")
        name = s.get("name", f"{lns}{i}")
        if name in names or name == "city":
            raise ConfigError(f"[{where}] name {name!r} is used twice (\"city\" is the city connection)")
        names.add(name)
        t = {k: v for k, v in s.items() if k != "name"}
        t.setdefault("topics", list(DEFAULT_TOPICS[lns]))
        if lns == "tts":
            t.setdefault("protocol", "3.1.1")  # TTS: MQTT 3.1.1 only (docs/references.md §M)
        src = _connection(Source, t, where, name=name)
        if not all(isinstance(x, str) and x for x in src.topics):
            raise ConfigError(f"[{where}] topics must be non-empty strings")
        if not src.client_id:
            src.client_id = f"trosmart-bridge-{name}"
        if lns == "serial":
            _check_serial(src, where)
        sources.append(src)
    metrics = doc.get("metrics", {})
    _check_keys(metrics, {"host": str, "port": int}, "metrics")
    dec = doc.get("decode", {})
    _check_keys(dec, {"default": str, "applications": dict, "devices": dict}, "decode")
    cfg = Config(city=city, sources=sources)
    for k, v in bridge.items():
        setattr(cfg, k, v)
    cfg.state_dir = Path(bridge.get("state_dir", "bridge-state"))
    if base_dir is not None and not cfg.state_dir.is_absolute():
        cfg.state_dir = base_dir / cfg.state_dir
    cfg.metrics_host = metrics.get("host", cfg.metrics_host)
    cfg.metrics_port = metrics.get("port", cfg.metrics_port)
    cfg.decode_default = dec.get("default", cfg.decode_default)
    cfg.decode_applications = dict(dec.get("applications", {}))
    cfg.decode_devices = {k.lower(): v for k, v in dec.get("devices", {}).items()}
    for where, mode in [("default", cfg.decode_default), *cfg.decode_applications.items(),
                        *cfg.decode_devices.items()]:
        if mode not in MODES:
            raise ConfigError(f"[decode] {where} = {mode!r}: mode must be one of {MODES}")
    if cfg.unknown_device_commands not in ("reject", "ignore"):
        raise ConfigError("[bridge] unknown_device_commands must be reject or ignore")
    if cfg.synchronous not in ("FULL", "NORMAL", "EXTRA"):
        raise ConfigError("[bridge] synchronous must be FULL, NORMAL or EXTRA")
    for k in ("outbox_max_rows", "batch_max", "input_queue", "drain_window", "max_message_bytes"):
        if getattr(cfg, k) < 1:
            raise ConfigError(f"[bridge] {k} must be >= 1")
    if cfg.drain_window > 65535:  # one MQTT packet identifier per message awaiting its PUBACK
        raise ConfigError("[bridge] drain_window must be <= 65535")
    for key in ("prefix", "home_assistant_prefix"):
        try:
            check_prefix(getattr(cfg, key), f"[bridge] {key}")
        except BridgeError as e:
            raise ConfigError(str(e)) from None
    if not isinstance(cfg.log_level, str) or cfg.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"[bridge] log_level {cfg.log_level!r} must be one of {', '.join(LOG_LEVELS)}")
    cfg.log_level = cfg.log_level.upper()
    if cfg.input_queue_bytes < cfg.max_message_bytes:
        raise ConfigError("[bridge] input_queue_bytes must be >= max_message_bytes (one message)")
    if cfg.max_packet_bytes < cfg.max_message_bytes + PACKET_OVERHEAD:
        raise ConfigError(f"[bridge] max_packet_bytes must be >= max_message_bytes + {PACKET_OVERHEAD} "
                          "(a message of the largest size on the longest topic)")
    if cfg.max_packet_bytes > 268_435_455:  # the largest Remaining Length (MQTT 5 §1.5.5)
        raise ConfigError("[bridge] max_packet_bytes must be <= 268435455")
    for s in sources:
        for t in s.topics:
            if len(t.encode(errors="replace")) > TOPIC_MAX_BYTES or "\x00" in t:
                raise ConfigError(f"[source {s.name}] topic {t[:80]!r} is longer than MQTT allows "
                                  "or holds NUL")
    return cfg


def _check_serial(src: Source, where: str) -> None:
    if not src.device:
        raise ConfigError(f"[{where}] device is missing: the receiver's serial port")
    if src.receiver not in RECEIVERS:
        raise ConfigError(f"[{where}] receiver must be one of {RECEIVERS}, got {src.receiver!r}")
    if src.baud <= 0 or src.reconnect_s <= 0:
        raise ConfigError(f"[{where}] baud and reconnect_s must be > 0")
    if not src.keys_file:
        raise ConfigError(f"[{where}] keys_file is missing: the devices' P2P keys")
    read_secret_file(src.keys_file, f"[{where}] keys_file")
    try:  # the EU868 rules the node's driver applies too
        p2p_radio.check(src.p2p_freq_hz, src.p2p_sf, src.p2p_bw_khz)
    except ValueError as e:
        raise ConfigError(f"[{where}] {e}") from None


def read_toml(p: Path) -> dict[str, Any]:
    """A TOML file's document; ConfigError names the file and what is wrong (the portal uses it too)."""
    try:
        return tomllib.loads(p.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read {p}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: {e}") from None


def load(path: str | Path) -> Config:
    p = Path(path)
    return parse(read_toml(p), p.parent.resolve())
