"""Dom0less guests whose device trees were derived by hand from Xen's source
before running xendt (cases 1 and 2 by a second engineer who had not read
xendt's dom0less code; cases 3 and 4 from the source at their tags by the
engineer who fixed xendt's 4.14-4.16 names); tests/data/dom0less-independent/
caseN.md holds each derivation, by function, with file @ tag. The expected
DTS is evidence for versions and features the real blobs of
tests/data/reference-dom0less do not cover.

- case 1: Xen 4.22 (prepare_dtb_domU order of 4.22, #redistributor-regions,
  find_domU_holes), 512 MiB, 2 vCPUs, vpl011, xen,enhanced "no-xenstore",
  a ramdisk;
- case 2: Xen 4.18, the same domain direct-mapped on xen,static-mem (the
  host's GIC and console UART, find_unallocated_memory with 4.18's 2 MiB
  shortfall);
- case 3: Xen 4.14 (and 4.14.6, 4.15), 512 MiB, 2 vCPUs, vpl011, a ramdisk, with
  dom0 (which 4.14 and 4.15 cannot boot without): the empty second RAM bank, the
  initrd placeholders, the GIC and vpl011 named by their stringified base
  macros (interrupt-controller@0x03001000ULL, sbsa-uart@0x22000000ULL);
- case 4: Xen 4.16 (and 4.16.7) on a GICv2 host without dom0: 256 MiB, a
  vpl011 and xen,enhanced, which 4.16 does not read (no /hypervisor).

The host is QEMU's virt machine with 4 GiB and GICv3 (cortex-a57: 44-bit PA),
or with 1 GiB and GICv2 for case 4.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, dtb_to_dts, dtc, run_cli
from conftest_host import qemu  # noqa: F401  (fixture)

DATA = ROOT / "tests" / "data" / "dom0less-independent"


CASES = [("case1", "4.22", "gicv3-virt-4g"), ("case2", "4.18", "gicv3-virt-4g"),
         ("case2", "4.18.6", "gicv3-virt-4g"), ("case3", "4.14", "gicv3-virt-4g"),
         ("case3", "4.14.6", "gicv3-virt-4g"), ("case3", "4.15", "gicv3-virt-4g"),
         ("case4", "4.16", "gicv2-virt-1g"),
         ("case4", "4.16.7", "gicv2-virt-1g")]


@pytest.mark.parametrize("case, xen, shape", CASES)
def test_xendt_builds_the_hand_derived_tree(qemu, tmp_path, case, xen, shape, capsysbinary):
    source = dtb_to_dts(qemu[shape].read_bytes()) + (DATA / f"{case}.dtsi").read_text()
    host = tmp_path / "host.dtb"
    host.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    out = tmp_path / "domU1.dtb"
    code, _, err = run_cli("build", "--host-dtb", str(host), "--domain", "domU1", "--xen", xen,
                           "--pa-bits", "44", "-o", str(out), capsysbinary=capsysbinary)
    assert code == 0, err
    assert dtb_to_dts(out.read_bytes()) == (DATA / f"{case}.expected.dts").read_text()


@pytest.mark.parametrize("case", sorted({case for case, _, _ in CASES}))
def test_hand_derived_tree_compiles_unchanged(case):
    # The expected DTS is what dtc prints for its own compilation of it.
    expected = (DATA / f"{case}.expected.dts").read_text()
    blob = dtc("-q", "-I", "dts", "-O", "dtb", "-", input=expected.encode()).stdout
    assert dtb_to_dts(blob) == expected
