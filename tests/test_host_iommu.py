"""The IOMMU as Xen decides it, Xen's command line, and the host facts
libxl takes from the hypervisor (GIC version, timer clock-frequency)."""

from __future__ import annotations

import pytest

from conftest import dts_to_dtb
from xendt.host import iommu, xen_dt
from xendt.host.libxl_facts import host_facts
from xendt.hostregions import domains
from xendt.hostregions import regions as hostregions
from xendt.ranges import MiB, Range
from xendt.xen import layouts

RAM = 'memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };'
DOM0 = {"dom0_ram": (Range(0x4000_0000, 256 * MiB),), "grant_table": Range(0x5000_0000, 0x1000)}


def tree_of(body: str, chosen: str = ""):
    dts = (f"/dts-v1/; / {{ #address-cells = <2>; #size-cells = <2>; {RAM} {body}"
           f" chosen {{ {chosen} }}; }};")
    return xen_dt.read_host(dts_to_dtb(dts), "t.dtb")


def decide(body: str, xen: str = "4.21", chosen: str = "", flag=None, cmdline=None):
    tree = tree_of(body, chosen)
    return iommu.decide(tree, layouts.load(xen), flag,
                        iommu.from_host(tree, cmdline, uefi=False, efi_dt_bootargs=True))


SMMU = 'smmu@2b400000 { compatible = "arm,mmu-500"; reg = <0x0 0x2b400000 0x0 0x10000>; #iommu-cells = <1>; };'
SMMUV3 = 'smmu@2b400000 { compatible = "arm,smmu-v3"; reg = <0x0 0x2b400000 0x0 0x10000>; #iommu-cells = <1>; };'
IPMMU = 'iommu@e67b0000 { compatible = "renesas,ipmmu-r8a779f0"; reg = <0x0 0xe67b0000 0x0 0x1000>; #iommu-cells = <1>; };'


def test_an_smmu_v1_v2_driver_is_in_every_default_build():
    # ARM_SMMU `default y` (xen/drivers/passthrough/Kconfig @ RELEASE-4.14.0 … 4.22.0)
    decision = decide(SMMU, "4.17.7")
    assert decision.on and decision.why == ("/smmu@2b400000 (arm,mmu-500) has the ARM_SMMU driver"
                                            " of a default Xen 4.17.7 build")


def test_smmu_v3_and_ipmmu_are_not_in_a_default_build():
    assert decide(SMMUV3).why == ("/smmu@2b400000 (arm,smmu-v3) needs ARM_SMMU_V3, not in a default"
                                  " Xen 4.21.0 build (only with EXPERT)")
    assert decide(IPMMU).why == ("/iommu@e67b0000 (renesas,ipmmu-r8a779f0) needs IPMMU_VMSA, not in"
                                 " a default Xen 4.21.0 build")
    assert not decide(SMMUV3).on and not decide(IPMMU).on


def test_a_disabled_smmu_is_not_probed():
    # device_init: !dt_device_is_available -> -ENODEV, ignored.
    assert not decide(SMMU.replace("#iommu-cells", 'status = "disabled"; #iommu-cells')).on


def test_iommu_off_on_the_command_line_wins_over_the_driver():
    decision = decide(SMMU, chosen='xen,xen-bootargs = "console=dtuart iommu=no";')
    assert not decision.on
    assert decision.why == "iommu=no (t.dtb: /chosen xen,xen-bootargs)"


def test_iommu_force_without_a_driver_panics():
    decision = decide(SMMUV3, cmdline="iommu=force")
    assert decision.panic == "Couldn't enable IOMMU and iommu=required/force"


def test_the_flag_overrides_xens_decision():
    assert decide(SMMUV3, flag=True).on and decide(SMMUV3, flag=True).why == "--iommu"


def test_iommu_force_is_a_failure_of_the_host():
    result = hostregions.compute(tree_of(SMMUV3), layouts.load("4.21"), 40,
                                 domains.DomainOptions(cmdline="iommu=force", **DOM0))
    assert result.failure is not None and result.failure.function == "iommu_setup"


def test_ext_regions_off_gives_no_regions():
    result = hostregions.compute(tree_of(SMMU), layouts.load("4.21"), 40,
                                 domains.DomainOptions(cmdline="ext_regions=0"))
    assert result.regions == ()
    assert result.warnings == ("dom0: extended regions support is disabled (ext_regions= on"
                               " --xen-cmdline)",)


def test_under_uefi_xen_bootargs_count_from_4_17_only():
    # cfd29b83a26f (4.16.1) / f3999bc2e099 (4.17.0): used when xen.cfg has no options=.
    tree = tree_of(SMMU, 'xen,xen-bootargs = "iommu=0";')
    old = iommu.from_host(tree, None, uefi=True, efi_dt_bootargs=layouts.load("4.16.0").host.efi_dt_bootargs)
    new = iommu.from_host(tree, None, uefi=True, efi_dt_bootargs=layouts.load("4.17").host.efi_dt_bootargs)
    assert (old.iommu, new.iommu) == (None, False)


# ---------------------------------------------------------------------------
# host_facts: gic_dt_preinit's first interrupt-controller a GIC driver
# matches (xen/arch/arm/gic.c @ RELEASE-4.19.0), preinit_dt_xen_time's timer.

GICV2 = ('intc@8000000 { compatible = "arm,cortex-a15-gic"; interrupt-controller;'
         ' #interrupt-cells = <3>; reg = <0x0 0x8000000 0x0 0x1000>; };')
GICV3 = ('intc@9000000 { compatible = "arm,gic-v3"; interrupt-controller; #interrupt-cells = <3>;'
         ' reg = <0x0 0x9000000 0x0 0x10000>; };')


@pytest.mark.parametrize("body,expected", [
    (GICV2, ("v2", 0)), (GICV3, ("v3", 0)),
    # The first matched node in DT order decides.
    (GICV3 + GICV2, ("v3", 0)),
    # A disabled GIC is not probed (device_init -ENODEV); the next one is.
    (GICV3.replace("interrupt-controller;", 'interrupt-controller; status = "disabled";') + GICV2,
     ("v2", 0)),
    # An interrupt-controller no GIC driver knows is skipped.
    ('gpio { compatible = "vendor,gpio"; interrupt-controller; };', (None, 0)),
    (GICV3 + 'timer { compatible = "arm,armv8-timer"; clock-frequency = <62500000>; };',
     ("v3", 62_500_000)),
    # A clock-frequency shorter than a cell is not read (dt_property_read_u32).
    (GICV3 + 'timer { compatible = "arm,armv7-timer"; clock-frequency = [01 02]; };', ("v3", 0)),
])
def test_host_facts(body, expected):
    assert host_facts(tree_of(body)) == expected
