# The one sensor table (docs/firmware.md "Adding a sensor"): a sensor is one row here plus
# its driver module. A row is a tuple (MicroPython dicts keep no order; the order matters):
#   name     the sensor's name in the config, the status frame and the logs
#   slot     bit of the failed-sensor mask and index of its error counter (node_state.py,
#            at most node_state.SLOTS); never reuse a slot for another sensor
#   module   the driver module, imported only when the sensor is fitted
#   cls      the driver class; it builds itself with from_config(bus, cfg) and names its
#            quantities with quantities(cfg) (sensor.py)
#   bus      "i2c" (the node's I2C bus, each sensor at its address), "onewire" (one 1-Wire
#            pin, several parts on it), "uart" (the node's one sensor UART: the other UART
#            is the modem, docs/references.md §S.10), "adc", "pin" (a digital input); a
#            tuple for a part with two interfaces, e.g. ("i2c", "uart") for the SPS30: it
#            is on the UART when the config's uart_sensor names it, else on the first bus
#   options  the sensor's configuration keys, as node_config.SCHEMA rows
#            (key, default, kind, lo, hi); kind "c" is a choice among the tuple in lo
# The config key "sensors" lists the fitted sensors (read in this table's order, so the
# BME280's pressure is known when the SCD4x asks for it); "uart_sensor" names the UART one.

# fmt: off
TABLE = (
    ("bme280", 0, "bme280", "BME280", "i2c", (
        ("bme280_address", 0x76, "i", 0x76, 0x77),)),  # BME280 or BMP280 (chip id, §S.7)
    ("battery", 1, "battery", "Battery", "adc", (
        ("battery_divider", 2.0, "f", 1, 20),)),  # Vbat = Vadc * (Rtop + Rbot) / Rbot (§S.9)
    ("sds011", 2, "sds011", "SDS011", "uart", (
        ("sds011_sleep", True, "b", 0, 1),  # fan and laser off between reads (protocol §4)
        ("sds011_warmup_s", 30, "i", 0, 120))),  # §S.5: stable after 30 s
    ("a02yyuw", 3, "a02yyuw", "A02YYUW", "uart", (
        ("a02yyuw_as", "distance", "c", ("distance", "water_level", "occupancy"), None),
        ("a02yyuw_mount_mm", 2000, "i", 30, 16000),  # sensor height above the gauge's zero
        ("a02yyuw_threshold_mm", 1000, "i", 30, 4500))),  # occupied when the echo is nearer
    ("sht4x", 4, "sht4x", "SHT4x", "i2c", (
        ("sht4x_address", 0x44, "i", 0x44, 0x46),)),  # §S.1: 0x44, 0x45 on -B parts
    ("scd4x", 5, "scd4x", "SCD4x", "i2c", (
        ("scd4x_mode", "periodic", "c", ("periodic", "single_shot"), None),  # single shot: SCD41
        ("scd4x_asc", True, "b", 0, 1),  # automatic self-calibration (§S.2)
        ("scd4x_timeout_s", 6, "i", 1, 30))),  # the first periodic reading comes after ~5 s
    ("sps30", 6, "sps30", "SPS30", ("i2c", "uart"), (  # I2C or UART (SHDLC), §S.3
        ("sps30_warmup_s", 30, "i", 1, 120),)),  # §S.3: 8..30 s depending on concentration
    ("pms5003", 7, "pms5003", "PMS5003", "uart", (
        ("pms5003_warmup_s", 30, "i", 0, 120),)),  # §S.4: "at least 30 seconds after wakeup"
    ("ds18b20", 8, "ds18b20", "DS18B20", "onewire", (
        # one quantity per probe, in ROM order (docs/firmware.md "1-Wire")
        ("ds18b20_as", ("water_temperature",), "q", 1, 8),)),
    ("meter", 9, "pulse_meter", "PulseMeter", "pin", (
        ("meter_as", "volume_index", "c", ("volume_index", "gas_index", "energy"), None),
        ("meter_pulses_per_unit", 100, "i", 1, 100000),  # 10 L/pulse water meter: 100 per m3
        ("meter_start_index", 0, "i", 0, 99999999),  # the meter's reading when fitted, in units
        ("meter_start_milli", 0, "i", 0, 999),  # ... and its thousandths (m3 -> litres)
        ("meter_debounce_ms", 50, "i", 0, 1000),  # reed bounce < 1 ms, S0 pulse >= 30 ms (§S.8)
        ("meter_flush_pulses", 100, "i", 1, 10000))),  # flash write at least every N pulses
)
# fmt: on

BUSES = ("i2c", "onewire", "uart", "adc", "pin")
NAMES = tuple(r[0] for r in TABLE)


def row(name):
    """(name, slot, module, cls, bus, options) of a sensor; KeyError for an unknown name."""
    for r in TABLE:
        if r[0] == name:
            return r
    raise KeyError(name)


def slot(name):
    return row(name)[1]


def fitted(cfg):
    """The fitted sensors' names, in table order (the UART one included)."""
    want = cfg["sensors"]
    uart = cfg["uart_sensor"]
    out = []
    for r in TABLE:
        if r[0] in want or r[0] == uart:
            out.append(r[0])
    return out


def driver(name):
    """The driver class of a table row (imports its module)."""
    r = row(name)
    return getattr(__import__(r[2]), r[3])


def uart_capable(name):
    """The sensor can sit on the sensor UART (uart_sensor may name it)."""
    b = row(name)[4]
    return b == "uart" or (isinstance(b, tuple) and "uart" in b)


def uart_only(name):
    """The sensor has no other interface than a UART (it takes the one sensor UART)."""
    return row(name)[4] == "uart"


def bus_of(name, cfg):
    """The bus the sensor is on with this config."""
    b = row(name)[4]
    if isinstance(b, tuple):
        return "uart" if cfg["uart_sensor"] == name else b[0]
    return b


def build(name, board, cfg):
    """A ready driver for ``name`` on the board's bus; SensorError when it is absent."""
    return driver(name).from_config(board.bus(bus_of(name, cfg), cfg), cfg)


def quantities(name, cfg):
    return driver(name).quantities(cfg)


def sensor_of(q, cfg):
    """The fitted sensor that measures quantity ``q``, or None."""
    for name in fitted(cfg):
        if q in quantities(name, cfg):
            return name
    return None
