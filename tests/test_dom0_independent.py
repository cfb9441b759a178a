"""Dom0 trees derived by hand from Xen's source for what the five real
boots of tests/data/reference-dom0 do not cover; tests/data/dom0-independent/
caseN.md holds each derivation, rule by rule, with file @ tag, and
caseN.expected.dts is dtc's print of the hand-written tree.

- case 1: Xen 4.19, an arm,mmu-500 SMMU Xen drives with a master behind it,
  a xen,passthrough device, ext_regions=no;
- case 2: Xen 4.16 (4.14 and 4.15 differ only in the version string), a
  32-bit dom0 from an arm32 zImage, with a ramdisk.

The host is QEMU's virt machine with 4 GiB, GICv3 and virtualization=on
(tests/conftest_host.py), with caseN.dtsi added.
"""

from __future__ import annotations

import struct

import pytest

from conftest import ROOT, dtb_to_dts, dtc, run_cli
from conftest_host import qemu  # noqa: F401  (fixture)

DATA = ROOT / "tests" / "data" / "dom0-independent"

#: case, Xen, dom0's bank, whether the kernel is case 2's zImage.
CASES = [("case1", "4.19", "0xe0000000:512M", False),
         ("case2", "4.16", "0xe0000000:512M", True),
         ("case2", "4.15", "0xe0000000:512M", True),
         ("case2", "4.14", "0xe0000000:512M", True)]


def _zimage(path):
    """An arm32 zImage of 0x2000 bytes: the magic at 0x24, start 0, end 0x2000."""
    image = bytearray(0x2000)
    struct.pack_into("<III", image, 0x24, 0x016F2818, 0, 0x2000)
    path.write_bytes(bytes(image))
    return path


@pytest.mark.parametrize("case, xen, bank, zimage", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_xendt_writes_the_hand_derived_dom0_tree(qemu, tmp_path, case, xen, bank, zimage,
                                                 capsysbinary):
    source = dtb_to_dts(qemu["gicv3-virt-4g"].read_bytes()) + (DATA / f"{case}.dtsi").read_text()
    host = tmp_path / "host.dtb"
    host.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    out = tmp_path / "dom0.dtb"
    extra = ("--kernel", str(_zimage(tmp_path / "zImage"))) if zimage else ()
    expected = (DATA / f"{case}.expected.dts").read_text().replace("xen,xen-4.16", f"xen,xen-{xen}")
    code, _, err = run_cli("build", "--dom0", "--host-dtb", str(host), "--xen", xen,
                           "--pa-bits", "44", "--dom0-mem", bank, "--gnttab",
                           "0x40200000:0x40000", *extra, "-o", str(out),
                           capsysbinary=capsysbinary)
    assert code == 0, err
    assert dtb_to_dts(out.read_bytes()) == expected


@pytest.mark.parametrize("case", sorted({c[0] for c in CASES}))
def test_hand_derived_dom0_tree_compiles_unchanged(case):
    expected = (DATA / f"{case}.expected.dts").read_text()
    blob = dtc("-q", "-I", "dts", "-O", "dtb", "-", input=expected.encode()).stdout
    assert dtb_to_dts(blob) == expected
