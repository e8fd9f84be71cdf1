"""The bridge's own types at the boundary: what a parser makes of an LNS message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class InMessage(NamedTuple):
    """One MQTT message as a connection received it (a tuple: cheap to hand to the worker
    process)."""

    conn: str
    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int
    retain: bool = False
    # set when the main process kept only the first bytes of a message larger than
    # ``max_message_bytes`` (its full size): it is dead-lettered as ``oversize``, never parsed
    truncated_from: int | None = None


# Reception and Uplink are made once per message and never changed afterwards; they are not
# frozen because a frozen dataclass pays object.__setattr__ per field (docs/bridge.md §9).
@dataclass(slots=True)
class Reception:
    """One gateway's reception of an uplink."""

    gateway: str
    rssi: float | None
    snr: float | None


@dataclass(slots=True)
class Uplink:
    """An uplink as both network servers report it, with absent fields as None."""

    lns: str  # "chirpstack" | "tts"
    dev_eui: str  # 16 lower-case hex digits (the city's device id)
    dedupe_key: str
    received_at: float  # Unix seconds: the network server's reception time
    f_port: int | None
    f_cnt: int | None
    data: bytes
    object: dict[str, Any] | None = None  # LNS codec output (ChirpStack object / TTS decoded_payload)
    device_name: str | None = None
    application_id: str | None = None
    confirmed: bool | None = None
    adr: bool | None = None
    dr: int | None = None
    frequency: int | None = None
    spreading_factor: int | None = None
    bandwidth: int | None = None
    coding_rate: str | None = None
    session_key_id: str | None = None
    receptions: tuple[Reception, ...] = ()
    down_topic: str | None = None  # where a downlink for this device goes on the same broker
    time_source: str = "network_server"  # whose clock received_at is: | "gateway" | "bridge"
    # the network server's tags/attributes and device location, sanitised (lns_meta.py):
    # None = the message does not say; {} = it says there are none
    tags: dict[str, str] | None = None
    location: dict[str, Any] | None = None

    def best_reception(self) -> Reception | None:
        """Gateway with the highest SNR (then RSSI); None without gateway metadata."""
        best = None
        for r in self.receptions:
            key = (r.snr if r.snr is not None else -99.0, r.rssi if r.rssi is not None else -999.0)
            if best is None or key > best[0]:
                best = (key, r)
        return best[1] if best else None


@dataclass(frozen=True)
class DeviceEvent:
    """A non-uplink event: join, status, downlink outcome or log entry."""

    lns: str
    kind: str  # join | status | queued | sent | acked | failed | log
    dev_eui: str | None
    received_at: float
    command_id: str | None = None  # our id, when the event answers one of our downlinks
    reason: str | None = None
    battery_level: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ignored:
    """A message on a subscribed topic that carries nothing for the bridge."""

    why: str


Event = Uplink | DeviceEvent | Ignored
