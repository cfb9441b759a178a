"""Read guest and host device trees back with xendt's Python API, as a CI
script or an image builder's QA step would: the address map, the rules a
guest's consumers apply, a comparison, and what Xen gives dom0 on a board.

    python examples/inspect_dtb.py guest.dtb [other.dtb] [--board board.dtb --xen 4.19]
"""

from __future__ import annotations

import argparse

import xendt


def main() -> int:
    parser = argparse.ArgumentParser(description="inspect Xen guest and host DTBs")
    parser.add_argument("guest", help="a guest DTB (xendt build output, a libxl dump, ...)")
    parser.add_argument("other", nargs="?", help="a second guest DTB to compare with")
    parser.add_argument("--pa-bits", type=int, default=40)
    parser.add_argument("--board", help="a host DTB: print the regions Xen gives dom0")
    parser.add_argument("--xen", help="the board's Xen version (default: the newest)")
    args = parser.parse_args()

    try:
        tree = xendt.read_dtb(args.guest)
        amap = xendt.address_map(tree)
        print(f"{args.guest}: Xen {amap.xen.version} ({amap.xen.source})")
        for entry in amap.entries:
            print(f"  {entry.base:#014x} {entry.size:#014x}  {entry.what}")
        report = xendt.check(tree, pa_bits=args.pa_bits)
        for finding in report.findings:
            print(f"  {finding}")
        print(f"  {report.errors} errors, {report.count('warning')} warnings")
        if args.other:
            changes = xendt.diff(tree, xendt.read_dtb(args.other))
            print("same" if changes.same else changes.text(), end="" if not changes.same else "\n")
        if args.board:
            dom0 = xendt.host_regions(args.board, xen=args.xen, iommu=True)
            print(f"{args.board}: Xen {dom0.xen} gives dom0 ({dom0.finder}):")
            for region in dom0.regions:
                print(f"  extended region {region}")
    except xendt.XendtError as e:
        raise SystemExit(f"error: {e}") from None
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
