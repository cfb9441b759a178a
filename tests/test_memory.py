"""RAM split and module placement, as libxenguest's meminit does them."""

from __future__ import annotations

import pytest

from xendt.errors import BuildError, ConfigError
from xendt.guest.memory import place_modules, split_ram
from xendt.guest.model import Kernel
from xendt.ranges import GiB, MiB
from xendt.xen import layouts

L = layouts.load("4.21")
IMAGE = Kernel("arm64", 38_928_896)


def test_up_to_3_gib_stays_in_bank_0():
    assert split_ram(L, 3072) == (3 * GiB, 0)


def test_the_rest_goes_to_bank_1():
    assert split_ram(L, 3074) == (3 * GiB, 2 * MiB)


def test_zero_memory_is_refused():
    with pytest.raises(ConfigError, match="memory 0 MiB"):
        split_ram(L, 0)


def test_more_than_the_banks_hold_is_refused():
    with pytest.raises(ConfigError, match="memory 1043457 MiB is more than the guest RAM banks hold"):
        split_ram(L, 1019 * 1024 + 1)


def test_modules_go_at_128_mib_when_they_fit():
    segs = place_modules(L, 1 * GiB, IMAGE, 12_345_678, 4096)
    assert [(s.name, s.base, s.end) for s in segs] == [
        ("kernel", 0x4000_0000, 0x4252_0200), ("ramdisk", 0x4800_0000, 0x48BC_7000),
        ("dtb", 0x48BC_7000, 0x48BC_8000)]


@pytest.mark.parametrize("release", ["4.17.4", "4.17.7", "4.18.6", "4.19.0", "4.22.0"])
def test_the_initrd_end_in_the_dt_is_page_rounded_in_every_release(release, capsysbinary):
    """Real Debian Xen 4.17.7 (which has 50216569eab1, the backport of
    4c3a618b0ada's exact segment end) gave an xl guest with a 987,169-byte
    ramdisk initrd-start 0x48000000, initrd-end 0x480f2000: libxl__build_dom
    (tools/libs/light/libxl_dom.c) finalises the DT from the segment meminit
    placed, before xc_dom_build_image sets the exact end."""
    from conftest import dts_node, run_cli

    code, out, err = run_cli("build", "--xen", release, "--memory", "512", "--kernel-size", "9440", "--ramdisk-size", "987169",
                             "--rng-seed", "none", "--format", "dts", "-o", "-",
                             capsysbinary=capsysbinary)
    assert code == 0, err
    assert dts_node(out.decode(), "/chosen") == ("\tchosen {\n"
                                                 "\t\tlinux,initrd-start = <0x00 0x48000000>;\n"
                                                 "\t\tlinux,initrd-end = <0x00 0x480f2000>;\n"
                                                 "\t};\n")


def test_modules_go_to_the_top_of_bank_0_when_ram_is_below_128_mib():
    segs = place_modules(L, 100 * MiB, IMAGE, 20 * MiB, 6000)
    assert segs[1].base == 0x4000_0000 + 100 * MiB - 20 * MiB - 8192


def test_modules_below_the_kernel_are_refused_as_xc_dom_build_image_refuses_them():
    # meminit's last fallback puts them at kernbase - modsize (0x40008000 -
    # 0x6000 = 0x40002000), but xc_dom_build_image maps the kernel first and
    # xc_dom_alloc_pad refuses a segment below its end, 0x40008000 + 6 MiB:
    # tools/libs/guest/xg_dom_core.c @ RELEASE-4.21.0.
    zimage = Kernel("arm32", 6 * MiB)
    with pytest.raises(BuildError) as e:
        place_modules(L, 8 * MiB, zimage, 16384, 5546)
    assert str(e.value) == (
        "no room for the ramdisk and DTB (24576 bytes) above the kernel in 8 MiB of RAM:"
        " libxenguest would place them below it, which xc_dom_build_image refuses"
        " (\"xc_dom_alloc_pad: segment boundary too low (0x40002000 < 0x40608000)\")")


def test_arm64_image_loads_at_its_text_offset():
    assert place_modules(L, 1 * GiB, Kernel("arm64", 1000, 0x80000), None, 4096)[0].base == 0x4008_0000


def test_modules_that_fit_nowhere_fail_the_build():
    with pytest.raises(BuildError, match="no room for the ramdisk and DTB"):
        place_modules(L, 64 * MiB, Kernel("arm64", 40 * MiB), 30 * MiB, 4096)


def test_a_kernel_bigger_than_ram_fails_the_build():
    with pytest.raises(BuildError, match="does not fit in the guest's 32 MiB of RAM"):
        place_modules(L, 32 * MiB, IMAGE, None, 4096)
