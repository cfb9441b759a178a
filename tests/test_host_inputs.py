"""What the user says about dom0 to host-regions is checked against the
host first: one line and status 2, naming the bank or region, never a
wrong answer (xendt.hostregions.validate). QEMU's virt machine with 2 GiB: RAM
[0x40000000, 0xc0000000)."""

from __future__ import annotations

import pytest

from conftest_host import qemu  # noqa: F401  (fixture)
from xendt.cli import main


def run(*args: str, capsysbinary) -> tuple[int, bytes, str]:
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    out, err = capsysbinary.readouterr()
    return exit.value.code, out, err.decode()


CASES = {
    "range past 64 bits": (["--no-iommu", "--dom0-mem", "0x48000000:512M", "--gnttab",
                            "0xffffffffffffffff:1G"],
                           "--gnttab: '0xffffffffffffffff:1G' ends at 0x1000000003fffffff, beyond 64 bits"),
    "bank outside host RAM": (["--no-iommu", "--dom0-mem", "0xc0000000:512M"],
                              "dom0 RAM bank [0xc0000000, 0xe0000000) is not inside host RAM"
                              " ([0x40000000, 0xc0000000)): Xen allocates dom0's RAM from it"),
    "bank beyond the IPA size": (["--no-iommu", "--ipa-bits", "32", "--dom0-mem",
                                  "0x100000000:512M"],
                                 "dom0 RAM bank [0x100000000, 0x120000000) lies beyond the 32-bit"
                                 " IPA size (0x100000000)"),
    "grant table in dom0 RAM": (["--no-iommu", "--dom0-mem", "0x48000000:512M", "--gnttab",
                                 "0x48100000:256K"],
                                "grant table [0x48100000, 0x48140000) overlaps dom0 RAM bank"
                                " [0x48000000, 0x68000000): it is Xen's own image, outside dom0's"
                                " RAM"),
    "grant table outside host RAM": (["--iommu", "--gnttab", "0x10000000:256K"],
                                     "grant table [0x10000000, 0x10040000) is not inside host RAM"
                                     " ([0x40000000, 0xc0000000)): dom0's grant table is Xen's"
                                     " own image, which lies in RAM"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_dom0_fact_that_cannot_be_is_one_line_and_status_2(qemu, case, capsysbinary):
    args, message = CASES[case]
    code, out, err = run("host-regions", "--host-dtb", str(qemu["gicv3-2g"]), "--xen", "4.19",
                         *args, capsysbinary=capsysbinary)
    assert (code, out, err) == (2, b"", f"xendt: {message}\n")


def test_a_region_over_the_grant_table_is_a_warning(qemu, capsysbinary):
    """Xen 4.16 booted by UEFI deletes the DT's memory nodes
    (fdt_add_uefi_nodes, xen/arch/arm/efi/efi-boot.h @ RELEASE-4.16.0), so
    find_memory_holes takes host RAM for a hole: extended region 2 then
    spans [0x3f000000, 0x4010000000) (from the flash end to the PCIe
    window), over Xen's own image and so the grant table. Xen does that;
    xendt says what it means."""
    try:
        main(["host-regions", "--host-dtb", str(qemu["gicv3-2g"]), "--xen", "4.16", "--uefi",
              "--host-ram", "0x40000000:2G", "--iommu", "--gnttab", "0x40200000:256K"])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsysbinary.readouterr()
    assert code == 0
    assert b"  2    0x000000003f000000  0x0000003fd1000000  0x0000004010000000" in out
    assert err.decode() == ("xendt: warning: dom0: extended region 2 [0x3f000000, 0x4010000000)"
                            " covers the grant table [0x40200000, 0x40240000) (Xen's own image):"
                            " foreign mappings there would overwrite Xen\n")
