"""Quantity registry and predefined profiles: the vocabulary both ends share.

A row is (id, name, unit, lo, hi, mul, div, kind):
  value = raw * mul / div, with raw in lo..hi (integers), so a field carries
  code = raw - lo in bits(hi - lo + 1) bits; the all-ones code means
  "sensor failed / value invalid" (docs/codec.md §3).
  unit is the SenML unit (RFC 8428 / RFC 8798 secondary units) or None;
  kind 0 is a number (SenML "v"), kind 1 a boolean (SenML "vb").
Ids and names never change meaning; new quantities are appended (architecture.md).
Resolutions follow the sensors that measure them (notes in docs/quantities.md).
"""

NUMBER = 0
BOOL = 1

# fmt: off
QUANTITIES = (
    # id  name                 unit     lo       hi         mul div kind
    (1,  "temperature",       "Cel",   -500,    1000,      1, 10,   0),  # BME280/SHT3x: 0.1 Cel (LPP 0x67)
    (2,  "humidity",          "%RH",   0,       200,       1, 2,    0),  # 0.5 %RH as LPP 0x68
    (3,  "pressure",          "hPa",   3000,    11000,     1, 10,   0),  # BME280 300..1100 hPa, 0.1 hPa (LPP 0x73)
    (4,  "pm1",               "ug/m3", 0,       10000,     1, 10,   0),  # SPS30/SDS011 0.1 ug/m3, 0..1000
    (5,  "pm2_5",             "ug/m3", 0,       10000,     1, 10,   0),
    (6,  "pm4",               "ug/m3", 0,       10000,     1, 10,   0),
    (7,  "pm10",              "ug/m3", 0,       10000,     1, 10,   0),
    (8,  "co2",               "ppm",   0,       40000,     1, 1,    0),  # SCD30 0..40000 ppm, 1 ppm
    (9,  "voc_index",         None,    0,       500,       1, 1,    0),  # Sensirion SGP40/SEN5x index 1..500
    (10, "nox_index",         None,    0,       500,       1, 1,    0),  # Sensirion SGP41/SEN5x index 1..500
    (11, "no2",               "ug/m3", 0,       2000,      1, 1,    0),  # electrochemical, 1 ug/m3
    (12, "o3",                "ug/m3", 0,       2000,      1, 1,    0),
    (13, "noise_laeq",        "dB",    300,     1300,      1, 10,   0),  # class-2 meter 30..130 dB(A), 0.1 dB
    (14, "illuminance",       "lx",    0,       120000,    1, 1,    0),  # BH1750/TSL2591, 1 lx
    (15, "uv_index",          None,    0,       200,       1, 10,   0),  # VEML6075, 0.1
    (16, "battery_voltage",   "V",     0,       510,       1, 100,  0),  # ESP32 ADC via divider, 0.01 V
    (17, "battery_level",     "%EL",   0,       100,       1, 1,    0),
    (18, "water_level",       "m",     0,       16000,     1, 1000, 0),  # radar/ultrasonic gauge, 1 mm
    (19, "water_temperature", "Cel",   -500,    4000,      1, 100,  0),  # DS18B20 class, 0.01 Cel
    (20, "soil_moisture",     "/100",  0,       1000,      1, 10,   0),  # volumetric water content, 0.1 %
    (21, "soil_temperature",  "Cel",   -300,    600,       1, 10,   0),
    (22, "distance",          "m",     0,       20000,     1, 1000, 0),  # ToF/ultrasonic, 1 mm
    (23, "wind_speed",        "m/s",   0,       750,       1, 10,   0),  # cup anemometer, 0.1 m/s
    (24, "wind_direction",    "deg",   0,       359,       1, 1,    0),  # vane, 1 deg
    (25, "precipitation",     "mm",    0,       5000,      1, 10,   0),  # tipping bucket 0.2 mm, per interval
    (26, "counter",           "count", 0,       32766,     1, 1,    0),  # events since the previous sample
    (27, "occupancy",         None,    0,       1,         1, 1,    1),  # parking bay taken
    (28, "door_open",         None,    0,       1,         1, 1,    1),
    (29, "energy",            "kWh",   0,       999999999, 1, 1000, 0),  # meter register, 1 Wh
    (30, "power",             "W",     -32767,  32767,     1, 1,    0),  # signed: PV feed-in is negative
    (31, "latitude",          "lat",   -9000000, 9000000,  1, 100000, 0),  # GNSS, 1e-5 deg (1.1 m)
    (32, "longitude",         "lon",   -18000000, 18000000, 1, 100000, 0),
    (33, "altitude",          "m",     -5000,   90000,     1, 10,   0),
    (34, "noise_lamax",       "dB",    300,     1400,      1, 10,   0),
    (35, "solar_radiation",   "W/m2",  0,       2000,      1, 1,    0),  # pyranometer
    (36, "wind_gust",         "m/s",   0,       750,       1, 10,   0),
    # utility meters (docs/quantities.md "Meters"): the meter's own cumulative reading, as
    # EN 13757-3 VIF 0x13 carries it (0.001 m3), up to 1e8 m3; an exact decimal string
    # (measurement._code) keeps every litre on a float32 node
    (37, "volume_index",      "m3",    0,       100000000000, 1, 1000, 0),  # water meter, 1 L
    (38, "pulse_count",       "count", 0,       4294967294, 1, 1,  0),  # cumulative, 32 bits
    (39, "gas_index",         "m3",    0,       100000000000, 1, 1000, 0),  # gas meter, 1 L
)

# Profiles: id -> (name, quantity ids in field order). Ids 1..14 fit the header
# nibble; 15..255 take one extension byte (docs/codec.md §2).
PROFILES = (
    (1,  "air_quality",      (1, 2, 3, 5, 7, 16)),
    (2,  "water_level",      (18, 19, 16)),
    (3,  "parking",          (27, 16)),
    (4,  "climate",          (1, 2, 8, 17)),
    (5,  "noise",            (13, 16)),
    (6,  "counter",          (26, 16)),
    (7,  "weather",          (1, 2, 3, 23, 24, 25, 16)),
    (8,  "soil",             (20, 21, 16)),
    (9,  "door",             (28, 16)),
    (10, "air_quality_full", (1, 2, 3, 4, 5, 6, 7, 9, 10, 16)),
    (11, "tracker",          (31, 32, 33, 16)),
    (12, "energy",           (29, 30)),
    (13, "environment",      (1, 2, 3, 16)),
    (14, "noise_full",       (13, 34, 16)),
    (15, "water_meter",      (37, 16)),
    (16, "gas_meter",        (39, 16)),
    (17, "electricity_meter", (29, 16)),
)
# fmt: on

_by_name: dict = None  # type: ignore[assignment]


def _index():
    global _by_name
    if _by_name is None:
        _by_name = {}
        for row in QUANTITIES:
            _by_name[row[1]] = row
    return _by_name


def by_id(qid: int) -> tuple:
    """Registry row for a quantity id; UnknownQuantityError names the id."""
    if 1 <= qid <= len(QUANTITIES):
        row = QUANTITIES[qid - 1]
        if row[0] == qid:
            return row
    for row in QUANTITIES:
        if row[0] == qid:
            return row
    from .errors import UnknownQuantityError

    raise UnknownQuantityError("unknown quantity id %d" % qid)


def by_name(name: str) -> tuple:
    """Registry row for a quantity name; UnknownQuantityError names it."""
    row = _index().get(name)
    if row is None:
        from .errors import UnknownQuantityError

        raise UnknownQuantityError("unknown quantity %r" % (name,))
    return row


def field_bits(row: tuple) -> int:
    """Bits of a field: enough for every code plus the all-ones invalid code."""
    n = row[4] - row[3] + 1
    bits = 0
    while n:
        bits += 1
        n >>= 1
    return bits


def profile(pid: int) -> tuple:
    """Profile row (id, name, quantity ids) for an id, or None."""
    for row in PROFILES:
        if row[0] == pid:
            return row
    return None  # type: ignore[return-value]


def profile_for(names):
    """The profile whose quantities are exactly ``names`` (any container of names), or None.

    Allocation-free: it runs on every encode on the node.
    """
    n = len(names)
    for row in PROFILES:
        qids = row[2]
        if len(qids) != n:
            continue
        for q in qids:
            if QUANTITIES[q - 1][1] not in names:
                break
        else:
            return row
    return None
