# TroSmart node entry point: wire the board profile, modem and sensors into the node cycle,
# then sleep. Any unexpected error is logged and the board resets (the WDT backs this up),
# so a node never hangs in the field.

import gc
import sys

import node_config

gc.collect()  # between import groups: keeps the small heap from fragmenting (style.md §2a)
import boards  # noqa: E402
from node import Node  # noqa: E402
from node_state import State  # noqa: E402

gc.collect()


def _sensor_factory(board, cfg):
    def make(name):
        try:
            if name == "bme280":
                from bme280 import BME280

                return BME280(board.i2c, cfg["bme280_address"])
            if name == "battery":
                from battery import Battery

                return Battery(board.adc, cfg["battery_divider"])
            if name == "sds011" and cfg["uart_sensor"] == name:
                from sds011 import SDS011

                return SDS011(board.sensor_uart(), sleep=cfg["sds011_sleep"])
            if name == "a02yyuw" and cfg["uart_sensor"] == name:
                from a02yyuw import A02YYUW

                return A02YYUW(board.sensor_uart(), cfg["a02yyuw_as"], cfg["a02yyuw_mount_mm"],
                               cfg["a02yyuw_threshold_mm"])
        except Exception as e:  # SensorError: absent now, retried next cycle
            print("node: %s" % e)
        return None

    return make


def main():
    cfg, errors = node_config.load()
    try:
        board = boards.make(cfg["board"])
    except ValueError as e:
        print("node: %s" % e)
        errors.append("board")
        board = boards.make("auto")
    wdt = board.wdt(cfg["wdt_timeout_ms"])  # covers every cycle from here on
    secrets = node_config.load_secrets() if cfg["network"] == "lorawan" else None  # P2P: open_link
    state = State(board.rtc)
    from rak3172 import RAK3172

    modem = RAK3172(board.uart)
    try:  # RUI3 version, read once per boot; pre-RUI3 firmware is refused here, by name
        modem.firmware()
        print("node: RAK3172 firmware %s" % modem.rui_text)
    except Exception as e:  # UnsupportedFirmware, RakTimeout: logged, the cycle retries
        print("node: %s" % e)
    if cfg["network"] == "p2p":  # P2P workshop mode: envelopes to a receiver (docs/p2p.md §3)
        from p2p_link import open_link

        modem, secrets = open_link(modem, cfg, node_config.SECRETS_FILE)
    if cfg["network"] == "p2p_receiver":  # a USB receiver for the bridge (docs/p2p.md §3)
        from p2p_receiver import relay
        from rak3172_p2p import RakP2P

        radio = RakP2P(modem)
        try:
            radio.configure(cfg["p2p_freq_hz"], cfg["p2p_sf"], cfg["p2p_bw_khz"])
        except Exception as e:  # P2PConfigError names the key; RakTimeout: the module is silent
            print("node: p2p receiver: %s" % e)
            board.deepsleep(cfg["interval_s"] * 1000)
        relay(radio, feed=wdt.feed)
    import payload_codec.measurement  # noqa: F401 - load the codec before the first cycle

    gc.collect()
    make_sensor = _sensor_factory(board, cfg)
    sensors = {"bme280": make_sensor("bme280"), "battery": make_sensor("battery")}
    if cfg["uart_sensor"] != "none":
        sensors[cfg["uart_sensor"]] = make_sensor(cfg["uart_sensor"])
    node = Node(board, modem, cfg, errors, secrets, state, sensors, wdt, make_sensor=make_sensor)
    overrides = state.load_overrides()
    node_config.apply_overrides(cfg, overrides)
    node.boot(overrides)
    if secrets is None:
        print("node: no LoRaWAN keys (secrets.json); sleeping")
        board.deepsleep(cfg["interval_s"] * 1000)
    gc.collect()
    while True:
        ms = node.run_cycle()
        if cfg["sleep_mode"] == "light":
            # RAM kept (machine.lightsleep); feed the WDT in slices shorter than its timeout
            step = cfg["wdt_timeout_ms"] // 2
            while ms > 0:
                wdt.feed()
                board.lightsleep(ms if ms < step else step)
                ms -= step
            continue
        print("node: deep sleep %d ms" % ms)
        board.deepsleep(ms)


try:
    main()
except Exception as e:  # noqa: BLE001 - last resort: log and reset instead of hanging
    sys.print_exception(e)
    import machine

    machine.reset()
