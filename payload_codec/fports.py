"""The fPort plan: which LoRaWAN port carries which frame kind (docs/codec.md §1).

Both directions use LoRaWAN application ports 1..223 (0 is MAC-only, 224+ reserved).
"""

MEASUREMENT = 1  # uplink: measurement frames (single sample or batch)
STATUS = 2  # uplink: status frame (CBOR)
LAYOUT = 3  # uplink: layout announcement
COMMAND = 10  # downlink: commands

UPLINK_KINDS = {MEASUREMENT: "measurement", STATUS: "status", LAYOUT: "layout"}
