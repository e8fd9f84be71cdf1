"""The network server's tags/attributes and device location in ``meta`` (bridge/lns_meta.py,
docs/bridge.md §3): parsed from ChirpStack ``deviceInfo.tags`` and ``location`` events and from
TTS ``uplink_message.attributes`` and ``locations`` (events shaped as the format docs show,
docs/references.md §L, §M), and attacks on them: huge, non-string, badly named, control
characters, impossible positions. None of it ever stops an uplink."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import payload_codec
from bridge import chirpstack, config, lns_meta, tts
from bridge.metrics import PipelineMetrics
from bridge.model import DeviceEvent, InMessage, Uplink
from bridge.pipeline import Batch, Processor

from . import lns

EUI = "70b3d57ed0005678"
FRAME = payload_codec.encode({"temperature": 20.5})
_mids = iter(range(1, 1 << 30))


class Bridge:
    """One processor and one batch (its state is the batch's until a commit)."""

    def __init__(self) -> None:
        self.p, self.b = processor(), Batch()


def processor() -> Processor:
    cfg = config.parse({"bridge": {"state_dir": "/nonexistent", "prefix": "city/v1"}, "city": {"port": 1883},
                        "source": [{"name": "cs", "lns": "chirpstack", "port": 1883, "topics": ["#"]},
                                   {"name": "tts", "lns": "tts", "port": 1883, "topics": ["#"]}]})
    return Processor(cfg, PipelineMetrics(), {}, lambda keys: set(), lambda cid: None,
                     {"cs": "chirpstack", "tts": "tts"})


def run(br: Bridge, *msgs: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    """Handle the messages; the device's published meta (the last), and no dead letter."""
    p, b = br.p, br.b
    p.handle_batch([InMessage(conn, topic, json.dumps(doc).encode(), 1, next(_mids), 1)
                    for conn, topic, doc in msgs], b)
    p.emit_retained(b, float("inf"))
    rows = [(r.topic, json.loads(r.payload)) for r in b.all_rows()]
    assert not [t for t, _ in rows if t.endswith("_deadletter")], rows
    metas = [d for t, d in rows if t == f"city/v1/{EUI}/meta"]
    return metas[-1] if metas else {}


def cs_up(f_cnt: int, tags: Any = None) -> dict[str, Any]:
    doc = lns.cs_up(EUI, f_cnt, FRAME, t=1767225600.5 + f_cnt)
    if tags is not None:
        doc["deviceInfo"]["tags"] = tags
    return doc


def cs_location(**loc: Any) -> dict[str, Any]:
    info = cs_up(0)["deviceInfo"]
    return chirpstack.location_event(deduplication_id="5c4b0b2e-8f00-4d5e-9d35-1c9a0b1f7a10",
                                     time=lns.rfc3339(1767225700.0), device_info=info, **loc)


def tts_up(f_cnt: int, *, locations: Any = None, attributes: Any = None) -> dict[str, Any]:
    doc = lns.tts_up(EUI, f_cnt, FRAME, t=1767225600.5 + f_cnt)
    if locations is not None:
        doc["uplink_message"]["locations"] = locations
    if attributes is not None:
        doc["uplink_message"]["attributes"] = attributes
    return doc


# --- ChirpStack ---------------------------------------------------------------------------------
def test_chirpstack_tags_reach_meta_and_follow_changes() -> None:
    p = Bridge()
    meta = run(p, ("cs", lns.cs_topic(EUI), cs_up(1, {"portal_public": "true", "portal_name": "Schulhof"})))
    assert meta["tags"] == {"portal_name": "Schulhof", "portal_public": "true"}
    meta = run(p, ("cs", lns.cs_topic(EUI), cs_up(2, {"portal_public": "false"})))
    assert meta["tags"] == {"portal_public": "false"}
    meta = run(p, ("cs", lns.cs_topic(EUI), cs_up(3, {})))  # the operator removed every tag
    assert "tags" not in meta


def test_chirpstack_location_event_sets_the_position() -> None:
    p = Bridge()
    run(p, ("cs", lns.cs_topic(EUI), cs_up(1)))
    meta = run(p, ("cs", lns.cs_topic(EUI, "location"),
                   cs_location(latitude=50.8157123456, longitude=7.1558, altitude=61.25, accuracy=20.0)))
    assert meta["location"] == {"latitude": 50.815712, "longitude": 7.1558, "altitude": 61.2,
                                "source": "chirpstack:GEO_RESOLVER_TDOA"}
    # a later uplink (ChirpStack's carry no device location) keeps it
    assert run(p, ("cs", lns.cs_topic(EUI), cs_up(2)))["location"]["latitude"] == 50.815712


def test_chirpstack_parse_location_event() -> None:
    ev = chirpstack.parse(lns.cs_topic(EUI, "location"),
                          json.dumps(cs_location(latitude=50.8, longitude=7.1, source="GPS")).encode())
    assert isinstance(ev, DeviceEvent) and ev.kind == "location"
    assert ev.extra["location"] == {"latitude": 50.8, "longitude": 7.1, "source": "chirpstack:GPS"}
    bad = cs_location(latitude=0.0, longitude=0.0)  # proto3 zero: no position
    ev = chirpstack.parse(lns.cs_topic(EUI, "location"), json.dumps(bad).encode())
    assert isinstance(ev, DeviceEvent) and ev.extra == {}


def test_rx_info_location_is_the_gateways_not_the_devices() -> None:
    doc = cs_up(1)
    doc["rxInfo"][0]["location"] = {"latitude": 50.9, "longitude": 7.2}
    up = chirpstack.parse(lns.cs_topic(EUI), json.dumps(doc).encode())
    assert isinstance(up, Uplink) and up.location is None


# --- TTS ----------------------------------------------------------------------------------------
def test_tts_attributes_and_registry_location_reach_meta() -> None:
    """The data-formats example: ``locations.user`` from the registry, ``attributes`` (3.34+),
    keys with ``-`` (TTS allows no ``_``) written with ``_``."""
    p = Bridge()
    locs = {"frm-payload": {"latitude": 50.1, "longitude": 7.0, "source": "SOURCE_GPS"},
            "user": {"latitude": 50.8157, "longitude": 7.1558, "altitude": 60, "source": "SOURCE_REGISTRY"}}
    meta = run(p, ("tts", lns.tts_topic("tro-5678"),
                   tts_up(1, locations=locs, attributes={"portal-public": "true", "portal-owner": "city"})))
    assert meta["tags"] == {"portal_owner": "city", "portal_public": "true"}
    assert meta["location"] == {"latitude": 50.8157, "longitude": 7.1558, "altitude": 60.0, "source": "tts:user"}
    # the location removed in the registry: the next uplink has none, and meta drops it
    meta = run(p, ("tts", lns.tts_topic("tro-5678"), tts_up(2)))
    assert "location" not in meta and meta["tags"] == {"portal_owner": "city", "portal_public": "true"}


def test_tts_builder_carries_locations_and_attributes() -> None:
    up = tts.uplink_message(session_key_id="k", f_port=1, f_cnt=1, frm_payload=b"\x01", rx_metadata=[],
                            settings={}, received_at=None, confirmed=False, consumed_airtime="0.1s",
                            network_ids={}, locations={"user": {"latitude": 1.5, "longitude": 2.5}},
                            attributes={"a": "b"})
    ev = tts.parse(lns.tts_topic("tro-5678"), json.dumps(tts.up_message(
        device_id="tro-5678", application_id="a", dev_eui=EUI, join_eui="00" * 8, dev_addr="01020304",
        correlation_ids=[], received_at=lns.rfc3339(1767225600.0), uplink_message=up)).encode())
    assert isinstance(ev, Uplink) and ev.tags == {"a": "b"}
    assert ev.location == {"latitude": 1.5, "longitude": 2.5, "source": "tts:user"}


def test_tts_frm_payload_location_when_the_registry_has_none() -> None:
    ev = tts.parse(lns.tts_topic("tro-5678"), json.dumps(tts_up(1, locations={
        "frm-payload": {"latitude": 50.1, "longitude": 7.0}, "user": {"latitude": "x"}})).encode())
    assert isinstance(ev, Uplink) and ev.location == {"latitude": 50.1, "longitude": 7.0, "source": "tts:frm-payload"}


# --- attacks ------------------------------------------------------------------------------------
def test_huge_and_non_string_tags_are_bounded_and_dropped() -> None:
    tags: dict[str, Any] = {f"k{i:04d}": "v" * 10 for i in range(1500)}
    tags.update({"a_num": 5, "a_null": None, "a_obj": {"x": "y"}, "a_list": ["z"], "a_bool": True,
                 "big": "x" * 10_000, "bad key": "v", "ключ": "v", "": "v", "k" * 65: "v",
                 "dash-key": "d", "dash_key": "u"})
    p = Bridge()
    meta = run(p, ("cs", lns.cs_topic(EUI), cs_up(1, tags)))
    got = meta["tags"]
    assert len(got) == lns_meta.MAX_TAGS
    assert not {"a_num", "a_null", "a_obj", "a_list", "a_bool", "bad key", "ключ", ""} & set(got)
    assert got["big"] == "x" * lns_meta.MAX_VALUE
    assert got["dash_key"] == "d"  # "dash-key" sorts first; the later "dash_key" does not overwrite it
    assert all(len(k) <= lns_meta.MAX_KEY for k in got)


def test_tags_that_are_not_an_object_leave_meta_alone_and_deliver_the_uplink() -> None:
    p = Bridge()
    run(p, ("cs", lns.cs_topic(EUI), cs_up(1, {"portal_public": "true"})))
    for i, bad in enumerate(([1, 2], "portal_public=true", 7), start=2):
        assert run(p, ("cs", lns.cs_topic(EUI), cs_up(i, bad)))["tags"] == {"portal_public": "true"}


@pytest.mark.parametrize(("raw", "clean"), [
    ("Schul\u202ehof", "Schulhof"),  # a right-to-left override
    ("Zeile 1\nZeile 2\r\n", "Zeile 1 Zeile 2"),
    ("\x00\x1b[31mrot\x1b[0m", "[31mrot[0m"),
    ("a\u200bb\ufeff", "ab"),  # zero-width space, BOM
    ("  Parkplatz Süd  ", "Parkplatz Süd"),
    ("\ue000privat", "privat"),  # private use
])
def test_control_and_format_characters_are_removed(raw: str, clean: str) -> None:
    assert lns_meta.tags({"portal_name": raw}) == {"portal_name": clean}


@pytest.mark.parametrize("loc", [
    {"latitude": "50.8", "longitude": "7.1"}, {"latitude": True, "longitude": 7.1}, {"latitude": 91, "longitude": 7},
    {"latitude": 50, "longitude": -180.5}, {"latitude": 1e308, "longitude": 7}, {"latitude": 50.8},
    {"latitude": 0, "longitude": 0}, [50.8, 7.1], "50.8,7.1", None,
])
def test_impossible_locations_are_no_location(loc: Any) -> None:
    assert lns_meta.location(loc, "x") is None
    assert lns_meta.tts_location({"user": loc}) is None


def test_location_source_and_altitude_are_cleaned() -> None:
    loc = lns_meta.location({"latitude": 50.8, "longitude": 7.1, "altitude": 1e9, "source": "x"},
                            "chirpstack:<script>alert(1)</script>" + "A" * 100)
    assert loc == {"latitude": 50.8, "longitude": 7.1, "source": ("chirpstack:scriptalert1script" + "A" * 100)[:48]}


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                           max_leaves=8)


@given(st.dictionaries(st.text(max_size=70), json_values, max_size=60))
def test_tags_of_any_json_object_are_bounded_and_printable(raw: dict[str, Any]) -> None:
    got = lns_meta.tags(raw)
    assert got is not None and len(got) <= lns_meta.MAX_TAGS
    for k, v in got.items():
        assert lns_meta._KEY_RE.match(k) and "-" not in k
        assert isinstance(v, str) and len(v) <= lns_meta.MAX_VALUE and (v.isprintable() or v == "")


@given(json_values, json_values, json_values)
def test_location_of_any_json_is_a_position_or_none(lat: Any, lon: Any, alt: Any) -> None:
    loc = lns_meta.location({"latitude": lat, "longitude": lon, "altitude": alt}, "s")
    if loc is not None:
        assert -90 <= loc["latitude"] <= 90 and -180 <= loc["longitude"] <= 180
        assert all(math.isfinite(v) for k, v in loc.items() if k != "source")


def test_the_tags_cache_hands_out_copies_and_skips_big_objects() -> None:
    raw = {"portal_name": "Schulhof", "room": "12"}
    first = lns_meta.tags(raw)
    assert first is not None
    first["room"] = "changed by a consumer"
    assert lns_meta.tags(dict(raw)) == {"portal_name": "Schulhof", "room": "12"}
    big = {"k": "x" * 5000}
    assert lns_meta.tags(big) == {"k": "x" * lns_meta.MAX_VALUE}
    assert tuple(big.items()) not in lns_meta._TAGS and "x" * 5000 not in lns_meta._CLEAN
