"""SenML (RFC 8428) records for decoded uplinks.

Units are the registry's; where one is a secondary unit (RFC 8798 registry) the
first record declares the Secondary Units feature of RFC 9100 (feature code 4:
bver = 10 + 2**4 = 26). A field the node marked invalid becomes a record with
``"vs": "invalid"`` and no unit. Record times ``t`` are seconds relative to the
base time (reception), so <= 0, and left out when 0.
"""

from . import registry as reg

SECONDARY_UNITS = ("hPa", "ug/m3", "ppm", "ppb", "mm", "kWh", "Wh", "/100", "km/h", "mV", "mA")
BVER_SECONDARY = 26


_rows: dict = None  # type: ignore[assignment]


def _units():
    """Registry rows by name, built once (the bridge calls to_senml for every uplink)."""
    global _rows
    if _rows is None:
        _rows = {}
        for row in reg.QUANTITIES:
            _rows[row[1]] = row
    return _rows


def _record(name, unit, value, t):
    r = {"n": name}
    if value is None:
        r["vs"] = "invalid"
    elif value is True or value is False:
        r["vb"] = value
    elif isinstance(value, str):
        r["vs"] = value
    else:
        if unit:
            r["u"] = unit
        r["v"] = value
    if t:
        r["t"] = t
    return r


def measurement_records(decoded: dict) -> list:
    rows = _units()
    recs = []
    for s in decoded["samples"]:
        vals = s["values"]
        t = s["offset_s"]
        for name in decoded["quantities"]:
            recs.append(_record(name, rows[name][2], vals.get(name), t))
    return recs


def status_records(st: dict) -> list:
    recs = []
    for name, unit in (
        ("firmware", None),
        ("reset_cause", None),
        ("uptime_s", "s"),
        ("battery_voltage", "V"),
        ("sample_counter", "count"),
        ("interval_s", "s"),
        ("samples_dropped", "count"),
    ):
        if name in st:
            recs.append(_record(name, unit, st[name], 0))
    if "config_hash" in st:
        recs.append(_record("config_hash", None, "%08x" % st["config_hash"], 0))
    errs = st.get("sensor_errors") or {}
    for s in sorted(errs):
        recs.append(_record("sensor_errors/" + s, "count", errs[s], 0))
    for s in st.get("failed_sensors") or ():
        recs.append(_record("sensor_failed", None, s, 0))
    for k in st.get("config_errors") or ():
        recs.append(_record("config_error", None, k, 0))
    cr = st.get("command_result")
    if cr:
        recs.append(_record("command_result", None, cr["command"] + ":" + cr["result"], 0))
    return recs


def layout_records(lay: dict) -> list:
    return [
        _record("layout", None, lay["layout"], 0),
        _record("layout_quantities", None, ",".join(lay["quantities"]), 0),
    ]


def to_senml(decoded: dict, base_name=None, base_time=None) -> list:
    """SenML pack (list of records) for a result of decode_uplink()."""
    kind = decoded.get("kind", "measurement")
    if kind == "measurement":
        recs = measurement_records(decoded)
    elif kind == "status":
        recs = status_records(decoded["status"])
    elif kind == "layout":
        recs = layout_records(decoded)
    else:
        recs = [_record(n, None, decoded["data"][n], 0) for n in sorted(decoded.get("data", {}))]
    if not recs:
        return recs
    head = {}
    if base_name is not None:
        head["bn"] = base_name
    if base_time is not None:
        head["bt"] = base_time
    for r in recs:
        if r.get("u") in SECONDARY_UNITS:
            head["bver"] = BVER_SECONDARY
            break
    if head:
        head.update(recs[0])
        recs[0] = head
    return recs
