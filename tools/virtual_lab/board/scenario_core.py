"""Scenario maths shared by the virtual board (MicroPython) and the host (CPython).

A scenario is a JSON object:
  {"signals": {"temperature": [[t_s, value], ...], ...},     piecewise linear in time,
   "events": [{"sensor": "bme280", "kind": "removed", "at_s": 300},
              {"sensor": "bme280", "kind": "nack", "at_s": 60, "until_s": 90}, ...]}
Time is the node's virtual clock in seconds (0 = its first power-on). Before the first
point and after the last, a signal holds its end value. Event kinds: "removed" (the part
stops answering for good), "nack" (I2C errors in [at_s, until_s)), "stuck" (the BME280
never finishes a measurement in [at_s, until_s)); for the UART sensors (sds011, a02yyuw)
"badsum" (every frame's checksum is wrong in [at_s, until_s)) and "garbage" (noise bytes
before every frame in [at_s, until_s)). Added with the sensor table: "badcrc" (Sensirion
parts, DS18B20: a wrong CRC byte), "frozen" (a stuck value: the part repeats its last
reading), "nowarmup" / "slowwarmup" (particulate sensors whose fan does not spin up / needs
60 s), "poweron" (a DS18B20 answering its 85 degC power-up scratchpad). A DS18B20 probe is
named "ds18b20.<k>" (k: its place on the board file's list), "ds18b20" names them all.
"""

EVENT_KINDS = ("removed", "nack", "stuck", "badsum", "garbage", "badcrc", "frozen", "nowarmup",
               "slowwarmup", "poweron")


def value_at(points, t_s):
    """Linear interpolation of [[t, v], ...] (sorted by t) at t_s."""
    if t_s <= points[0][0]:
        return points[0][1]
    for i in range(1, len(points)):
        t1, v1 = points[i]
        if t_s <= t1:
            t0, v0 = points[i - 1]
            if t1 == t0:
                return v1
            return v0 + (v1 - v0) * (t_s - t0) / (t1 - t0)
    return points[-1][1]


def time_of(points, value):
    """The first time a non-decreasing signal reaches ``value`` (None if it never does)."""
    if points[0][1] >= value:
        return points[0][0]
    for i in range(1, len(points)):
        t1, v1 = points[i]
        if v1 >= value:
            t0, v0 = points[i - 1]
            return t0 + (t1 - t0) * (value - v0) / (v1 - v0)
    return None


def sensor_condition(events, sensor, t_s):
    """'ok' or the kind of the event affecting ``sensor`` at t_s."""
    for e in events:
        if e["sensor"] != sensor or t_s < e["at_s"]:
            continue
        if e["kind"] == "removed":
            return "removed"
        if t_s < e.get("until_s", e["at_s"]):
            return e["kind"]
    return "ok"


def check(sc):
    """Raise ValueError naming the first problem of a scenario dict."""
    if not isinstance(sc, dict):
        raise ValueError("a scenario must be a JSON object")
    for k in sc:
        if k not in ("signals", "events", "name"):
            raise ValueError("unknown scenario key %r" % (k,))
    sig = sc.get("signals", {})
    if not isinstance(sig, dict):
        raise ValueError("signals must map quantity names to [[t_s, value], ...]")
    for name in sig:
        pts = sig[name]
        if not isinstance(pts, list) or not pts:
            raise ValueError("signal %r needs at least one [t_s, value] point" % (name,))
        last = None
        for p in pts:
            if not isinstance(p, list) or len(p) != 2:
                raise ValueError("signal %r: points are [t_s, value] pairs" % (name,))
            for x in p:
                if isinstance(x, bool) or not isinstance(x, (int, float)):
                    raise ValueError("signal %r: %r is not a number" % (name, x))
            if last is not None and p[0] < last:
                raise ValueError("signal %r: times must not decrease" % (name,))
            last = p[0]
    ev = sc.get("events", [])
    if not isinstance(ev, list):
        raise ValueError("events must be a list")
    for e in ev:
        if not isinstance(e, dict) or e.get("kind") not in EVENT_KINDS:
            raise ValueError("event %r: kind must be one of %s" % (e, ", ".join(EVENT_KINDS)))
        if not isinstance(e.get("sensor"), str):
            raise ValueError("event %r needs a sensor name" % (e,))
        at = e.get("at_s")
        if isinstance(at, bool) or not isinstance(at, (int, float)) or at < 0:
            raise ValueError("event %r needs at_s >= 0" % (e,))
        if e["kind"] != "removed":
            u = e.get("until_s")
            if isinstance(u, bool) or not isinstance(u, (int, float)) or u <= at:
                raise ValueError("event %r needs until_s > at_s" % (e,))
    return sc
