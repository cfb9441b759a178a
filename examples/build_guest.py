"""Build a guest's device tree with xendt's Python API, as an image builder
(Yocto, ImageBuilder, a script) would: from an xl.cfg file or from code.

    python examples/build_guest.py [guest.cfg] [--xen 4.21] [-o guest.dtb]
"""

from __future__ import annotations

import argparse

import xendt


def main() -> None:
    parser = argparse.ArgumentParser(description="build a Xen Arm guest DTB")
    parser.add_argument("config", nargs="?", help="xl.cfg file (default: a 1 GiB guest built in code)")
    parser.add_argument("--xen", help="the Xen version (default: the newest xendt knows)")
    parser.add_argument("--pa-bits", type=int, default=40)
    parser.add_argument("-o", "--output", default="guest.dtb")
    args = parser.parse_args()

    if args.config:
        guest, warnings = xendt.load_xl_config(args.config)
        for warning in warnings:
            print("warning:", warning)
    else:
        guest = xendt.GuestConfig(memory_mib=1024, max_vcpus=2, gic_version="v3", vuart=True,
                                  cmdline="console=hvc0 root=/dev/xvda",
                                  kernel=xendt.Kernel("arm64", size=30 << 20),
                                  ramdisk_size=8 << 20)
    # A fixed seed keeps the image reproducible; leave it out for random bytes like libxl.
    host = xendt.Host(xen=args.xen, pa_bits=args.pa_bits, rng_seed=bytes(128))
    try:
        result = xendt.build(guest, host)
    except xendt.XendtError as e:
        raise SystemExit(f"error: {e}") from None

    with open(args.output, "wb") as f:
        f.write(result.dtb)
    mmap = result.memory_map
    print(f"{args.output}: {len(result.dtb)} bytes for Xen {mmap.xen}, {mmap.ipa_bits}-bit IPA")
    for bank in mmap.ram:
        if bank.size:
            print(f"  RAM              {bank}")
    for segment in mmap.segments:
        print(f"  {segment.name:<16} {segment}")
    print(f"  grant table      {mmap.grant_table}")
    for region in mmap.extended_regions:
        print(f"  extended region  {region}")


if __name__ == "__main__":
    main()
