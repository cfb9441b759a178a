"""One DT for a fleet of hosts: only the extended regions every host gives,
and which host limited which region. Expected values are worked out by hand
from libxl's and Xen's rules (see test_regions.py, test_host_regions.py)."""

from __future__ import annotations

import json

import pytest

from conftest import check_output, dtb_to_dts
from conftest_host import qemu  # noqa: F401  (fixture)
from xendt.cli import main
from xendt.hostregions.fleet import Dropped, Narrowed, intersect
from xendt.ranges import MiB, Range


def run(*args: str, capsysbinary) -> tuple[int, bytes, str]:
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    out, err = capsysbinary.readouterr()
    check_output(args, exit.value.code, out)
    return exit.value.code, out, err.decode()


# ---------------------------------------------------------------------------
# The intersection itself.

def test_a_region_is_cut_to_what_every_host_has_and_the_cutting_host_is_named():
    fleet = intersect({"a": (Range(0x1000_0000, 0x1000_0000),),
                       "b": (Range(0x1800_0000, 0x1000_0000),)}, 64 * MiB, 256)
    assert fleet.regions == (Range(0x1800_0000, 0x800_0000),)
    assert fleet.constraints == (Narrowed(Range(0x1800_0000, 0x800_0000),
                                          Range(0x1000_0000, 0x1800_0000), ("b",), ("a",)),)


def test_hosts_that_agree_give_no_constraints():
    same = (Range(0x6000_0000, 0xA000_0000),)
    assert intersect({"a": same, "b": same}, 64 * MiB, 256).constraints == ()


def test_a_region_another_host_lacks_is_dropped_naming_that_host():
    fleet = intersect({"a": (Range(0, 0x1000_0000), Range(0x8000_0000, 0x1000_0000)),
                       "b": (Range(0, 0x1000_0000),), "c": (Range(0, 0x1000_0000),)}, 64 * MiB, 256)
    assert fleet.regions == (Range(0, 0x1000_0000),)
    assert fleet.constraints == (Dropped(Range(0x8000_0000, 0x1000_0000), ("a",), ("b", "c")),)


def test_a_sliver_below_the_minimum_size_is_not_kept():
    fleet = intersect({"a": (Range(0, 0x1000_0000),), "b": (Range(0xC80_0000, 0x1000_0000),)},
                      64 * MiB, 256)
    assert fleet.regions == ()  # they share 56 MiB


# ---------------------------------------------------------------------------
# xendt build with several PA or IPA sizes.

BUILD = ("build", "--xen", "4.21", "--memory", "512", "--rng-seed", "none")


def test_a_fleet_guest_dt_is_the_one_for_the_smallest_ipa(capsysbinary):
    _, narrow, _ = run(*BUILD, "--pa-bits", "36", "-o", "-", capsysbinary=capsysbinary)
    code, fleet, _ = run(*BUILD, "--pa-bits", "44", "--pa-bits", "36", "--pa-bits", "40", "-o", "-",
                           capsysbinary=capsysbinary)
    assert code == 0 and fleet == narrow


def test_the_build_says_which_host_limited_which_region_on_stderr(capsysbinary):
    # bank 1 (8 GiB .. 1 TiB) ends at 64 GiB with 36 bits
    code, _, err = run(*BUILD, "--pa-bits", "44", "--pa-bits", "36", "-o", "-", capsysbinary=capsysbinary)
    assert code == 0
    assert err == ("xendt: fleet: [0x200000000, 0x1000000000): end set by pa-bits 36"
                   " (others to 0x10000000000)\n")


def test_ipa_bits_make_a_fleet_too(capsysbinary):
    code, out, err = run(*BUILD, "--ipa-bits", "40", "--ipa-bits", "32", "--format", "json",
                         capsysbinary=capsysbinary)
    assert code == 0 and json.loads(out)["memory_map"]["extended_regions"] == [
        {"base": 0x6000_0000, "size": 0xA000_0000}]
    assert "[0x200000000, 0x10000000000) of ipa-bits 40 dropped: not free on ipa-bits 32" in err


def test_hosts_whose_regions_agree_add_nothing_to_stderr(capsysbinary):
    # bank 1 ends at 1 TiB: 40 and 44 bits give the same regions
    code, _, err = run(*BUILD, "--pa-bits", "40", "--pa-bits", "44", "-o", "-", capsysbinary=capsysbinary)
    assert code == 0 and err == ""


def test_every_host_of_a_fleet_is_checked(capsysbinary):
    code, _, err = run("build", "--xen", "4.14", "--pa-bits", "40", "--pa-bits", "52",
                       capsysbinary=capsysbinary)
    assert code == 2 and "Xen 4.14 does not boot on a host with 52-bit" in err


# ---------------------------------------------------------------------------
# xendt host-regions with several hosts.
#
# Xen 4.21, IOMMU on, 40 bits. gicv3-2g: 0xa200000-0x10000000, RAM end
# 0xc0000000 to ECAM 0x4010000000, 0x4020000000 to the 64-bit PCIe window
# 0x8000000000. lowmem-3g: 0xa200000-0x10000000, RAM end 0x100000000 to 2^40.

def test_two_boards_share_the_holes_both_have(qemu, capsysbinary):
    code, out, _ = run("host-regions", "--xen", "4.21", "--iommu", "--host-dtb", str(qemu["gicv3-2g"]),
                       "--host-dtb", str(qemu["lowmem-3g"]), "--format", "json", capsysbinary=capsysbinary)
    data = json.loads(out)
    assert code == 0 and [h["host"] for h in data["hosts"]] == [str(qemu["gicv3-2g"]),
                                                                str(qemu["lowmem-3g"])]
    assert [(r["base"], r["size"]) for r in data["extended_regions"]] == [
        (0xA20_0000, 0x5E0_0000), (0x1_0000_0000, 0x40_1000_0000 - 0x1_0000_0000),
        (0x40_2000_0000, 0x3F_E000_0000)]
    assert data["constraints"][0] == {
        "region": {"base": 0x1_0000_0000, "size": 0x3F_1000_0000},
        "widest": {"base": 0xC000_0000, "size": 0x100_0000_0000 - 0xC000_0000},
        "start_by": [str(qemu["lowmem-3g"])], "end_by": [str(qemu["gicv3-2g"])]}


def test_one_board_with_several_cpus_is_named_by_its_pa_size(qemu, capsysbinary):
    code, out, _ = run("host-regions", "--xen", "4.21", "--iommu", "--host-dtb", str(qemu["gicv3-2g"]),
                       "--pa-bits", "44", "--pa-bits", "36", capsysbinary=capsysbinary)
    text = out.decode()
    assert code == 0
    assert f"[0xc0000000, 0x1000000000): end set by {qemu['gicv3-2g']} (pa-bits 36)" in text
    assert text.count("Xen 4.21, dom0 on") == 2 and "Common to 2 hosts:" in text


def test_the_fleet_hypervisor_node_holds_the_common_regions(qemu, capsysbinary):
    code, out, err = run("host-regions", "--xen", "4.21", "--iommu", "--host-dtb", str(qemu["gicv3-2g"]),
                         "--host-dtb", str(qemu["lowmem-3g"]), "--gnttab", "0x40200000:256K",
                         "--format", "dtb", "-o", "-", capsysbinary=capsysbinary)
    assert code == 0
    assert ("reg = <0x00 0x40200000 0x00 0x40000 0x00 0xa200000 0x00 0x5e00000 0x01 0x00 0x3f"
            " 0x10000000 0x40 0x20000000 0x3f 0xe0000000>;") in dtb_to_dts(out)
    assert "xendt: warning: fleet: [0x100000000, 0x4010000000): start set by" in err


def test_hosts_and_sizes_must_pair_up(qemu, capsysbinary):
    code, _, err = run("host-regions", "--host-dtb", str(qemu["gicv3-2g"]), "--host-dtb",
                       str(qemu["lowmem-3g"]), "--pa-bits", "40", "--pa-bits", "44", "--pa-bits", "48",
                       capsysbinary=capsysbinary)
    assert code == 2 and "2 --host-dtb but 3 PA/IPA sizes" in err
