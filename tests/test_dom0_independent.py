"""Dom0 trees derived by hand from Xen's source for what the five real
boots of tests/data/reference-dom0 do not cover; tests/data/dom0-independent/
caseN.md holds each derivation, rule by rule, with file @ tag, and
caseN.expected.dts is dtc's print of the hand-written tree.

- case 1: Xen 4.19, an arm,mmu-500 SMMU Xen drives with a master behind it,
  a xen,passthrough device, ext_regions=no.

The host is QEMU's virt machine with 4 GiB, GICv3 and virtualization=on
(tests/conftest_host.py), with caseN.dtsi added.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, dtb_to_dts, dtc, run_cli
from conftest_host import qemu  # noqa: F401  (fixture)

DATA = ROOT / "tests" / "data" / "dom0-independent"

#: case, Xen, dom0's bank, extra flags.
CASES = [("case1", "4.19", "0xe0000000:512M", ())]


@pytest.mark.parametrize("case, xen, bank, extra", CASES, ids=[c[0] for c in CASES])
def test_xendt_writes_the_hand_derived_dom0_tree(qemu, tmp_path, case, xen, bank, extra,
                                                 capsysbinary):
    source = dtb_to_dts(qemu["gicv3-virt-4g"].read_bytes()) + (DATA / f"{case}.dtsi").read_text()
    host = tmp_path / "host.dtb"
    host.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    out = tmp_path / "dom0.dtb"
    code, _, err = run_cli("build", "--dom0", "--host-dtb", str(host), "--xen", xen,
                           "--pa-bits", "44", "--dom0-mem", bank, "--gnttab",
                           "0x40200000:0x40000", *extra, "-o", str(out),
                           capsysbinary=capsysbinary)
    assert code == 0, err
    assert dtb_to_dts(out.read_bytes()) == (DATA / f"{case}.expected.dts").read_text()


@pytest.mark.parametrize("case", sorted({c[0] for c in CASES}))
def test_hand_derived_dom0_tree_compiles_unchanged(case):
    expected = (DATA / f"{case}.expected.dts").read_text()
    blob = dtc("-q", "-I", "dts", "-O", "dtb", "-", input=expected.encode()).stdout
    assert dtb_to_dts(blob) == expected
