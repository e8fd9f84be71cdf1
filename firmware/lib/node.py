# The node cycle (docs/firmware.md "What the node does each cycle"):
#   wake -> feed WDT -> read sensors -> join if the module is not joined -> status frame if due
#   -> measurement frame(s) under the payload and duty-cycle limits -> downlinks -> persist
#   -> return the sleep time. Hardware (board, modem, sensors, WDT) is passed in.

import gc
import time

from micropython import const

import payload_codec
from join_backoff import JoinBackoff, join_airtime_ms
from duty_cycle import FRAME_CAP, Ledger, airtime_us, join_airtime_us
from node_frames import build_frames
from node_state import FLAG_STATUS_DUE
from payload_codec.airtime import max_payload
from sample_store import FLAG_DOWN
from sensor import SensorError
from sensor_table import fitted, quantities, sensor_of, slot

FIRMWARE = "trosmart-node 0.1.0"
_DEEPSLEEP_RESET = const(4)  # machine.DEEPSLEEP_RESET on ESP32 (docs/references.md §F)
_JOIN_RETRY_MS = const(60000)  # a failed join waits at least this long (plus duty cycle)
_SEND_TIMEOUT_MS = const(20000)
_RESULT_OK = "ok"


class Node:
    def __init__(self, board, modem, cfg, cfg_errors, secrets, state, sensors, wdt, log=print,
                 make_sensor=None, store=None):
        self.board = board
        self.modem = modem
        self.cfg = cfg
        self.cfg_errors = cfg_errors
        self.secrets = secrets
        self.state = state
        self.sensors = sensors  # {name: Sensor or None (absent at boot)}, sensor_table names
        self.wdt = wdt
        self.log = log
        self.ledger = Ledger(state)
        self.reset_cause = 0
        self.overrides = {}
        self.values = {}
        self.reboot_pending = False
        self.configured = False
        self.last_battery = None
        self._make_sensor = make_sensor  # name -> Sensor or None: retries absent sensors
        self.warmup_ms = 0  # the particulate sensors' warm-up in the last cycle
        self._warm_extra = 0
        self._mask = 0
        self._read_ok = {}  # quantity -> the sensor that read it in this cycle
        if store is None:  # a node without RTC wiring (tests): the store in RAM only
            from sample_store import RtcImage, SampleStore

            store = SampleStore(RtcImage(_RamRtc()), 768, state._dir, cfg["store_blocks"])
        self.store = store  # every frame kept until proven delivered (docs/firmware.md §12)

    # --- boot -------------------------------------------------------------------------
    def boot(self, overrides):
        """Tell the reset causes apart (docs/references.md §F) and restore state accordingly."""
        s = self.state
        self.overrides = overrides
        cause = self.board.reset_cause()
        self.reset_cause = cause
        now = self.board.now_ms()
        if s.load():
            # RTC memory survived: deep-sleep wake, WDT, soft or hard reset
            if cause != _DEEPSLEEP_RESET:
                s.flags |= FLAG_STATUS_DUE  # unexpected reset: tell the operator
                s.status_cause = cause
                if cause == 3:
                    s.wdt_resets += 1
                self.log("node: reset cause %d with RTC state kept" % cause)
        else:
            # power loss (or first boot): RTC memory is gone, flash has the counter ceiling
            s.reset_values()
            s.restore_counter()
            s.restore_meter()  # pulses since the meter's start index, as last flushed
            s.boot_ms = now
            self.ledger.assume_worst(now, self.cfg["data_rate"])
            s.flags |= FLAG_STATUS_DUE
            s.status_cause = cause
            self.log("node: power-on (cause %d), counter continues at %d" % (cause, s.counter))
        if self.cfg_errors:
            s.flags |= FLAG_STATUS_DUE
        s.save()

    # --- sensors ----------------------------------------------------------------------
    def _sensor(self, name):
        sensor = self.sensors.get(name)
        if sensor is None and self._make_sensor is not None:
            sensor = self._make_sensor(name)  # retry a sensor that was absent at boot
            self.sensors[name] = sensor
        if sensor is None:
            raise SensorError("%s: not present" % name)
        return sensor

    def _failed(self, name, e):
        i = slot(name)
        self._mask |= 1 << i
        self.state.sensor_errors[i] += 1
        self.sensors[name] = None
        for q in quantities(name, self.cfg):
            # a quantity two fitted sensors measure: the other one's reading stands
            if q in self.values and q not in self._read_ok:
                self.values[q] = None
        self.log("node: %s" % e)

    def _warm_up(self, names):
        """Wake the sensors that need a warm-up, wait the longest one (WDT fed), in ms."""
        warm = 0
        for name in names:
            try:
                sensor = self._sensor(name)
                w = getattr(sensor, "warmup_ms", 0)  # a driver without warm-up needs no start()
                if w:
                    sensor.start()
                    if w > warm:
                        warm = w
            except SensorError as e:
                self._failed(name, e)
        if warm:
            # light sleep keeps RAM and the sensors' state; slices shorter than the WDT timeout
            step = self.cfg["wdt_timeout_ms"] // 2
            left = warm
            sleep = getattr(self.board, "lightsleep", None)
            while left > 0:
                self.wdt.feed()
                ms = left if left < step else step
                if sleep is None:
                    time.sleep_ms(ms)
                else:
                    sleep(ms)
                left -= ms
            self.wdt.feed()
        return warm

    def _measure(self):
        values = self.values
        values.clear()
        for q in self.cfg["quantities"]:
            values[q] = None  # invalid marker unless a sensor fills it
        self._mask = 0
        names = fitted(self.cfg)
        t = time.ticks_ms()
        v0 = self.board.now_ms()
        self.warmup_ms = self._warm_up(names)
        # the awake time counts the warm-up as the board's clock saw it (light sleep)
        self._warm_extra = 0
        if self.warmup_ms:
            self._warm_extra = self.board.now_ms() - v0 - time.ticks_diff(time.ticks_ms(), t)
        self._read_ok = {}
        for name in names:  # table order: the BME280's pressure is in values for the SCD4x
            if self._mask & (1 << slot(name)):
                continue  # failed at its warm-up start
            try:
                self._sensor(name).read(values)
            except SensorError as e:
                self._failed(name, e)
                continue
            # two sensors of one quantity (BME280 and SHT4x): the later table row wins
            for q in quantities(name, self.cfg):
                self._read_ok[q] = name
        for q in list(values):
            if q not in self.cfg["quantities"]:
                del values[q]
        v = values.get("battery_voltage")
        if v is not None:
            self.last_battery = v
        mask = self._mask
        if mask != self.state.failed_mask:
            self.state.failed_mask = mask
            self.state.flags |= FLAG_STATUS_DUE  # a sensor failed or came back

    # --- status -----------------------------------------------------------------------
    def status_frame(self):
        s = self.state
        # the reset that made this status due, even if the frame waited a few wakes
        cause = s.status_cause if s.status_cause else self.reset_cause
        errs = {}
        failed = []
        for name in fitted(self.cfg):
            i = slot(name)
            if s.sensor_errors[i]:
                errs[name] = s.sensor_errors[i]
            if s.failed_mask & (1 << i):
                failed.append(name)
        st = {
            "firmware": FIRMWARE,
            "reset_cause": ("unknown", "power_on", "hard", "watchdog", "deep_sleep", "soft")[
                cause if 0 <= cause <= 5 else 0
            ],
            "uptime_s": max(0, (self.board.now_ms() - s.boot_ms) // 1000),
            "sensor_errors": errs,
            "config_hash": _config_hash(self.cfg),
            "config_errors": self.cfg_errors[:4],
            "sample_counter": s.counter,
            "interval_s": self.cfg["interval_s"],
            "failed_sensors": failed,
        }
        if self.last_battery is not None:
            st["battery_voltage"] = self.last_battery
        if self.store.dropped:
            st["samples_dropped"] = self.store.dropped
        if s.cmd_op:
            from payload_codec.downlink import NAMES
            from payload_codec.status import RESULTS

            st["command_result"] = {"command": NAMES[s.cmd_op], "result": RESULTS[s.cmd_result]}
        gc.collect()  # the status encoder is loaded now: room for it in one piece
        frame = payload_codec.encode_status(st)
        # the status must fit too: drop the least useful fields first
        for k in ("firmware", "config_errors", "sensor_errors", "config_hash", "uptime_s"):
            if len(frame) <= self._limit():
                break
            del st[k]
            frame = payload_codec.encode_status(st)
        return frame

    # --- radio ------------------------------------------------------------------------
    def _limit(self):
        lim = max_payload(self.cfg["data_rate"])
        return lim if lim < FRAME_CAP else FRAME_CAP

    def _batch_limit(self):
        """A catch-up batch may fill the DR's whole payload (docs/references.md §J) when ADR is
        off (the DR is the configured one); with ADR the module may lower it: 51 B then."""
        return self._limit() if self.cfg["adr"] else max_payload(self.cfg["data_rate"])

    def _ensure_joined(self):
        """0 when joined, else the ms to sleep before trying again."""
        m = self.modem
        if m.is_joined():
            return 0
        wait = self.ledger.wait_ms(self.board.now_ms())
        if wait:
            return wait
        if not self.configured:
            sec = self.secrets
            m.configure_otaa(sec["deveui"], sec["appeui"], sec["appkey"], band=4, lora_class="A")
            self.configured = True
        dr = self.cfg["data_rate"]
        # LoRaWAN 1.0.4 join back-off, counted from power-up (join_backoff.py, docs/references.md §E)
        s = self.state
        now = self.board.now_ms()
        up_s = (now - s.boot_ms) // 1000
        jb = JoinBackoff(s.join_backoff)
        air_ms = join_airtime_ms(dr)
        at = jb.allowed_at_s(up_s, air_ms)
        if at > up_s:
            return (at - up_s) * 1000
        self.log("node: joining")
        jb.record(up_s, air_ms)
        s.join_backoff = jb.state()
        self.ledger.record(now, join_airtime_us(dr))
        s.save()
        expected = getattr(m, "join_requests", 0) + 1  # rak3172 counts the module's requests
        try:
            m.join(timeout_ms=self.cfg["join_timeout_ms"])
        except Exception as e:  # JoinFailed, RakTimeout, AtError: retry after a pause
            self.log("node: join failed (%s)" % e.__class__.__name__)
            self._defer(e)
            return _JOIN_RETRY_MS
        finally:
            self._count_module_joins(jb, expected, up_s, air_ms, now, dr)
        self.log("node: joined")
        m.set_data_rate(dr, self.cfg["adr"])
        return 0

    def _count_module_joins(self, jb, expected, up_s, air_ms, now, dr):
        """Join-Requests the module sent by itself (its own retries) count like ours."""
        extra = getattr(self.modem, "join_requests", expected) - expected
        for _ in range(extra if extra > 0 else 0):
            jb.record(up_s, air_ms)
            self.ledger.record(now, join_airtime_us(dr))
        if extra > 0:
            self.state.join_backoff = jb.state()
            self.log("node: the module sent %d more Join-Request(s)" % extra)

    def _send(self, port, frame, confirmed):
        now = self.board.now_ms()
        self.ledger.record(now, airtime_us(len(frame), self.cfg["data_rate"]))
        self.state.save()  # the airtime is spent even if we are reset during the send
        try:
            downlinks = self.modem.send(port, frame, confirmed=confirmed, timeout_ms=_SEND_TIMEOUT_MS)
        except Exception as e:
            self._defer(e)
            # downlinks of a failed send (SendFailed keeps them): their commands still count
            pop = getattr(self.modem, "pop_downlinks", None)
            self._handle_downlinks(pop() if pop else ())
            raise
        self._handle_downlinks(downlinks)

    def _defer(self, e):
        """A duty-cycle refusal (rak3172.DutyCycleRestricted.wait_ms) closes the ledger's band."""
        w = getattr(e, "wait_ms", 0)
        if isinstance(w, int) and w > 0:
            self.ledger.defer(self.board.now_ms(), w)
            return w
        return 0

    def _handle_downlinks(self, downlinks):
        # every handler inside the cycle's error handling: a bad command or a modem error
        # while applying it becomes the command's result, never a board reset
        for d in downlinks or ():
            if d.port == payload_codec.COMMAND:
                try:
                    self.handle_command(d.data)
                except Exception as e:
                    self._command_failed(d.data, e)

    def _command_failed(self, data, e):
        from payload_codec.downlink import NAMES, OPCODES
        from payload_codec.status import RESULTS

        s = self.state
        s.flags |= FLAG_STATUS_DUE
        s.cmd_op = data[1] if len(data) > 1 and data[1] in NAMES else OPCODES["request_status"]
        s.cmd_result = RESULTS.index("busy")
        self.log("node: command failed (%s: %s)" % (e.__class__.__name__, e))

    # --- downlinks --------------------------------------------------------------------
    def handle_command(self, data):
        """Apply a command frame (payload_codec.decode_downlink); a status reply follows."""
        from payload_codec.downlink import NAMES, OPCODES
        from payload_codec.status import RESULTS

        s = self.state
        s.flags |= FLAG_STATUS_DUE
        try:
            cmd = payload_codec.decode_downlink(data)
        except ValueError as e:  # CodecError is a ValueError
            self.log("node: bad command frame (%s)" % e)
            op = data[1] if len(data) > 1 and data[1] in NAMES else OPCODES["request_status"]
            s.cmd_op = op
            s.cmd_result = RESULTS.index("malformed")
            return
        # one result fits the status frame: the first failing command, else the last one
        last = 0
        fail_op = 0
        fail = _RESULT_OK
        changed = False
        for name in cmd:
            try:
                r, ch = self._apply(name, cmd[name])
            except Exception as e:  # e.g. the modem times out on AT+DR: "busy", try again
                self.log("node: %s failed (%s: %s)" % (name, e.__class__.__name__, e))
                r, ch = "busy", False
            changed = changed or ch
            last = OPCODES[name]
            if r != _RESULT_OK and not fail_op:
                fail_op = last
                fail = r
        result = fail
        if fail_op:
            last = fail_op
        s.cmd_op = last
        s.cmd_result = RESULTS.index(result)
        self.log("node: command %s -> %s" % (NAMES[last], result))
        if changed:
            self.state.save_overrides(self.overrides)  # flash write only on a change

    def _apply(self, name, v):
        cfg = self.cfg
        o = self.overrides
        if name == "set_interval_s" or name == "set_confirmed_every":
            key = "interval_s" if name == "set_interval_s" else "confirmed_every"
            cfg[key] = v
            o[key] = v
            return _RESULT_OK, True
        if name == "enable" or name == "disable":
            qs = list(cfg["quantities"])
            for q in v:
                if name == "enable":
                    if sensor_of(q, cfg) is None:
                        return "unsupported", False  # no fitted sensor measures it
                    if q not in qs:
                        qs.append(q)
                elif q in qs:
                    qs.remove(q)
            if not qs:
                return "out_of_range", False
            cfg["quantities"] = qs
            o["quantities"] = qs
            return _RESULT_OK, True
        if name == "set_data_rate":
            dr = v["dr"]
            if dr == 15:
                dr = cfg["data_rate"]
            if dr > 5:
                return "out_of_range", False
            self.modem.set_data_rate(dr, v["adr"])
            cfg["data_rate"] = dr
            cfg["adr"] = v["adr"]
            o["data_rate"] = dr
            o["adr"] = v["adr"]
            return _RESULT_OK, True
        if name == "request_status":
            return _RESULT_OK, False
        if name == "reboot":
            self.reboot_pending = True
            return _RESULT_OK, False
        return "unsupported", False  # announce_layout: this node sends profiles only

    # --- the cycle --------------------------------------------------------------------
    def run_cycle(self):
        """One wake; returns the ms to sleep. A live wake (its interval is due) measures and
        keeps the frames in the store before anything is sent; a wake in between (join retry,
        duty-cycle wait, catch-up) measures nothing (docs/firmware.md §4, §12)."""
        t0 = time.ticks_ms()
        s = self.state
        st = self.store
        cfg = self.cfg
        self.wdt.feed()
        now_s = self.board.now_ms() // 1000
        interval = cfg["interval_s"]
        left = st.next_live_s - now_s
        live = left <= 0 or left > interval  # a clock that jumped back (power loss): live
        self._warm_extra = 0
        frames = None
        parts = None
        if live:
            st.next_live_s = now_s + interval
            self._measure()
            parts = []  # the values of each frame: what the store keeps
            frames, dropped = build_frames(self.values, cfg["quantities"], self._limit(), parts)
            if dropped:
                s.dropped_frames += 1
        self.wdt.feed()
        try:
            wait = self._ensure_joined()
        except Exception as e:  # modem silent or confused (RakError): no reset loop, retry later
            s.tx_errors += 1
            self.log("node: modem error (%s: %s)" % (e.__class__.__name__, e))
            wait = interval * 1000
        self.wdt.feed()
        if wait:
            self._keep(frames, parts)
            st.since_proof = cfg["proof_every"]  # nothing went out: the first batch carries it
            s.save()
            return self._sleep_ms(t0, wait)
        if live:
            s.cycles += 1
            s.since_status += 1
        if cfg["status_every"] and s.since_status >= cfg["status_every"]:
            s.flags |= FLAG_STATUS_DUE
        if s.flags & FLAG_STATUS_DUE and not st.flags & FLAG_DOWN:  # while down it would be lost
            wait = self.ledger.wait_ms(self.board.now_ms())
            if wait:
                self._keep(frames, parts)
                st.since_proof = cfg["proof_every"]  # the kept frame goes in the next batch
                s.save()
                return self._sleep_ms(t0, wait)
            self._send_status()
        self._keep(frames, parts)
        if frames:
            self._send_live(frames)
        self._catch_up(live)
        s.save()
        if st.kept() or st.dropped:  # shown by trosmart monitor
            self.log("node: store kept=%d blocks=%d dropped=%d%s" % (
                st.kept(), st.blocks(), st.dropped, " link down" if st.flags & FLAG_DOWN else ""))
        if s.flags & FLAG_STATUS_DUE and not st.flags & FLAG_DOWN:  # a command arrived: answer soon
            w = self.ledger.wait_ms(self.board.now_ms())
            return self._sleep_ms(t0, w if w > 0 else 1, True)
        return self._sleep_ms(t0, self._catch_up_wake_ms(), True)

    def _sleep_ms(self, t0, wait, full=False):
        """``wait`` (ms from now), never past the next live wake; a wake that went the whole
        way logs the cycle's figures."""
        self.store.save()  # its header (proof due, next live wake) survives the deep sleep
        if full:
            awake = time.ticks_diff(time.ticks_ms(), t0) + self._warm_extra
            gc.collect()
            self.log("node: cycle %d awake_ms=%d free=%d warmup_ms=%d" % (
                self.state.cycles, awake, gc.mem_free(), self.warmup_ms))
        due = self.store.next_live_s * 1000 - self.board.now_ms()
        if wait is None or wait > due:
            wait = due
        return wait if wait > 0 else 1

    def _send_status(self):
        s = self.state
        st = self.store
        frame = self.status_frame()
        _drop_status_encoder()  # a status frame is rare: its encoder does not stay in the heap
        kept = (s.status_cause, s.since_status, s.cmd_op)
        dropped = st.dropped
        s.flags &= ~FLAG_STATUS_DUE
        s.status_cause = 0
        s.since_status = 0
        s.cmd_op = 0
        try:
            self._send(payload_codec.STATUS, frame, False)
        except Exception as e:  # modem error: the status and its command result go next time
            s.tx_errors += 1
            s.flags |= FLAG_STATUS_DUE
            s.status_cause = s.status_cause or kept[0]
            s.since_status = kept[1]
            s.cmd_op = s.cmd_op or kept[2]  # a command that came meanwhile is newer
            st.flags |= FLAG_DOWN
            self.log("node: status send failed (%s: %s)" % (e.__class__.__name__, e))
            return
        st.dropped -= dropped  # reported (drops since the frame was built stay counted)
        self.log("node: status sent (%d B)" % len(frame))
        self.wdt.feed()
        if self.reboot_pending:
            self.log("node: rebooting on command")
            self.board.reset()

    def _keep(self, frames, parts):
        """The cycle's samples (the values of each frame) into the store, stamped with the
        board's second."""
        if frames:
            st = self.store
            t = self.board.now_ms() // 1000
            d = st.dropped
            for i in range(len(frames)):
                st.append(t, parts[i])
                self.log("node: kept %s at %d" % (frames[i].hex(), t))
            if st.dropped != d:  # a full store dropped its oldest block: say so in a status
                self.state.flags |= FLAG_STATUS_DUE

    def _proof_due(self):
        st = self.store
        n = self.cfg["proof_every"]
        return st.since_proof >= n or st.n >= n

    def _catching_up(self):
        st = self.store
        return st.flags & FLAG_DOWN or st.backlog() or (st.n and self._proof_due())

    def _send_live(self, frames):
        """The live frames (the newest records). While the link is down the catch-up probe goes
        instead; when a proof is due and all kept records fit one batch, that batch replaces them."""
        s = self.state
        st = self.store
        if st.flags & FLAG_DOWN:
            return
        st.since_proof += 1
        if self._proof_due() and not st.backlog() and st.call("send", self, True):
            return  # the live samples rode in the proof batch
        cfm = False
        for i in range(len(frames)):
            if self.ledger.wait_ms(self.board.now_ms()):
                st.since_proof = self.cfg["proof_every"]  # kept: the next batch carries it
                break
            counter = s.take_counter()
            s.save()
            every = self.cfg["confirmed_every"]
            confirmed = bool(every) and counter % every == 0
            try:
                self._send(payload_codec.MEASUREMENT, frames[i], confirmed)
            except Exception as e:  # typed RakError subclasses; the store keeps the frame
                s.tx_errors += 1
                st.flags |= FLAG_DOWN
                self.log("node: send failed (%s: %s)" % (e.__class__.__name__, e))
                break
            cfm = confirmed and i == len(frames) - 1
            self.log("node: sample %d at %d sent %s" % (counter, self.board.now_ms(), frames[i].hex()))
            self.wdt.feed()
        if cfm:
            st.call("acked")  # a confirmed uplink's ack proves the newest record

    def _catch_up(self, live):
        """At most one catch-up batch (oldest first, with a link check) per wake, and only if
        the band is free again before the next live wake (the live frame is never delayed)."""
        st = self.store
        if not self._catching_up():
            return
        now = self.board.now_ms()
        if self.ledger.wait_ms(now):
            return
        if not (live and st.flags & FLAG_DOWN):  # a probe on a live wake stands for the live frame
            if now + self._frame_off_ms() > st.next_live_s * 1000:
                return
        st.call("send", self, False)

    def _frame_off_ms(self):
        # the band stays closed 100 x the airtime of a full frame (duty_cycle.py)
        return airtime_us(self._batch_limit(), self.cfg["data_rate"]) // 10

    def _catch_up_wake_ms(self):
        """ms to the next catch-up wake (None: the next live wake)."""
        st = self.store
        if not self._catching_up() or st.flags & FLAG_DOWN:
            return None
        now = self.board.now_ms()
        w = self.ledger.wait_ms(now)
        if now + w + self._frame_off_ms() > st.next_live_s * 1000:
            return None
        return w if w > 0 else 1


def _drop_status_encoder():
    """Remove the status encoder (payload_codec.status and its CBOR module, about 8 KB of heap
    as .mpy) from sys.modules; the next status frame imports it again (docs/firmware.md §12)."""
    import sys

    for name in ("payload_codec.status", "payload_codec.cbor"):
        if name in sys.modules:
            del sys.modules[name]
    for name in ("status", "cbor"):
        if name in payload_codec.__dict__:
            del payload_codec.__dict__[name]


class _RamRtc:
    """RTC memory stand-in for a Node built without one (tests, tools)."""

    def __init__(self):
        self.mem = b""

    def memory(self, data=None):
        if data is None:
            return self.mem
        self.mem = bytes(data)


def _config_hash(cfg):
    """A stable 32-bit hash of the applied configuration (status key 5). Here, not in
    node_config: main.py drops node_config after boot (its schema is boot-time only)."""
    import binascii

    keys = sorted(cfg)  # MicroPython dicts are not ordered: sort for a stable hash
    h = 0
    for k in keys:
        h = binascii.crc32(("%s=%r;" % (k, cfg[k])).encode(), h)
    return h & 0xFFFFFFFF
