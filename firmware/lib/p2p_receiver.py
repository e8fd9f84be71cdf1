# A TroSmart node in P2P receiver mode (docs/p2p.md §3): its radio listens and every packet
# is printed on the USB console as RUI3 prints it (+EVT:RXP2P:<rssi>:<snr>:<HEX>,
# docs/references.md §C.5), so the bridge's serial source and `trosmart monitor` read a
# receiver node exactly like a RAK3172 on USB. Envelopes are verified by the bridge, not here.

try:
    from micropython import const
except ImportError:  # CPython host tests

    def const(x):
        return x


_POLL_MS = const(1000)  # one poll per WDT feed


def line_of(rssi, snr, data):
    return "+EVT:RXP2P:%d:%d:%s" % (rssi, snr, bytes(data).hex().upper())


def relay(radio, out=print, feed=None, running=None):
    """Receive until ``running()`` is false (forever by default); ``radio`` is a
    rak3172_p2p.RakP2P (configured). A module reboot turns receive back on."""
    from rak3172 import RakError

    radio.listen()
    while running is None or running():
        if feed is not None:
            feed()
        try:
            for rssi, snr, data in radio.poll(_POLL_MS):
                out(line_of(rssi, snr, data))
        except RakError as e:  # ModuleRebooted: receive is off again
            out("p2p receiver: %s; listening again" % e.__class__.__name__)
            radio.listen()
