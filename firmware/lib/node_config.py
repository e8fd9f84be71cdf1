# Node configuration: one JSON file on flash, validated key by key at boot.
# A bad or missing key falls back to its default and is reported by name (console + status
# frame, docs/firmware.md "Configuration"), so a typo never boot-loops a node in the field.
# Secrets (LoRaWAN keys) live in a separate file (secrets.json, mode 0600 on the host).

import json

CONFIG_FILE = "config.json"
SECRETS_FILE = "secrets.json"

# Quantities a node with a BME280 and a battery divider measures, in priority order:
# when a frame does not fit, the last ones move to a second frame or are dropped
# (payload rule in node_frames.py).
_DEFAULT_QUANTITIES = ("temperature", "humidity", "pressure", "battery_voltage")

# name -> (default, kind, lo, hi); kind: i int, f float, b bool, s str (lo..hi chars),
# c choice (lo: the tuple), q quantity list, n sensor-table names, u the UART sensor
SCHEMA = {
    "board": ("auto", "s", 1, 32),  # boards.py profile name; "auto" picks by platform
    "interval_s": (600, "i", 10, 86400),  # the codec's set_interval_s range
    "quantities": (_DEFAULT_QUANTITIES, "q", 1, 16),
    "confirmed_every": (0, "i", 0, 255),  # every Nth uplink confirmed, 0 = never
    "data_rate": (5, "i", 0, 5),  # EU868 DR0..DR5 (SF12..SF7 at 125 kHz)
    "adr": (True, "b", 0, 1),
    "status_every": (144, "i", 0, 65535),  # status frame every N cycles, 0 = only on events
    "wdt_timeout_ms": (60000, "i", 5000, 120000),
    "join_timeout_ms": (20000, "i", 7000, 60000),
    "sleep_mode": ("deep", "s", 4, 5),  # "deep" (production) or "light" (keeps RAM)
    # store and forward (docs/firmware.md §12): a link-check proof every N uplinks (and after
    # any failure); at most this many flash blocks of 12 samples are kept (oldest dropped)
    "proof_every": (12, "i", 1, 32),  # <= 32: the bridge remembers 64 samples (bridge/samples.py)
    "store_blocks": (24, "i", 1, 720),
    # fitted sensors (sensor_table.py names) and the one UART sensor (boards.py
    # sensor_uart(): 9600 8N1; docs/firmware.md "Wiring")
    "sensors": (("bme280", "battery"), "n", 0, 12),
    "uart_sensor": ("none", "u", 4, 7),
    # pins of the sensor buses; -1 keeps the board profile's pin (boards.py)
    "i2c_sda": (-1, "i", -1, 48),
    "i2c_scl": (-1, "i", -1, 48),
    "onewire_pin": (-1, "i", -1, 48),
    "uart_sensor_tx": (-1, "i", -1, 48),
    "uart_sensor_rx": (-1, "i", -1, 48),
    "meter_pin": (-1, "i", -1, 48),
    # P2P workshop mode (docs/p2p.md §3): "lorawan", "p2p" or "p2p_receiver"; the radio settings must also
    # pass the EU868 rules (payload_codec.p2p_radio) when the link is opened
    "network": ("lorawan", "c", ("lorawan", "p2p", "p2p_receiver"), None),
    "p2p_freq_hz": (868100000, "i", 863000000, 870000000),
    "p2p_sf": (7, "i", 7, 12),
    "p2p_bw_khz": (125, "i", 125, 250),
}


def _add_sensor_options():
    # every sensor's own keys come from its row of the sensor table
    from sensor_table import TABLE

    for r in TABLE:
        for key, default, kind, lo, hi in r[5]:
            SCHEMA[key] = (default, kind, lo, hi)


_add_sensor_options()

_SLEEP_MODES = ("deep", "light")
_BOARDS = ("auto", "esp32_devkit_rak3172", "virtual", "heltec_v2", "heltec_v3", "ttgo_lora32",
           "rak11200_rak13300", "virtual_heltec_v3")  # boards.make() knows each


def defaults():
    cfg = {}
    for k in SCHEMA:
        d = SCHEMA[k][0]
        cfg[k] = list(d) if isinstance(d, tuple) else d
    return cfg


def _check(name, v):
    """The validated value, or None when it is unusable."""
    d, kind, lo, hi = SCHEMA[name]
    if kind == "i":
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            return None
    elif kind == "f":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            return None
        v = float(v)
    elif kind == "b":
        if v is not True and v is not False:
            return None
    elif kind == "s":
        if not isinstance(v, str) or not lo <= len(v) <= hi:
            return None
        if name == "sleep_mode" and v not in _SLEEP_MODES:
            return None
        if name == "board" and v not in _BOARDS:
            return None
    elif kind == "c":
        if v not in lo:
            return None
    elif kind == "n" or kind == "u":
        from sensor_table import NAMES, uart_capable, uart_only

        if kind == "u":  # "none" or a UART sensor of the table
            return v if v == "none" or (isinstance(v, str) and v in NAMES and uart_capable(v)) else None
        if not isinstance(v, list) or not lo <= len(v) <= hi:
            return None
        uarts = 0
        for n in v:
            if not isinstance(n, str) or n not in NAMES:
                return None
            if uart_only(n):
                uarts += 1
        if uarts > 1:  # one sensor UART (docs/references.md §S.10)
            return None
        v = list(v)
    elif kind == "q":
        if not isinstance(v, list) or not lo <= len(v) <= hi:
            return None
        from payload_codec import registry

        for q in v:
            if not isinstance(q, str):
                return None
            try:
                registry.by_name(q)
            except ValueError:  # UnknownQuantityError is a ValueError
                return None
        v = list(v)
    return v


def validate(raw):
    """(config, errors): every key of SCHEMA set; errors name each rejected key."""
    cfg = defaults()
    errors = []
    if not isinstance(raw, dict):
        errors.append("config")
        return cfg, errors
    for k in raw:
        if k not in SCHEMA:
            errors.append(k)  # unknown key: a typo must not pass silently
            continue
        v = _check(k, raw[k])
        if v is None:
            errors.append(k)
        else:
            cfg[k] = v
    from sensor_table import uart_only

    u = cfg["uart_sensor"]
    for n in cfg["sensors"]:
        if u != "none" and n != u and uart_only(n):
            errors.append("uart_sensor")  # two sensors on the one sensor UART
            cfg["uart_sensor"] = "none"
    errors.sort()
    return cfg, errors


def apply_overrides(cfg, overrides):
    """Remote configuration (persisted downlink changes) on top of the file's values."""
    for k in overrides:
        if k in SCHEMA:
            v = _check(k, overrides[k])
            if v is not None:
                cfg[k] = v


# A real config.json is well under 1 KB (every key of SCHEMA, 16 quantities); a bigger file is
# refused before it is read: json.load of a 300 KB file is a MemoryError on the node's heap,
# and an exception here would reset the board at every boot.
CONFIG_MAX_BYTES = 4096


def _too_big(path):
    import os

    try:
        return os.stat(path)[6] > CONFIG_MAX_BYTES  # st_size
    except OSError:
        return False  # missing: open() below says so


def load(path=CONFIG_FILE, log=print):
    """Read and validate the config file; never raises for a bad file.

    A file that cannot be used gives the defaults and one error naming the reason, which the
    status frame carries: "config.json" (missing), "config.json:size" (over CONFIG_MAX_BYTES),
    "config.json:json" (not JSON), "config.json:read" (anything else: bad UTF-8, no memory).
    """
    if _too_big(path):
        log("config: %s is over %d bytes, using defaults" % (path, CONFIG_MAX_BYTES))
        return defaults(), ["config.json:size"]
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError:
        log("config: %s missing, using defaults" % path)
        return defaults(), ["config.json"]
    except ValueError as e:  # UnicodeError is a ValueError too
        why = "json" if not isinstance(e, UnicodeError) else "read"
        log("config: %s is not valid JSON, using defaults" % path)
        return defaults(), ["config.json:" + why]
    except Exception as e:  # MemoryError, RuntimeError (nesting): never a boot loop
        log("config: %s unreadable (%s), using defaults" % (path, e.__class__.__name__))
        return defaults(), ["config.json:read"]
    try:
        cfg, errors = validate(raw)
    except Exception as e:  # a validator bug must not reset the board either
        log("config: %s rejected (%s), using defaults" % (path, e.__class__.__name__))
        return defaults(), ["config.json:read"]
    for k in errors:
        log("config: bad or unknown key %r, using its default" % k)
    return cfg, errors


def _hex(v, n):
    if not isinstance(v, str) or len(v) != n:
        return False
    for c in v:
        if c not in "0123456789abcdefABCDEF":
            return False
    return True


def load_secrets(path=SECRETS_FILE, log=print):
    """{"deveui", "appeui", "appkey"} or None; values are never printed."""
    try:
        with open(path) as f:
            s = json.load(f)
    except (OSError, ValueError):
        log("config: %s missing or not JSON" % path)
        return None
    if not isinstance(s, dict):
        log("config: %s must be an object" % path)
        return None
    for k, n in (("deveui", 16), ("appeui", 16), ("appkey", 32)):
        if not _hex(s.get(k), n):
            log("config: secrets key %r must be %d hex digits" % (k, n))
            return None
    return s
