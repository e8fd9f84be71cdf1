"""TroSmart bridge: LoRaWAN network server MQTT (ChirpStack v4, The Things Stack v3) to the
city's MQTT backend as SenML, with a durable SQLite outbox (docs/bridge.md).

Pipeline: parse -> dedupe -> decode -> SenML -> outbox -> sinks. The pure modules
(``chirpstack`` and ``tts``, each the one home of its network server's JSON, ``dedupe``,
``topics``, ``decoding``, ``meta``, ``commands``) do no I/O;
``mqtt`` is the only module that uses paho's public API and ``paho_private`` the only one
that uses its private names; ``store`` is the only one that touches SQLite.
"""

from .errors import BridgeError, ConfigError, InputError

__all__ = ["BridgeError", "ConfigError", "InputError"]
