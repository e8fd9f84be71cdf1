"""Fleet-view test data: accounts with real Argon2id hashes, status frames and ``meta`` as the
bridge publishes them (payload_codec's encoder and SenML, bridge.meta's keys), and a login
through the real form (its CSRF token read from the page)."""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson

import payload_codec
from portal import config
from portal.fleet.auth import hash_password
from portal.senml import parse_pack
from portal.storage import Pack

from .helpers import doc

TECH = "technik"
TECH_PASSWORD = "Kl4r-Wasser!Sieg"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


@functools.lru_cache(maxsize=1)
def tech_hash() -> str:
    return hash_password(TECH_PASSWORD)


def fleet_doc(**fleet: Any) -> dict[str, Any]:
    d = doc()
    d["account"] = [{"name": TECH, "password_hash": tech_hash()}]
    if fleet:
        d["fleet"] = fleet
    return d


def fleet_cfg(**fleet: Any) -> config.Config:
    return config.parse(fleet_doc(**fleet))


def status_senml(dev: str, t_ms: int, status: dict[str, Any]) -> bytes:
    """A status frame (fPort 2) through the codec, as the bridge turns it into SenML."""
    decoded = payload_codec.decode_uplink(2, payload_codec.encode_status(status))
    return orjson.dumps(payload_codec.to_senml(decoded, f"urn:dev:mac:{dev}:", t_ms / 1000))


def status_pack(dev: str, t_ms: int, status: dict[str, Any]) -> Pack:
    return Pack(dev, parse_pack(status_senml(dev, t_ms, status), dev))


def meta(dev: str, t_ms: int, f_cnt: int, *, frames: int, lost: int = 0, rssi: float = -97.0,
         snr: float = 7.5, **extra: Any) -> dict[str, Any]:
    """A ``meta`` document with bridge/meta.py's keys."""
    return {"dev_eui": dev, "lns": "chirpstack", "name": "node " + dev[-4:], "last_seen": t_ms / 1000,
            "gateway": "gw-rathaus", "rssi": rssi, "snr": snr, "gateways": 2, "f_cnt": f_cnt, "frames": frames,
            "lost": lost, "packet_loss": round(lost / (frames + lost), 4) if lost else 0.0, **extra}


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(client: Any, name: str = TECH, password: str = TECH_PASSWORD, lang: str = "en") -> Any:
    page = client.get(f"/{lang}/fleet/login")
    assert page.status_code == 200
    return client.post(f"/{lang}/fleet/login", data={"csrf": csrf_of(page.text), "name": name,
                                                     "password": password, "next": f"/{lang}/fleet/"},
                       follow_redirects=False)
