"""An image builder's use of xendt (a Yocto recipe's or a CI job's step).

    python examples/integrator.py --host-dtb host.dtb --board board.dtb --out build/

Builds three xl guests from their xl.cfg text (no kernel at hand: its size
stands in) for Xen 4.19 and 4.22 and compares each pair; reads one DTB back
and checks it; builds every dom0less domain of a host DTB (a QEMU dump with
/chosen/domU* nodes); and prints the extended regions Xen gives dom0 on a
board. Each build's JSON document goes next to its DTB. Uses only the API
of README's "Python API" section; `mypy --strict` accepts it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import xendt

#: The guests the image ships, as their xl.cfg files say.
GUESTS = {
    "web": "memory = 512\nvcpus = 2\n",
    "db": "memory = 2048\nvcpus = 4\ngic_version = 'v3'\n",
    "log": "memory = 256\nvuart = 'sbsa_uart'\ncmdline = 'console=ttyAMA0'\n",
}
KERNEL_SIZE = 20 << 20  # the kernel the image will carry: only its size matters


def build_guests(out: Path) -> None:
    for name, cfg in GUESTS.items():
        built: dict[str, xendt.GuestDT] = {}
        for xen in ("4.19", "4.22"):
            host = xendt.Host(xen=xen, pa_bits=40, rng_seed=bytes(128))
            result = xendt.build_xl(text=cfg, name=f"{name}.cfg", kernel_size=KERNEL_SIZE,
                                    host=host)
            (out / f"{name}-{xen}.dtb").write_bytes(result.dtb)
            (out / f"{name}-{xen}.json").write_text(result.to_json())
            for warning in result.warnings:
                print(f"{name} {xen}: warning [{warning.code}] {warning}")
            built[xen] = result
        changes = xendt.diff(built["4.19"].dtb, built["4.22"].dtb)
        changed = sorted({f"{c.node}:{c.prop}" if c.prop else c.node for c in changes.changes})
        print(f"{name}: 4.19 -> 4.22: {len(changes.changes)} changes ({', '.join(changed)})")


def read_back(out: Path) -> int:
    tree = xendt.read_dtb(out / "db-4.22.dtb")
    report = xendt.check(tree, pa_bits=40)
    ram = [e for e in xendt.show(tree).address_map.entries if e.kind == "ram"]
    print(f"db-4.22.dtb: {len(ram)} RAM bank(s), {report.errors} errors,"
          f" {report.count('warning')} warnings")
    return report.errors


def build_dom0less(host_dtb: Path, out: Path) -> None:
    for domain in xendt.dom0less_domains(host_dtb):
        result = xendt.build_dom0less(host_dtb, domain, xendt.Host(xen="4.21"))
        (out / f"{domain}.dtb").write_bytes(result.dtb)
        regions = ", ".join(f"{r.base:#x}+{r.size:#x}" for r in result.memory_map.extended_regions)
        print(f"{domain}: {len(result.dtb)} bytes, extended regions [{regions}]")


def dom0_regions(board: Path) -> None:
    dom0 = xendt.host_regions(board, xen="4.19", iommu=True)
    print(f"{board.name}: Xen {dom0.xen} gives dom0 {len(dom0.regions)} extended regions"
          f" ({dom0.finder})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host-dtb", type=Path, required=True,
                        help="a host DTB with dom0less domains")
    parser.add_argument("--board", type=Path, required=True, help="a board's DTB, for dom0")
    parser.add_argument("--out", type=Path, required=True, help="where the DTBs go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        build_guests(args.out)
        errors = read_back(args.out)
        build_dom0less(args.host_dtb, args.out)
        dom0_regions(args.board)
    except xendt.XendtError as e:
        raise SystemExit(f"error: {e}") from None
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
