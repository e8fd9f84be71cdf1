# A TroSmart node in P2P receiver mode (docs/p2p.md §3): its radio listens and every packet
# (a RAK3172, or a bare SX126x/SX127x through lora_p2p.py) is printed on the USB console as RUI3
# prints it (+EVT:RXP2P:<rssi>:<snr>:<HEX>,
# docs/references.md §C.5), so the bridge's serial source and `trosmart monitor` read a
# receiver node exactly like a RAK3172 on USB. Envelopes are verified by the bridge, not here.

try:
    from micropython import const
except ImportError:  # CPython host tests

    def const(x):
        return x


_POLL_MS = const(1000)  # one poll per WDT feed


from payload_codec.rxp2p import format_line as line_of  # noqa: E402 - the one home of the line


def relay(radio, out=print, feed=None, running=None):
    """Receive until ``running()`` is false (forever by default); ``radio`` is a configured
    rak3172_p2p.RakP2P or lora_p2p.LoraP2P (``radio.Error``: what its poll() raises). A module
    reboot turns receive back on."""
    radio.listen()
    out("p2p receiver: listening")
    while running is None or running():
        if feed is not None:
            feed()
        try:
            for rssi, snr, data in radio.poll(_POLL_MS):
                out(line_of(rssi, snr, data))
        except radio.Error as e:  # rak3172.ModuleRebooted: receive is off again
            out("p2p receiver: %s; listening again" % e.__class__.__name__)
            radio.listen()
