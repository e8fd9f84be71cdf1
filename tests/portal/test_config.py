"""portal.toml validation (errors name the key) and the node registry's privacy rules."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal import config
from portal.errors import ConfigError
from portal.registry import coarsen, parse_node, public_view

from .helpers import CITY, doc


@pytest.mark.parametrize(("change", "message"), [
    ({"portal": {"colour": "red"}}, "unknown key 'colour'"),
    ({"portal": {"port": "80"}}, "port must be an integer"),
    ({"portal": {"tile_url": "javascript:alert(1)"}}, "tile_url"),
    ({"mqtt": {"password": "x"}}, "password must not be inline"),
    ({"storage": {"backend": "postgresql"}}, "needs dsn_env or dsn_file"),
    ({"storage": {"backend": "mysql"}}, "backend must be"),
    ({"storage": {"raw_retention_days": -1}}, "raw_retention_days"),
    ({"node": [{"dev_eui": "xyz"}]}, "dev_eui must be 16 hex digits"),
    ({"node": [{"dev_eui": CITY, "lat": 50.0}]}, "lat and lon go together"),
    ({"node": [{"dev_eui": CITY, "owner": "me"}]}, "owner must be one of"),
    ({"node": [{"dev_eui": CITY}, {"dev_eui": CITY.upper()}]}, "listed twice"),
    ({"extra": {}}, "unknown table [extra]"),
])
def test_bad_configuration_names_the_key(change: dict[str, Any], message: str) -> None:
    d = doc()
    for k, v in change.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.parse(d)


def test_dsn_comes_from_a_0600_file(tmp_path: Path) -> None:
    f = tmp_path / "dsn"
    f.write_text("host=/tmp dbname=portal password=secret\n")
    f.chmod(0o644)
    d = doc()
    d["storage"] = {"backend": "postgresql", "dsn_file": str(f)}
    with pytest.raises(ConfigError, match="0600"):
        config.parse(d)
    f.chmod(0o600)
    cfg = config.parse(d)
    assert cfg.dsn.endswith("password=secret") and "secret" not in repr(cfg)


def test_defaults_bind_loopback_with_dl_de_by() -> None:
    cfg = config.parse({})
    assert cfg.host == "127.0.0.1" and cfg.backend == "sqlite" and cfg.licence.id == "dl-de/by-2-0"


M_PER_DEG = 111_320.0


def _dist_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[0] - b[0]) * M_PER_DEG
    dx = (a[1] - b[1]) * M_PER_DEG * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


@given(lat=st.floats(-80, 80), lon=st.floats(-179.9, 179.9))
def test_coarsened_position_is_a_cell_centre_near_the_node(lat: float, lon: float) -> None:
    c = coarsen(lat, lon)
    assert _dist_m((lat, lon), c) <= 75  # half the diagonal of a 100 m cell, plus rounding
    assert coarsen(*c) == c  # a centre is its own cell's centre: every node in a cell shows the same point


def test_private_node_hides_owner_and_device_name() -> None:
    entry = parse_node({"dev_eui": CITY, "public": True, "lat": 50.81234, "lon": 7.14567,
                        "owner_name": "Erika Mustermann"}, "node 0")
    v = public_view(CITY, entry, {"name": "Erikas Garten"})
    assert v is not None and v.owner == "private" and v.owner_name == "" and "Erika" not in v.name
    assert (v.lat, v.lon) != (50.81234, 7.14567) and not v.position_exact


def test_tags_and_location_from_meta_when_the_config_is_silent() -> None:
    meta = {"tags": {"portal_public": "true", "portal_name": "Schule"}, "location": {"latitude": 50.8,
                                                                                   "longitude": 7.1}}
    v = public_view(CITY, None, meta)
    assert v is not None and v.name == "Schule" and v.lat is not None and not v.position_exact
    assert public_view(CITY, None, {}) is None  # unlisted: hidden
    assert public_view(CITY, parse_node({"dev_eui": CITY, "public": False}, "n"), meta) is None  # config wins
