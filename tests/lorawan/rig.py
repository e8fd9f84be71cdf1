# Device-side rig for MAC tests, the same on CPython and the MicroPython Unix port (no CPython-only
# syntax): a virtual clock, RTC memory and flash fakes that lose power at a chosen write, an air
# link that loses power between TX and RX, and the random power-cut run.
import random

import lora_sim
import lorawan_eu868 as region
import lorawan_mac as mac_mod
import lorawan_store as store_mod

DEV_EUI = b"\x70\xb3\xd5\x7e\xd0\x00\x00\x01"
JOIN_EUI = b"\x00\x00\x00\x00\x00\x00\x00\x01"
APP_KEY = b"\x2b\x7e\x15\x16\x28\xae\xd2\xa6\xab\xf7\x15\x88\x09\xcf\x4f\x3c"
GAP_MS = 600000  # the 10-minute interval


class PowerCut(Exception):
    """The supply dropped: nothing after this point happened."""


class Clock:
    def __init__(self):
        self.ms = 1000000
        self.slept = []

    def ticks(self):
        return self.ms

    def sleep(self, ms):
        if ms < 0 or ms > 3700000:
            raise AssertionError("unbounded wait %d ms" % ms)
        self.slept.append(ms)
        self.ms += ms


class Rtc:
    def __init__(self):
        self.data = b""

    def memory(self, data=None):
        if data is None:
            return self.data
        self.data = bytes(data)


class Flash:
    """Files in a dict; write number ``cut_at`` (0 = the next) loses power and leaves the old
    file (writes are atomic: temporary file + rename)."""

    def __init__(self):
        self.files = {}
        self.writes = 0
        self.cut_at = -1

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        if self.cut_at == 0:
            self.cut_at = -1
            raise PowerCut("during a flash write")
        if self.cut_at > 0:
            self.cut_at -= 1
        self.writes += 1
        self.files[name] = bytes(data)


class Air:
    """Hands transmissions to ``link`` (the server); can lose power between TX and RX."""

    def __init__(self, link):
        self.link = link
        self.cut_after_tx = False

    def uplink(self, meta):
        out = self.link.uplink(meta)
        if self.cut_after_tx:
            self.cut_after_tx = False
            raise PowerCut("between TX and RX")
        return out


def _rand(n):
    return random.getrandbits(16) % n


class Device:
    """Radio + MAC + store on shared fakes; boot() again after a PowerCut."""

    def __init__(self, link, every=16, log=None):
        self.clock = Clock()
        self.rtc = Rtc()
        self.flash = Flash()
        self.air = Air(link)
        self.every = every
        self.log = log
        self.boot()

    def boot(self, keep_rtc=True):
        if not keep_rtc:
            self.rtc.data = b""
        self.radio = lora_sim.SimRadio(self.air, ticks_ms=self.clock.ticks, sleep_ms=self.clock.sleep)
        self.store = store_mod.Store(self.rtc, self.flash, every=self.every, log=self.log)
        self.mac = mac_mod.Mac(self.radio, region, self.store, self.clock.ticks, self.clock.sleep,
                               ticks_ms=self.clock.ticks, rand=_rand, log=self.log)
        self.mac.set_otaa(JOIN_EUI, DEV_EUI, APP_KEY)
        return self.mac.restore()

    def join(self, tries=5):
        for _ in range(tries):
            try:
                self.mac.join(timeout_ms=3600000)
                return
            except mac_mod.JoinFailed:
                self.clock.sleep(60000)
        raise AssertionError("no join")

    def up(self, data=b"\x01\x02\x03", port=1, confirmed=False):
        self.clock.sleep(GAP_MS)
        return self.mac.send(port, data, confirmed=confirmed)


def power_cuts(dev, cuts, seed):
    """Uplinks and joins with ``cuts`` random power cuts: during a join (flash write of the
    DevNonce, or between the Join-Request and its RX windows), between an uplink's TX and RX,
    during a flash write of the session. Returns {kind: count}. The server must never see a
    DevNonce or FCntUp twice."""
    random.seed(seed)
    done = {"join": 0, "tx_rx": 0, "flash": 0}
    while sum(done.values()) < cuts:
        kind = ("join", "tx_rx", "flash")[_rand(3)]
        if not dev.mac.joined:
            dev.join()  # the last cut lost the session: join before arming the next one
        if kind == "join":
            dev.mac.s.drop_session()  # the next step joins
            if _rand(2):
                dev.flash.cut_at = 0  # the DevNonce write
            else:
                dev.air.cut_after_tx = True
        elif kind == "tx_rx":
            dev.air.cut_after_tx = True
        else:
            dev.flash.cut_at = _rand(2)
        try:
            for _ in range(1 + _rand(dev.every + 2)):
                if not dev.mac.joined:
                    dev.join()
                dev.up(confirmed=bool(_rand(4) == 0))
        except PowerCut:
            done[kind] += 1
        except mac_mod.SendFailed:
            pass
        dev.air.cut_after_tx = False
        dev.flash.cut_at = -1
        dev.clock.sleep(1000 + _rand(60000))
        dev.boot(keep_rtc=False)
    return done
