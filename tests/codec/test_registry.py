"""The quantity registry is a contract: names, ids, units and ranges."""

import pytest

from payload_codec import UnknownQuantityError
from payload_codec import registry as reg

CONTRACT_NAMES = [
    "temperature",
    "humidity",
    "pressure",
    "pm1",
    "pm2_5",
    "pm4",
    "pm10",
    "co2",
    "voc_index",
    "nox_index",
    "no2",
    "o3",
    "noise_laeq",
    "illuminance",
    "uv_index",
    "battery_voltage",
    "battery_level",
    "water_level",
    "water_temperature",
    "soil_moisture",
    "soil_temperature",
    "distance",
    "wind_speed",
    "wind_direction",
    "precipitation",
    "counter",
    "occupancy",
    "door_open",
    "energy",
    "power",
    "latitude",
    "longitude",
    "altitude",
]

# RFC 8428 primary units and the RFC 8798 secondary units we use (docs/references.md §K)
PRIMARY = {
    "Cel",
    "%RH",
    "Pa",
    "lx",
    "V",
    "A",
    "W",
    "J",
    "Hz",
    "m",
    "m/s",
    "deg",
    "W/m2",
    "dB",
    "count",
    "/",
    "%EL",
    "lat",
    "lon",
    "kg/m3",
    "s",
    "m3",  # RFC 8428 §12.1 Table 6 "cubic meter" (docs/quantities.md "Meters")
}
SECONDARY = {"hPa", "ug/m3", "ppm", "ppb", "mm", "kWh", "/100"}


def test_contract_names_are_all_registered():
    names = {row[1] for row in reg.QUANTITIES}
    assert set(CONTRACT_NAMES) <= names
    assert len(reg.QUANTITIES) >= 30


def test_ids_are_unique_consecutive_and_fit_a_byte():
    ids = [row[0] for row in reg.QUANTITIES]
    assert ids == list(range(1, len(ids) + 1))
    assert max(ids) <= 255
    assert len({row[1] for row in reg.QUANTITIES}) == len(ids)


@pytest.mark.parametrize("row", reg.QUANTITIES, ids=lambda r: r[1])
def test_each_quantity_is_well_formed(row):
    qid, name, unit, lo, hi, mul, div, kind = row
    assert lo < hi
    assert mul >= 1 and div >= 1
    assert unit is None or unit in PRIMARY | SECONDARY, unit
    assert kind in (reg.NUMBER, reg.BOOL)
    bits = reg.field_bits(row)
    assert (1 << bits) - 1 > hi - lo, "the all-ones code must stay free for 'invalid'"
    # the JS codec reads fields with float arithmetic (exact below 2**53); a meter index at
    # 0.001 m3 up to 1e8 m3 needs 37 bits
    assert bits <= 48
    assert reg.by_id(qid) is row and reg.by_name(name) is row


def test_profiles_reference_known_quantities_and_are_distinct():
    sets = set()
    for pid, name, qids in reg.PROFILES:
        assert 1 <= pid <= 255
        assert all(reg.by_id(q) for q in qids)
        assert len(set(qids)) == len(qids), name
        sets.add(tuple(sorted(qids)))
    assert len(sets) == len(reg.PROFILES), "two profiles with the same quantity set are ambiguous"


def test_unknown_names_and_ids_raise_typed_errors():
    with pytest.raises(UnknownQuantityError, match="'pm3'"):
        reg.by_name("pm3")
    with pytest.raises(UnknownQuantityError, match="id 200"):
        reg.by_id(200)


def test_docs_table_is_generated_from_the_registry():
    from pathlib import Path

    from trosmart_tools.registry_doc import render_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "quantities.md").read_text()
    assert render_table() in doc, "docs/quantities.md is stale: run 'trosmart codec registry-doc --write'"
