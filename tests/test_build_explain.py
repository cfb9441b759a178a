"""`xendt build --explain`: where each of libxl's extended regions comes
from and what cut it (libxl__arch_domain_finalise_hw_description's regions,
tools/libs/light/libxl_arm.c @ RELEASE-4.16.0 … RELEASE-4.22.0), and why a
bank gave none. Expectations by hand from the guest memory map (arch-arm.h:
RAM0 3 GiB at 1 GiB, RAM1 1016 GiB at 8 GiB) and the rules in the layouts
(start at the RAM end rounded up to 2 MiB, end at the bank end or the IPA
limit, at least 64 MiB; from 4.21 iomem ranges cut out, not re-aligned)."""

from __future__ import annotations

import json

from conftest import run_cli


def explain(*args: str, capsysbinary) -> list[str]:
    code, _, err = run_cli("build", "--rng-seed", "none", "--explain", "-o", "/dev/null", *args,
                           capsysbinary=capsysbinary)
    assert code == 0, err
    return [line.removeprefix("xendt: explain: ") for line in err.splitlines()
            if line.startswith("xendt: explain: ")]


def test_each_region_says_where_it_comes_from(capsysbinary):
    # 1 GiB: RAM0 ends at 0x80000000 (2 MiB-aligned already), region to 0x100000000.
    assert explain("--xen", "4.21", "--memory", "1024", capsysbinary=capsysbinary) == [
        "region 1 [0x80000000, 0x100000000): ram0 above its 1 GiB of RAM, start rounded up to"
        " 2 MiB, up to the bank's end",
        "region 2 [0x200000000, 0x10000000000): ram1, which holds no RAM, up to the bank's end",
    ]


def test_an_iomem_range_cuts_a_region_in_two_from_4_21(capsysbinary):
    # iomem 1c090,1@9c090: guest page 0x9c090 = [0x9c090000, 0x9c091000).
    assert explain("--xen", "4.21", "--memory", "1024", "--iomem", "1c090,1@9c090",
                   capsysbinary=capsysbinary)[:2] == [
        "region 1 [0x80000000, 0x9c090000): ram0 above its 1 GiB of RAM, start rounded up to"
        " 2 MiB, up to iomem 1c090,1@9c090",
        "region 2 [0x9c091000, 0x100000000): ram0 after iomem 1c090,1@9c090 (not re-aligned),"
        " up to the bank's end",
    ]


def test_a_bank_that_gives_nothing_says_why(capsysbinary):
    # 3 GiB fills RAM0; RAM1 (1 GiB of the 4 GiB beyond) starts at 0x200000000,
    # past a 32-bit IPA's end, so nothing is left there either.
    assert explain("--xen", "4.19", "--memory", "4096", "--pa-bits", "32",
                   capsysbinary=capsysbinary) == [
        "ram0: none: ram0 above its 3 GiB of RAM, start rounded up to 2 MiB, to the bank's end,"
        " leaves 0 B, under 64 MiB",
        "ram1: none: ram1 above its 1 GiB of RAM, start rounded up to 2 MiB, to the 32-bit IPA"
        " limit (0x100000000), leaves 0 B, under 64 MiB",
    ]


def test_versions_without_regions_say_so(capsysbinary):
    assert explain("--xen", "4.15", capsysbinary=capsysbinary) == [
        "Xen 4.15's libxl gives no extended regions (scheme \"none\")"]


def test_json_carries_the_explanation(capsysbinary):
    code, out, err = run_cli("build", "--xen", "4.21", "--memory", "1024", "--explain",
                             "--format", "json", "-o", "-", capsysbinary=capsysbinary)
    assert code == 0, err
    assert json.loads(out)["explain"][0].startswith("region 1 [0x80000000, 0x100000000)")


def test_explain_is_for_xl_guests(capsysbinary):
    code, _, err = run_cli("build", "--host-dtb", "x.dtb", "--domain", "domU1", "--explain",
                           capsysbinary=capsysbinary)
    assert code == 2
    assert err == ("xendt: --explain goes with an xl guest; for a dom0less domain's regions:"
                   " xendt host-regions --domain NAME --explain (see 'xendt build --help')\n")
