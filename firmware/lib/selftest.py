# Self-test over the REPL (``import selftest; selftest.run()``), called by ``trosmart flash``
# after copying the files: firmware version, sensors found, modem answers, LoRaWAN keys present
# (never their values), free heap, config errors. Prints one line "@@TROSMART {json}" that the
# host parses (tools/device/selftest.py); it builds its own hardware objects and closes them,
# and never joins, sends or sleeps.

import gc
import json

import node_config

_MARK = "@@TROSMART "


def _version():
    try:
        with open("build.json") as f:
            return json.load(f).get("version", "?")
    except (OSError, ValueError):
        return "?"


def _keys():
    """{"deveui": bool, ...}: present and well-formed, read without printing anything."""
    out = {"deveui": False, "appeui": False, "appkey": False}
    try:
        with open(node_config.SECRETS_FILE) as f:
            s = json.load(f)
    except (OSError, ValueError):
        return out
    if isinstance(s, dict):
        for k, n in (("deveui", 16), ("appeui", 16), ("appkey", 32)):
            out[k] = node_config._hex(s.get(k), n)
    return out


def _sensor(board, cfg, name):
    """"ok", or what went wrong (a driver's SensorError text)."""
    try:
        if name == "bme280":
            from bme280 import BME280

            s = BME280(board.i2c, cfg["bme280_address"])
        elif name == "battery":
            from battery import Battery

            s = Battery(board.adc, cfg["battery_divider"])
        elif name == "sds011":
            from sds011 import SDS011

            s = SDS011(board.sensor_uart(), sleep=cfg["sds011_sleep"])
        elif name == "a02yyuw":
            from a02yyuw import A02YYUW

            s = A02YYUW(board.sensor_uart(), cfg["a02yyuw_as"], cfg["a02yyuw_mount_mm"],
                        cfg["a02yyuw_threshold_mm"])
        else:
            return "unknown sensor"
        s.read({})
        return "ok"
    except Exception as e:  # noqa: BLE001 - every failure is a result here, never a crash
        return "%s: %s" % (e.__class__.__name__, e)


def _modem(board):
    try:
        from rak3172 import RAK3172

        return True, RAK3172(board.uart).version()
    except Exception as e:  # noqa: BLE001
        return False, "%s: %s" % (e.__class__.__name__, e)


def run(print_fn=print):
    import boards

    cfg, errors = node_config.load(log=lambda m: None)
    report = {"firmware": _version(), "board": cfg["board"], "config_errors": errors, "keys": _keys()}
    board = None
    try:
        board = boards.make(cfg["board"])
        report["board"] = board.name
        names = ["bme280", "battery"]
        if cfg["uart_sensor"] != "none":
            names.append(cfg["uart_sensor"])
        report["sensors"] = {n: _sensor(board, cfg, n) for n in names}
        report["modem_ok"], report["modem"] = _modem(board)
    except Exception as e:  # noqa: BLE001
        report["board_error"] = "%s: %s" % (e.__class__.__name__, e)
    finally:
        if board is not None:
            for u in (board.uart, board._sensor_uart):
                if u is not None and hasattr(u, "deinit"):
                    u.deinit()
    gc.collect()
    report["free"] = gc.mem_free()
    print_fn(_MARK + json.dumps(report))
    return report
