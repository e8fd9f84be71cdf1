# TroSmart node entry point: wire the board profile, modem and sensors into the node cycle,
# then sleep. Any unexpected error is logged and the board resets (the WDT backs this up),
# so a node never hangs in the field.

import gc
import sys

import node_config

gc.collect()  # between import groups: keeps the small heap from fragmenting (style.md §2a)
import boards  # noqa: E402
import sample_store  # noqa: E402
from node_state import State  # noqa: E402

gc.collect()


def _sensor_factory(board, cfg):
    def make(name):
        from sensor_table import build

        try:
            return build(name, board, cfg)
        except Exception as e:  # SensorError (absent now, retried next cycle) or a bus error
            print("node: %s" % e)
        return None

    return make


def _forget(name):
    """Drop a module this process no longer needs (its heap is freed at the next collect)."""
    g = globals()
    if name in g:
        del g[name]
    if name in sys.modules:
        del sys.modules[name]


def main():
    cfg, errors = node_config.load()
    try:
        board = boards.make(cfg["board"])
    except ValueError as e:
        print("node: %s" % e)
        errors.append("board")
        board = boards.make("auto")
    # RTC memory (sample_store.py): node state and the sample store in the first half; on a bare
    # radio the MAC's session record, in P2P mode the envelope counter, in the second
    mac = board.radio != "rak3172" or cfg["network"] == "p2p"
    img = sample_store.RtcImage(board.rtc, mac)
    state = State(sample_store.RtcView(img, *sample_store.STATE_SLOT))
    store = sample_store.SampleStore(img, sample_store.MAC_OFF - sample_store.STORE_OFF, "", cfg["store_blocks"])
    board.state = state
    from sensor_table import fitted

    names = fitted(cfg)
    if "meter" in names:
        import pulse_meter

        ms = pulse_meter.on_boot(board, cfg, state)  # a meter pulse woke us: count, sleep on
        if ms:
            board.deepsleep(ms)
    gc.collect()
    from node import Node  # after the meter's check: a pulse wake imports little

    gc.collect()
    wdt = board.wdt(cfg["wdt_timeout_ms"])  # covers every cycle from here on
    secrets = node_config.load_secrets() if cfg["network"] == "lorawan" else None  # P2P: open_link
    if board.radio == "rak3172":
        from rak3172 import RAK3172

        modem = RAK3172(board.uart)
        try:  # RUI3 version, read once per boot; pre-RUI3 firmware is refused here, by name
            modem.firmware()
            print("node: RAK3172 firmware %s" % modem.rui_text)
        except Exception as e:  # UnsupportedFirmware, RakTimeout: logged, the cycle retries
            print("node: %s" % e)
    elif cfg["network"] == "lorawan":  # a bare SX126x/SX127x: the LoRaWAN MAC behind the same interface
        import lorawan_modem  # (docs/lorawan.md)

        modem = lorawan_modem.make(board, state)
    else:
        modem = None  # P2P on a bare radio: lora_p2p.py, no MAC (docs/p2p.md §4a)
    if cfg["network"] != "lorawan":
        from p2p_link import radio_for

        radio = radio_for(board, modem)  # RAK3172 P2P or the bare radio's, one interface
    if cfg["network"] == "p2p":  # P2P workshop mode: envelopes to a receiver (docs/p2p.md §3)
        from lorawan_store import MAC_SLOT, RtcSlot
        from p2p_link import open_link

        modem, secrets = open_link(radio, cfg, node_config.SECRETS_FILE, RtcSlot(board.rtc, MAC_SLOT[0], MAC_SLOT[1]))
    if cfg["network"] == "p2p_receiver":  # a USB receiver for the bridge (docs/p2p.md §3)
        from p2p_receiver import relay

        try:
            radio.configure(cfg["p2p_freq_hz"], cfg["p2p_sf"], cfg["p2p_bw_khz"])
        except Exception as e:  # P2PConfigError names the key; RakTimeout: the module is silent
            print("node: p2p receiver: %s" % e)
            board.deepsleep(cfg["interval_s"] * 1000)
        relay(radio, feed=wdt.feed)
    import payload_codec.measurement  # noqa: F401 - load the codec before the first cycle

    gc.collect()
    make_sensor = _sensor_factory(board, cfg)
    sensors = {}
    for name in names:  # the config's sensors, each on its bus (sensor_table.py)
        sensors[name] = make_sensor(name)
    node = Node(board, modem, cfg, errors, secrets, state, sensors, wdt, make_sensor=make_sensor,
                store=store)
    overrides = state.load_overrides()
    node_config.apply_overrides(cfg, overrides)
    node.boot(overrides)
    _forget("node_config")  # schema and validation are boot-time only: about 10 KB of heap
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
        if "meter" in names:  # wake on the next pulse; the timer wake stays due
            state.cycle_due_ms = board.now_ms() + ms
            pulse_meter.arm(board, cfg, state)  # on the virtual board, pulses seen awake arrive here
            meter = sensors.get("meter")
            if meter is not None:
                meter.commit(board.now_ms())
            state.save()
        board.deepsleep(ms)


try:
    main()
except Exception as e:  # noqa: BLE001 - last resort: log and reset instead of hanging
    sys.print_exception(e)
    import machine

    machine.reset()
