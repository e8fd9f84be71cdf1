"""A live fuzz run of the bridge (issue 11): messages mutated from faithful ChirpStack and TTS
messages (tests/bridge/lns.py) and random ones, on random topics of the source and the city
side (long, non-ASCII, wildcard-like), published through mosquitto into the bridge running as
a subprocess. Afterwards the bridge must be healthy, a normal stream must arrive complete,
peak RSS must stay bounded, and every fuzz message the broker delivered must be counted once
in ``trosmart_bridge_inputs_total{outcome}``.

Used by tests/bridge/test_fuzz.py (a scaled-down run in ``make test``) and by
tests/bench/bench_fuzz.py (the full million, ``make bench BENCH_ARGS=fuzz``).
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

import payload_codec
from tests.bridge import harness, lns
from trosmart_tools.broker import Mosquitto

EUIS = ["70b3d57ed0f0%04x" % i for i in range(200)]  # the fuzzed devices (a bounded table)
NORMAL_EUIS = ["70b3d57ed100%04x" % i for i in range(50)]
FRAME = payload_codec.encode({"temperature": 21.4, "humidity": 50, "pressure": 1013.2,
                              "battery_voltage": 3.7})
# the TTS subscription without down/push: mosquitto (unlike TTS) would hand the bridge's own
# downlinks back to it, which are no fuzz messages
TTS_TOPICS = ["v3/+/devices/+/up", "v3/+/devices/+/join", "v3/+/devices/+/down/queued",
              "v3/+/devices/+/down/sent", "v3/+/devices/+/down/ack", "v3/+/devices/+/down/nack",
              "v3/+/devices/+/down/failed"]
CS_TOPICS = ["application/+/device/+/event/+"]
CITY_TOPICS = [harness.PREFIX + "/+/command"]
FILTERS = CS_TOPICS + TTS_TOPICS + CITY_TOPICS
# topic text: printable ASCII without the wildcards, and characters that look like them or
# grow when lower-cased; never NUL, '+', '#' or a surrogate (a broker refuses those, MQTT 5
# §4.7.3, and disconnects the publisher)
_ASCII = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "+#")
_ODD = "İéßø😀＋＃﹢﹟⁺₊٭∗ＡＦ０９ 　\u200b\u202e"
_EVENTS = ["up", "join", "status", "ack", "txack", "log", "location", "integration", "UP", "up/x", ""]
_TTS_EVENTS = ["up", "join", "down/queued", "down/sent", "down/ack", "down/nack", "down/failed",
               "down/push", "service/data", "up/"]


def matches(flt: str, topic: str) -> bool:
    """MQTT topic matching (MQTT 5 §4.7): ``+`` one level, ``#`` the rest; a topic starting
    with ``$`` is not matched by a filter starting with a wildcard (ours never do)."""
    f, t = flt.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


def delivered(topic: str) -> bool:
    return any(matches(f, topic) for f in FILTERS)


class Fuzzer:
    """Deterministic for a seed: (topic, payload) pairs."""

    def __init__(self, seed: int, long_topic_share: float = 0.002) -> None:
        self.rnd = random.Random(seed)
        self.long_share = long_topic_share
        self.n = 0

    # --- topics ----------------------------------------------------------------------
    def text(self, lo: int = 1, hi: int = 12) -> str:
        r = self.rnd
        k = r.randint(lo, hi)
        if r.random() < 0.3:
            return "".join(r.choice(_ODD + _ASCII) for _ in range(k))
        return "".join(r.choice(_ASCII) for _ in range(k))

    def level(self, good: str) -> str:
        r = self.rnd.random()
        if r < 0.6:
            return good
        if r < 0.6 + self.long_share:
            # a long topic level (no "/": mosquitto 2.0 refuses topics of more than 200 levels)
            return self.text(1, 3).replace("/", "_") * self.rnd.randint(5000, 20_000)
        if r < 0.8:
            return self.text()
        if r < 0.9:
            return good.upper() if self.rnd.random() < 0.5 else good[:-1] + "＋"
        return ""  # an empty level

    def topic(self) -> tuple[str, str]:
        """(kind, topic): kind says which message the payload is mutated from."""
        r, rnd = self.rnd.random(), self.rnd
        eui = rnd.choice(EUIS)
        if r < 0.45:
            t = f"application/{self.level(lns.APP_ID)}/device/{self.level(eui)}/event/" + \
                rnd.choice(_EVENTS)
            kind = "cs"
        elif r < 0.75:
            t = f"v3/{self.level(lns.TTS_APP)}/devices/{self.level('tro-' + eui[-4:])}/" + \
                rnd.choice(_TTS_EVENTS)
            kind = "tts"
        elif r < 0.95:
            t = f"{harness.PREFIX}/{self.level(eui)}/command"
            if rnd.random() < 0.05:
                t += "/" + self.text()
            kind = "command"
        else:
            t = "/".join(self.text() for _ in range(rnd.randint(1, 6))).lstrip("$")  # $SYS...
            kind = "random"
        if len(t.encode()) > 65_535:
            t = t.encode()[:65_535].decode(errors="ignore")
        return kind, t or "x"

    # --- payloads ----------------------------------------------------------------------
    def base(self, kind: str) -> Any:
        rnd = self.rnd
        eui = rnd.choice(EUIS)
        self.n += 1
        data = FRAME if rnd.random() < 0.5 else rnd.randbytes(rnd.randint(0, 60))
        if kind == "cs":
            return lns.cs_up(eui, rnd.randint(0, 70_000), data, f_port=rnd.choice([0, 1, 2, 3, 10, 200]),
                             t=1767225600 + self.n, dedup=f"fuzz-{self.n}-{rnd.random()}",
                             variant=rnd.choice(["modern", "old"]),
                             obj={"a": {"b": rnd.random()}} if rnd.random() < 0.2 else None)
        if kind == "tts":
            return lns.tts_up(eui, rnd.randint(0, 70_000), data, f_port=rnd.choice([1, 2, 3]),
                              t=1767225600 + self.n, variant=rnd.choice(["new", "old"]))
        if kind == "command":
            cmd = rnd.choice([{"set_interval_s": rnd.randint(-10, 100_000)}, {"announce_layout": True},
                              {"reboot": True}, {"nonsense": [1, 2]}, {}])
            if rnd.random() < 0.5:
                cmd["id"] = self.text() if rnd.random() < 0.8 else rnd.randint(0, 9)
            return cmd
        return {"x": self.text()}

    def mutate(self, doc: Any, depth: int = 0) -> Any:
        rnd = self.rnd
        if isinstance(doc, dict) and doc:
            doc = dict(doc)
            k = rnd.choice(list(doc))
            op = rnd.random()
            if op < 0.3:
                del doc[k]
            elif op < 0.6 and depth < 4:
                doc[k] = self.mutate(doc[k], depth + 1)
            else:
                doc[k] = self.value()
            return doc
        if isinstance(doc, list) and doc:
            return [self.mutate(x, depth + 1) for x in doc]
        return self.value()

    def value(self) -> Any:
        rnd = self.rnd
        return rnd.choice([None, True, 0, -1, 2**63, 1e308, float("inf"), "", self.text(),
                           "2026-13-45T99:99:99Z", base64.b64encode(rnd.randbytes(9)).decode(),
                           [], {}, [self.text()], {"k": self.text()}, "A" * rnd.randint(0, 3000)])

    def payload(self, kind: str) -> bytes:
        rnd = self.rnd
        r = rnd.random()
        doc = self.base(kind)
        if r < 0.25:
            return json.dumps(doc).encode()
        if r < 0.6:
            for _ in range(rnd.randint(1, 4)):
                doc = self.mutate(doc)
            return json.dumps(doc, allow_nan=True).encode()
        raw = bytearray(json.dumps(doc).encode())
        if r < 0.8 and raw:
            for _ in range(rnd.randint(1, 8)):
                raw[rnd.randrange(len(raw))] = rnd.randrange(256)
            return bytes(raw)
        if r < 0.9:
            return bytes(raw[:rnd.randint(0, len(raw))])
        if r < 0.995:
            return rnd.randbytes(rnd.randint(0, 300))
        return rnd.randbytes(rnd.randint(65_537, 200_000))  # above max_message_bytes

    def message(self) -> tuple[str, bytes]:
        kind, topic = self.topic()
        return topic, self.payload(kind if kind != "random" else rnd_kind(self.rnd))


def rnd_kind(rnd: random.Random) -> str:
    return rnd.choice(["cs", "tts", "command"])


class FastPublisher:
    """paho at QoS 1 with a window, counting PUBACKs (no per-message objects kept)."""

    def __init__(self, port: int, client_id: str, window: int = 2000) -> None:
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.c.max_inflight_messages_set(window)
        self.c.max_queued_messages_set(0)
        self.window = window
        self.cond = threading.Condition()
        self.sent = self.acked = self.disconnects = 0
        self.connected = threading.Event()
        self.c.on_connect = lambda c, u, f, rc, p: self.connected.set()
        self.c.on_disconnect = self._gone
        self.c.on_publish = self._acked
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise AssertionError("fuzz publisher did not connect")

    def _gone(self, *_a: Any) -> None:
        self.disconnects += 1

    def _acked(self, *_a: Any) -> None:
        with self.cond:
            self.acked += 1
            self.cond.notify_all()

    def publish(self, topic: str, payload: bytes) -> None:
        with self.cond:
            while self.sent - self.acked >= self.window:
                if not self.cond.wait(60):
                    raise AssertionError("the broker stopped acknowledging the fuzz publisher")
        self.sent += 1
        info = self.c.publish(topic, payload, qos=1)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise AssertionError(f"publish failed: {paho.error_string(info.rc)}")

    def wait_all(self, timeout_s: float) -> None:
        harness.wait_until(lambda: self.acked >= self.sent, timeout_s,
                           f"PUBACK for {self.sent} fuzz messages", self.cond)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@dataclass
class FuzzReport:
    published: int = 0
    delivered: int = 0  # matched one of the bridge's subscriptions
    outcomes: dict[str, float] = field(default_factory=dict)
    dead_letter_reasons: dict[str, float] = field(default_factory=dict)
    rejected_reasons: dict[str, float] = field(default_factory=dict)
    normal: int = 0
    rss_main_mib: float = 0.0
    rss_worker_mib: float = 0.0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [f"fuzz messages published: {self.published:,}, delivered to the bridge's "
                f"subscriptions: {self.delivered:,} (the rest matched none), in {self.seconds:.0f} s",
                "inputs by outcome: " + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(self.outcomes.items())),
                "dead letters by reason: " + ", ".join(f"{k} {v:,.0f}" for k, v in
                                                      sorted(self.dead_letter_reasons.items())),
                "rejected without a row: " + ", ".join(f"{k} {v:,.0f}" for k, v in
                                                       sorted(self.rejected_reasons.items())),
                f"normal uplinks afterwards: {self.normal:,} of {self.normal:,} at the city",
                f"peak RSS: main {self.rss_main_mib:.0f} MiB, worker {self.rss_worker_mib:.0f} MiB"]


def _samples(text: str, name: str, label: str) -> dict[str, float]:
    rx = re.compile("^" + re.escape(name) + r"\{" + label + r'="([^"]*)"\} ([0-9.e+]+)$', re.M)
    return {m.group(1): float(m.group(2)) for m in rx.finditer(text)}


def _hwm_mib(pid: int) -> float:
    m = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert m
    return int(m.group(1)) / 1024


def run(tmp: Path, n_fuzz: int, n_normal: int, seed: int = 11, progress: bool = False) -> FuzzReport:
    """The whole run; AssertionError when a rule of the module docstring does not hold."""
    broker = Mosquitto().start()
    rep = FuzzReport()
    t0 = time.monotonic()
    sources = [{"name": "cs", "lns": "chirpstack", "port": broker.port, "topics": CS_TOPICS},
               {"name": "tts", "lns": "tts", "port": broker.port, "topics": TTS_TOPICS}]
    doc = harness.bridge_doc(tmp / "state", broker.port, broker.port, sources=sources,
                             retained_values=True)
    col = harness.Collector(broker.port, topic=harness.PREFIX + "/+/senml", client_id="fuzz-col")
    bp = harness.BridgeProcess(doc, tmp).start()
    pub = FastPublisher(broker.port, "fuzz-pub")
    normal = harness.Publisher(broker.port, client_id="fuzz-normal")
    try:
        fz = Fuzzer(seed)
        for i in range(n_fuzz):
            topic, payload = fz.message()
            pub.publish(topic, payload)
            rep.published += 1
            rep.delivered += delivered(topic)
            if progress and i and i % 100_000 == 0:
                print(f"  {i:,} fuzz messages published ({time.monotonic() - t0:.0f} s)", flush=True)
        pub.wait_all(600)
        assert pub.disconnects == 0, "the broker disconnected the fuzz publisher"

        def inputs() -> float:
            return sum(_samples(bp.metrics(), "trosmart_bridge_inputs_total", "outcome").values())

        harness.wait_until(lambda: inputs() >= rep.delivered, max(120, n_fuzz / 1000),
                           f"{rep.delivered} fuzz messages handled")
        code = urlopen_health(bp.port)
        assert code == 200, "the bridge is not healthy after the fuzz run"
        for i in range(n_normal):  # the normal stream afterwards
            eui = NORMAL_EUIS[i % len(NORMAL_EUIS)]
            normal.publish(lns.cs_topic(eui), lns.dumps(lns.cs_up(
                eui, i // len(NORMAL_EUIS), FRAME, t=1767225600 + i, dedup=f"after-{i}")))
            if len(normal.infos) > 5000:
                normal.wait_all(120)
                normal.infos.clear()
        normal.wait_all(120)
        harness.wait_until(lambda: len({k for k in col.senml_keys() if "70b3d57ed100" in k[0]})
                           >= n_normal, 300, f"{n_normal} normal uplinks", col.cond)
        rep.normal = len({k for k in col.senml_keys() if "70b3d57ed100" in k[0]})
        text = bp.metrics()
        rep.outcomes = _samples(text, "trosmart_bridge_inputs_total", "outcome")
        rep.dead_letter_reasons = _samples(text, "trosmart_bridge_decode_errors_total", "reason")
        rep.rejected_reasons = _samples(text, "trosmart_bridge_rejected_inputs_total", "reason")
        expected = rep.delivered + n_normal
        harness.wait_until(lambda: inputs() >= expected, 30, "the last counters reported")
        rep.outcomes = _samples(bp.metrics(), "trosmart_bridge_inputs_total", "outcome")
        total = sum(rep.outcomes.values())
        assert total == expected, (
            f"{total:.0f} inputs counted, {rep.delivered + n_normal} delivered: not every message "
            "is accounted for")
        assert rep.normal == n_normal
        assert urlopen_health(bp.port) == 200
        assert bp.proc is not None
        rep.rss_main_mib, rep.rss_worker_mib = _hwm_mib(bp.proc.pid), _hwm_mib(bp.worker_pid())
        assert bp.terminate() == 0
        rep.seconds = time.monotonic() - t0
        return rep
    except AssertionError as e:
        tail = bp.log.read_text(errors="replace").splitlines()[-10:] if bp.log.exists() else []
        raise AssertionError(f"{e}\n--- bridge log tail ---\n" + "\n".join(x[:400] for x in tail)) from e
    finally:
        bp.close()
        pub.close()
        normal.close()
        col.close()
        broker.close()


def urlopen_health(port: int) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
