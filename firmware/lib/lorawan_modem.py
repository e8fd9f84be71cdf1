# The node's radio backend on a bare SX126x/SX127x: the MAC (lorawan_mac.py) behind the same
# methods the RAK3172 driver offers (rak3172.RAK3172: configure_otaa, is_joined, join, send,
# set_data_rate, request_link_check, link_checked, poll, pop_downlinks), so node.py does not
# know which backend it runs on.
# make() wires it from a board profile (boards.py): the `lora` modem object, a slot of RTC
# memory beside the node's state, flash files, the board's clocks and lightsleep.

import binascii

import lorawan_eu868
from lorawan_mac import Mac, MacError
from lorawan_session import FLAG_ADR

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_EU868_BAND = const(4)  # RUI3's AT+BAND number for EU868 (docs/references.md §C), as node.py passes
from lorawan_store import MAC_SLOT, NODE_SLOT  # noqa: E402, F401 - RTC layout (lorawan_store.py)


class LoRaWANModem:
    def __init__(self, mac):
        self.mac = mac

    def configure_otaa(self, deveui, appeui, appkey, band=_EU868_BAND, lora_class="A"):
        """Hex DevEUI/JoinEUI(AppEUI)/AppKey as RAK3172.configure_otaa; returns 0 (nothing to write)."""
        if band != _EU868_BAND or lora_class.upper() != "A":
            raise MacError("this MAC is EU868 Class A (band %r, class %r)" % (band, lora_class))
        for val, n in ((deveui, 16), (appeui, 16), (appkey, 32)):
            if len(val) != n:
                raise MacError("id/key length")
        self.mac.set_otaa(binascii.unhexlify(appeui), binascii.unhexlify(deveui), binascii.unhexlify(appkey))
        return 0

    def is_joined(self):
        return self.mac.joined

    def join(self, timeout_ms=30000):
        self.mac.join(timeout_ms)

    def send(self, port, data, confirmed=False, timeout_ms=30000):
        if port < 1 or port > 223:
            raise MacError("port must be 1..223")
        return self.mac.send(port, data, confirmed=confirmed, timeout_ms=timeout_ms)

    def set_data_rate(self, dr, adr):
        if dr < 0 or dr > lorawan_eu868.MAX_DR:
            raise MacError("data rate must be 0..%d" % lorawan_eu868.MAX_DR)
        s = self.mac.s
        if s.dr == dr and bool(s.flags & FLAG_ADR) == bool(adr):
            return  # unchanged: no flash write
        s.dr = dr
        self.mac.set_adr(adr)
        self.mac.store.save_joined(s)  # flash too: a power loss must not fall back to the old DR

    def request_link_check(self):
        """The next uplink carries a LinkCheckReq in FOpts (lorawan_maccmd.py)."""
        c = self.mac.cmds
        c.link_check = None
        c.want_link_check = True

    def link_checked(self, timeout_ms=0):
        """True when the last uplink's LinkCheckReq was answered (LinkCheckAns: margin,
        gateway count); as RAK3172.link_checked."""
        lc = self.mac.cmds.link_check
        return lc is not None and lc[1] > 0

    def poll(self, timeout_ms=0):
        return []  # Class A: downlinks only arrive in the windows after an uplink

    def pop_downlinks(self):
        return self.mac.pop_downlinks()


def make(board, state, log=print):
    """The modem for a board whose profile has a bare LoRa radio; ``state`` (the node's) lives in
    RTC memory's NODE_SLOT, the MAC's record in MAC_SLOT."""
    from lorawan_store import FileFlash, RtcSlot, Store

    store = Store(RtcSlot(board.rtc, MAC_SLOT[0], MAC_SLOT[1]), FileFlash(""), log=log)
    mac = Mac(board.lora_modem(), lorawan_eu868, store, board.now_ms, board.lightsleep,
              ticks_ms=board.radio_ticks_ms, log=log)
    src = mac.restore()
    log("lorawan: session from %s" % (src or "nowhere (join)"))
    return LoRaWANModem(mac)
