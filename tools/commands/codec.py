"""``trosmart codec export-js|export-ttn``: the codec for network servers (docs/interop.md).

export-js writes the TS013 JavaScript package: index.js (ECMAScript 5.1, < 40 KB,
deterministic), metadata.json, examples.json (from the corpus), uplink/downlink JSON Schemas
and a TTN device-repository codec YAML. export-ttn writes a vendor tree to copy into a
checkout of TheThingsNetwork/lorawan-devices (also ChirpStack's device-profile templates).
"""

from __future__ import annotations

import argparse

NAME = "codec"
HELP = "export the payload codec for network servers (TS013 JavaScript package)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="codec_cmd", metavar="ACTION", required=True)
    e = sub.add_parser("export-js", help="write index.js and its package files")
    e.add_argument("--out", default="codec-js", metavar="DIR", help="output directory (default: codec-js)")
    e.add_argument("--lpp-fport", type=int, action="append", default=[], metavar="N",
                   help="decode this fPort as Cayenne LPP (repeatable; for LPP devices)")
    t = sub.add_parser("export-ttn", help="write a Device Repository vendor tree (TTN lorawan-devices, ChirpStack)")
    t.add_argument("--out", required=True, metavar="DIR", help="output directory (its vendor/ goes into the checkout)")
    t.add_argument("--vendor-id", default="trosmart", metavar="ID", help="vendor id (default: trosmart)")
    t.add_argument("--product-url", default=None, metavar="URL",
                   help="the devices' productURL: where the project's docs are published")


def run(args: argparse.Namespace) -> int:
    if args.codec_cmd == "export-ttn":
        return _export_ttn(args)
    from ..codec_js.package import export

    sizes = export(args.out, tuple(args.lpp_fport))
    for name in sorted(sizes):
        print("%-24s %7d bytes" % (name, sizes[name]))
    print("wrote %s" % args.out)
    return 0


def _export_ttn(args: argparse.Namespace) -> int:
    from ..codec_js import devrepo
    from ..codec_js.generate import BUDGET, MAX_SIZE

    sizes = devrepo.export_ttn(args.out, args.vendor_id, args.product_url or devrepo.PLACEHOLDER_URL)
    for name in sorted(sizes):
        print("%-44s %7d bytes" % (name, sizes[name]))
    js = sizes["vendor/%s/%s.js" % (args.vendor_id, devrepo.CODEC_STEM)]
    print("codec: %d bytes, %.1f %% of The Things Stack's %d-byte limit (budget %d)"
          % (js, 100 * js / MAX_SIZE, MAX_SIZE, BUDGET))
    if js > BUDGET:
        print("warning: the codec is over the generator's budget: shorten it before adding quantities")
    if args.product_url is None:
        print("note: productURL is a placeholder; pass --product-url with the published docs address "
              "before submitting")
    print("wrote %s: copy its vendor/ into a lorawan-devices checkout, then run "
          "`make validate VENDOR_ID=%s` there (docs/interop.md §4)" % (args.out, args.vendor_id))
    return 0
