# Where the MAC's records live (lorawan_session.py): a slot of RTC memory (survives deep sleep
# and soft/WDT resets, not power loss; at most 2048 B on ESP32, docs/references.md §F) and two
# flash files replaced atomically. Flash writes are counted (the figure docs/lorawan.md gives
# per day). Hardware (rtc, flash) is passed in.

import os

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


import lorawan_session as ls

_FLASH_EVERY = const(16)  # N: uplinks per flash write; a cold boot skips FCntUp ahead by N
SESSION_FILE = "lorawan.dat"
NONCE_FILE = "lorawan_nonce.dat"


class RtcSlot:
    """A slice of one RTC memory shared with another user (e.g. the node's state at slot 0):
    memory() reads and memory(data) writes this slice only, with a 2-byte length prefix."""

    def __init__(self, rtc, offset, size):
        self._rtc = rtc
        self._off = offset
        self._size = size

    def memory(self, data=None):
        cur = self._rtc.memory()
        o = self._off
        if data is None:
            if len(cur) < o + 2:
                return b""
            n = cur[o] | (cur[o + 1] << 8)
            if n > self._size or len(cur) < o + 2 + n:
                return b""
            return bytes(cur[o + 2:o + 2 + n])
        if len(data) > self._size:
            raise ValueError("record of %d B exceeds its RTC slot of %d B" % (len(data), self._size))
        buf = bytearray(cur)
        end = o + 2 + len(data)
        if len(buf) < end:
            buf.extend(bytes(end - len(buf)))
        buf[o] = len(data) & 0xFF
        buf[o + 1] = len(data) >> 8
        buf[o + 2:end] = data
        self._rtc.memory(buf)


class FileFlash:
    """Files in ``folder`` written atomically (temporary file, then rename)."""

    def __init__(self, folder=""):
        self._dir = folder

    def _path(self, name):
        return self._dir + "/" + name if self._dir else name

    def read(self, name):
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        tmp = self._path(name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, self._path(name))


class Store:
    """Loads and saves a Session: RTC every uplink, flash every ``every`` uplinks."""

    def __init__(self, rtc, flash, every=_FLASH_EVERY, log=None):
        self.rtc = rtc
        self.flash = flash
        self.every = every
        self.flash_writes = 0
        self.source = ""  # where load() found the session: "rtc", "flash", "" (none)
        self.migrated_from = 0
        self._log = log

    def _say(self, msg):
        if self._log:
            self._log("lorawan: " + msg)

    def load(self, s):
        """Restore ``s``: RTC record, else flash record with FCntUp skipped ahead, else none.
        The DevNonce is the highest any record holds. Never raises for a bad record."""
        dev_nonce, join_nonce = 0, -1
        try:
            dev_nonce, join_nonce = ls.decode_nonce(self.flash.read(NONCE_FILE))
        except ls.RecordError as e:
            self._say("nonce record: %s" % e)
        found = ""
        version = 0
        try:
            version = s.decode(self.rtc.memory())
            found = "rtc"
        except ls.RecordError:
            try:
                version = s.decode(self.flash.read(SESSION_FILE))
                found = "flash"  # its fcnt_up is the ceiling reserved before the power loss
            except ls.RecordError as e:
                self._say("no session record (%s): rejoin" % e)
                s.reset()
        if s.dev_nonce < dev_nonce:
            s.dev_nonce = dev_nonce
        if s.join_nonce < join_nonce:
            s.join_nonce = join_nonce
        self.source = found
        self.migrated_from = version if version and version != ls.VERSION else 0
        if self.migrated_from:
            self._say("session record v%d migrated to v%d" % (version, ls.VERSION))
            self.save_flash(s)  # the migrated record replaces the old one at once
            self.save_rtc(s)
        return found

    def save_rtc(self, s):
        self.rtc.memory(s.encode())

    def save_flash(self, s):
        s.ceiling = s.fcnt_up + self.every
        self.flash.write(SESSION_FILE, s.encode(fcnt_up=s.ceiling))
        self.flash_writes += 1

    def before_uplink(self, s):
        """Call with s.fcnt_up already past the counter about to be sent."""
        if s.fcnt_up > s.ceiling:
            self.save_flash(s)
        self.save_rtc(s)

    def save_nonce(self, s):
        """Before a Join-Request: the DevNonce about to be used is already counted."""
        self.flash.write(NONCE_FILE, s.encode_nonce())
        self.flash_writes += 1
        self.save_rtc(s)

    def save_joined(self, s):
        """After a join (or ABP set-up): a fresh session on flash and in RTC."""
        self.save_flash(s)
        self.save_rtc(s)
