"""``trosmart provision``: DevEUIs and keys for a batch of nodes, registered where the network runs.

    trosmart provision --block 70b3d57ed0001000:50 --out secrets/ \\
        --chirpstack chirpstack.example:8080 --tls --application-id UUID --device-profile-id UUID
    trosmart provision --from-ports all --out secrets/ --tts-csv tts.csv --tts-json tts.json

DevEUIs come from the chips' MACs (--from-ports, EUI-64), an assigned block (--block START:COUNT)
or a list (--deveui, repeatable). Each node gets ``OUT/<deveui>.secrets.json`` (0600, the file
``trosmart flash --secrets`` takes); a rerun keeps the keys there. ChirpStack's API key comes from
$TROSMART_CHIRPSTACK_API_KEY or --api-key-file (0600). Keys are printed only with --show-keys.
Exit status 0 when every device is done, 1 when one failed, 2 on an error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "provision"
HELP = "make DevEUIs and keys, write the nodes' secrets, register in ChirpStack or write TTS import files"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("devices (one of)")
    src.add_argument("--block", metavar="START:COUNT", help="COUNT DevEUIs from START (an assigned block)")
    src.add_argument("--deveui", action="append", default=[], metavar="EUI", help="a DevEUI (repeatable)")
    src.add_argument("--from-ports", metavar="all|P1,P2", help="DevEUI from each connected chip's MAC (EUI-64)")
    p.add_argument("--join-eui", default="0000000000000000", help="JoinEUI (AppEUI) of every device")
    p.add_argument("--name-prefix", default="trosmart-", help="device names: PREFIX + DevEUI")
    p.add_argument("--out", default="secrets", help="folder for the nodes' secrets files (default secrets/)")
    p.add_argument("--show-keys", action="store_true", help="print the AppKeys (they are never printed otherwise)")
    cs = p.add_argument_group("ChirpStack v4 (gRPC API)")
    cs.add_argument("--chirpstack", metavar="HOST:PORT", help="register the devices in this ChirpStack")
    cs.add_argument("--application-id", help="ChirpStack application UUID")
    cs.add_argument("--device-profile-id", help="ChirpStack device profile UUID (LoRaWAN 1.0.x, EU868, OTAA)")
    cs.add_argument("--api-key-file", help="file holding the API key, mode 0600 (else $TROSMART_CHIRPSTACK_API_KEY)")
    cs.add_argument("--tls", action="store_true", help="TLS to the gRPC API")
    cs.add_argument("--ca", help="CA certificate for --tls")
    cs.add_argument("--insecure", action="store_true", help="allow cleartext to a host other than this machine")
    tts = p.add_argument_group("The Things Stack v3 (import files)")
    tts.add_argument("--tts-csv", metavar="FILE", help="write a the-things-stack-csv import file (0600)")
    tts.add_argument("--tts-json", metavar="FILE", help="write an end-device JSON stream for ttn-lw-cli (0600)")
    tts.add_argument("--frequency-plan", default="EU_863_870_TTN")
    tts.add_argument("--lorawan-version", default="MAC_V1_0_3", help="default MAC_V1_0_3 (the RAK3172's RUI3)")
    tts.add_argument("--phy-version", default="RP001_V1_0_3_REV_A")


def _deveuis(args: argparse.Namespace) -> list[str]:
    from ..device import provision as prov

    chosen = [bool(args.block), bool(args.deveui), bool(args.from_ports)]
    if sum(chosen) != 1:
        raise prov.ProvisionError("say where the DevEUIs come from: one of --block, --deveui or --from-ports")
    if args.block:
        start, _, count = args.block.partition(":")
        try:
            n = int(count)
        except ValueError:
            raise prov.ProvisionError(f"--block wants START:COUNT, got {args.block!r}") from None
        return prov.block(start, n)
    if args.deveui:
        return [prov.eui(e, "DevEUI") for e in args.deveui]
    from ..device import probe
    from ..device.flash import eui64_from_mac
    from .flash import discover_ports

    ports = discover_ports() if args.from_ports == "all" else [p for p in args.from_ports.split(",") if p]
    if not ports:
        raise prov.ProvisionError("no serial ports found: plug the boards in (or name them: --from-ports P1,P2)")
    out = []
    for port in ports:
        info, _ = probe.probe(port)
        e = eui64_from_mac(info.chip_id)
        if not e:
            raise prov.ProvisionError(f"the chip on {port} has no usable MAC ({info.chip_id!r}): use --block")
        out.append(e)
    return out


def run(args: argparse.Namespace) -> int:
    from ..device import provision as prov
    from ..secretfile import write_secret

    if args.chirpstack and not (args.application_id and args.device_profile_id):
        raise prov.ProvisionError("--chirpstack needs --application-id and --device-profile-id")
    api_key = prov.read_api_key(args.api_key_file) if args.chirpstack else ""
    joineui = prov.eui(args.join_eui, "JoinEUI")
    out = Path(args.out)
    devices = []
    for e in dict.fromkeys(_deveuis(args)):  # a DevEUI twice is one device
        dev, created = prov.load_or_create(out, e, joineui, args.name_prefix + e)
        devices.append(dev)
        key = f" appkey {dev.appkey}" if args.show_keys else ""
        print(f"{dev.deveui} {dev.name}: secrets {'written' if created else 'kept'} "
              f"({out / (dev.deveui + '.secrets.json')}){key}", flush=True)
    failed = 0
    if args.chirpstack:
        for r in prov.chirpstack_register(devices, server=args.chirpstack, api_key=api_key,
                                          application_id=args.application_id,
                                          device_profile_id=args.device_profile_id, tls=args.tls,
                                          ca_file=args.ca, insecure=args.insecure):
            failed += r.outcome == "failed"
            print(f"{r.deveui} chirpstack: {r.outcome}{': ' + r.detail if r.detail else ''}", flush=True)
    opts = {"frequency_plan": args.frequency_plan, "mac": args.lorawan_version, "phy": args.phy_version}
    if args.tts_csv:
        write_secret(Path(args.tts_csv), prov.tts_csv(devices, **opts))
        print(f"wrote {args.tts_csv} ({len(devices)} devices; Console: Import end devices, "
              "format 'The Things Stack CSV')", flush=True)
    if args.tts_json:
        write_secret(Path(args.tts_json), prov.tts_json(devices, **opts))
        print(f"wrote {args.tts_json} (ttn-lw-cli end-devices create --application-id APP < {args.tts_json})",
              flush=True)
    print(f"{len(devices) - failed} of {len(devices)} devices provisioned", flush=True)
    return 1 if failed else 0
