"""SenML mapping (RFC 8428/9100) and the time-on-air formula (docs/references.md §J)."""

import pytest

import payload_codec as pc
from payload_codec import airtime


def test_measurement_senml_uses_registered_units_and_declares_secondary_units():
    frame = pc.encode({"temperature": 21.37, "humidity": 48.5, "pressure": 1013.2, "pm2_5": 12.3,
                       "pm10": 20.1, "battery_voltage": 3.71})
    pack = pc.to_senml(pc.decode_uplink(1, frame), "urn:dev:mac:70b3d57ed0001234:", 1735689600)
    assert pack[0] == {"bn": "urn:dev:mac:70b3d57ed0001234:", "bt": 1735689600, "bver": 26,
                       "n": "temperature", "u": "Cel", "v": 21.4}
    assert {"n": "pressure", "u": "hPa", "v": 1013.2} in pack
    assert all("t" not in r for r in pack)


def test_primary_units_only_need_no_bver():
    pack = pc.to_senml(pc.decode_uplink(1, pc.encode({"temperature": 20, "humidity": 40})))
    assert "bver" not in pack[0]


def test_batch_records_carry_relative_times_and_invalid_markers():
    frame = pc.encode_batch([(-600, {"occupancy": True, "battery_voltage": None}),
                             (0, {"occupancy": False, "battery_voltage": 3.3})])
    pack = pc.to_senml(pc.decode_uplink(1, frame))
    assert pack == [
        {"n": "occupancy", "vb": True, "t": -600},
        {"n": "battery_voltage", "vs": "invalid", "t": -600},
        {"n": "occupancy", "vb": False},
        {"n": "battery_voltage", "u": "V", "v": 3.3},
    ]


def test_status_senml_names_failed_sensors():
    pack = pc.to_senml(pc.decode_uplink(2, pc.encode_status(
        {"firmware": "1.0.0", "failed_sensors": ["bme280"], "sensor_errors": {"bme280": 2}})))
    assert {"n": "sensor_failed", "vs": "bme280"} in pack
    assert {"n": "sensor_errors/bme280", "u": "count", "v": 2} in pack


def test_unknown_port_is_a_decode_error():
    with pytest.raises(pc.DecodeError, match="fPort 77"):
        pc.decode_uplink(77, b"\x21")


# lorawan-stack pkg/toa/toa_test.go reference values (docs/references.md §J): (PL, SF, BW kHz, CR) -> ms
TOA = [(10, 7, 125, 1, 41.216), (10, 8, 125, 1, 72.192), (10, 9, 125, 1, 144.384), (10, 10, 125, 1, 288.768),
       (10, 11, 125, 1, 577.536), (10, 12, 125, 1, 991.232), (10, 7, 250, 1, 20.608), (10, 7, 500, 1, 10.304),
       (10, 7, 125, 2, 45.312), (10, 7, 125, 3, 49.408), (10, 7, 125, 4, 53.504), (13, 7, 125, 1, 46.336),
       (15, 7, 125, 1, 46.336), (16, 7, 125, 1, 51.456), (19, 7, 125, 1, 51.456)]


@pytest.mark.parametrize(("pl", "sf", "bw", "cr", "ms"), TOA)
def test_time_on_air_matches_the_reference_values(pl, sf, bw, cr, ms):
    assert airtime.time_on_air_us(pl, sf, bw, cr) == round(ms * 1000)


@pytest.mark.parametrize(("app", "sf", "ms"), [(10, 12, 1482.752), (23, 12, 1974.272), (10, 7, 61.696),
                                               (51, 12, 2793.472)])
def test_lorawan_uplink_time_on_air(app, sf, ms):
    assert airtime.uplink_time_on_air_us(app, sf) == round(ms * 1000)


def test_payload_limits():
    assert [airtime.max_payload(dr) for dr in range(6)] == [51, 51, 51, 115, 242, 242]
    assert airtime.max_payload(0, airtime.US915) == 11
