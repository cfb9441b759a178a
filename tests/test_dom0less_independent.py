"""Two dom0less guests whose device trees a second engineer derived by hand
from Xen's source, without reading xendt's dom0less code, before running
xendt (tests/data/dom0less-independent/caseN.md holds each derivation, by
function, with file @ tag): the expected DTS is independent evidence for
versions and features the real blobs of tests/data/reference-dom0less do not cover.

- case 1: Xen 4.22 (prepare_dtb_domU order of 4.22, #redistributor-regions,
  find_domU_holes), 512 MiB, 2 vCPUs, vpl011, xen,enhanced "no-xenstore",
  a ramdisk;
- case 2: Xen 4.18, the same domain direct-mapped on xen,static-mem (the
  host's GIC and console UART, find_unallocated_memory with 4.18's 2 MiB
  shortfall).

The host is QEMU's virt machine with 4 GiB and GICv3 (cortex-a57: 44-bit PA).
"""

from __future__ import annotations

import pytest

from conftest import ROOT, dtb_to_dts, dtc, run_cli
from conftest_host import qemu  # noqa: F401  (fixture)

DATA = ROOT / "tests" / "data" / "dom0less-independent"


@pytest.mark.parametrize("case, xen", [("case1", "4.22"), ("case2", "4.18"), ("case2", "4.18.6")])
def test_xendt_builds_the_hand_derived_tree(qemu, tmp_path, case, xen, capsysbinary):
    source = dtb_to_dts(qemu["gicv3-virt-4g"].read_bytes()) + (DATA / f"{case}.dtsi").read_text()
    host = tmp_path / "host.dtb"
    host.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    out = tmp_path / "domU1.dtb"
    code, _, err = run_cli("build", "--host-dtb", str(host), "--domain", "domU1", "--xen", xen,
                           "--pa-bits", "44", "-o", str(out), capsysbinary=capsysbinary)
    assert code == 0, err
    assert dtb_to_dts(out.read_bytes()) == (DATA / f"{case}.expected.dts").read_text()
