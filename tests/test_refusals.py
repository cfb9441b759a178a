"""What Xen refuses, refused with Xen's reason; what it accepts but the guest
cannot use, warned about. One behaviour per test (in sections C1 … C6), each
naming the Xen source (file @ tag) it follows."""

from __future__ import annotations

import pytest

from xendt.errors import BuildError, ConfigError, FieldError
from xendt.guest import libxl_build, xlcfg
from xendt.guest.libxl_build import GuestDT
from xendt.guest.model import GuestConfig, Host, Iomem, Kernel, VirtioDevice
from xendt.xen.context import resolve


def build(guest: GuestConfig, host: Host | None = None) -> GuestDT:
    """libxl_build.build with host.xen resolved, as the edge does."""
    return libxl_build.build(guest, host, xen=resolve(host.xen if host else None))

IMAGE = Kernel("arm64", 8 << 20)


def refused(guest: GuestConfig, host: Host) -> str:
    with pytest.raises((ConfigError, BuildError)) as e:
        build(guest, host)
    return str(e.value)


def warnings(guest: GuestConfig, host: Host) -> list[str]:
    return [w for w in build(guest, host).warnings if not w.startswith("the extended regions")]


# --- C1: RAM above the IPA size ------------------------------------------------
# libxenguest's meminit never compares RAM with the IPA size (tools/libs/guest/
# xg_dom_arm.c @ RELEASE-4.21.0); the p2m refuses only frames beyond its root
# table (p2m_get_root_pointer, xen/arch/arm/mmu/p2m.c @ RELEASE-4.21.0), which
# covers 2^39 bytes at IPA 32 and 36 (pa_range_info: root level 1, one page).

def test_ram_up_to_the_ipa_size_is_not_warned():
    assert warnings(GuestConfig(memory_mib=3072), Host(xen="4.21", ipa_bits=32)) == []


def test_ram_above_a_32_bit_ipa_is_a_warning_naming_the_unusable_part():
    # 3073 MiB: bank 0 full (3 GiB at 0x40000000), 1 MiB in bank 1 from 0x200000000.
    assert warnings(GuestConfig(memory_mib=3073), Host(xen="4.21", ipa_bits=32)) == [
        "memory 3073 MiB: 1 MiB of RAM bank 1 [0x200000000, 0x200100000) lies above the guest's"
        " 32-bit IPA space (4 GiB); Xen 4.21 populates it without complaint, but the guest cannot"
        " use it: its first access there faults in stage 2 and the vCPU hangs"]


def test_ram_above_a_36_bit_ipa_starts_past_60416_mib():
    # 3 GiB in bank 0 + 56 GiB of bank 1 (0x200000000 … 0x1000000000) = 60416 MiB.
    assert warnings(GuestConfig(memory_mib=60416), Host(xen="4.16", ipa_bits=36)) == []
    assert len(warnings(GuestConfig(memory_mib=60417), Host(xen="4.16", ipa_bits=36))) == 1


def test_ram_never_passes_a_40_bit_ipa():
    # Bank 1 ends at 0x10000000000 = 2^40.
    assert warnings(GuestConfig(memory_mib=1019 * 1024), Host(xen="4.14", pa_bits=40)) == []


def test_ram_past_the_p2m_root_reach_is_refused():
    # 3 GiB + 504 GiB of bank 1 reach 2^39; one MiB more cannot be populated.
    assert refused(GuestConfig(memory_mib=519169), Host(xen="4.21", ipa_bits=32)) == (
        "memory 519169 MiB: RAM up to 0x8000100000 goes past the 0x8000000000 bytes the stage-2"
        " root table covers at a 32-bit IPA; Xen 4.21 fails to populate it (libxenguest:"
        " \"populate_guest_memory: Not enough RAM\"; xl: \"xc_dom_boot_mem_init: can't allocate"
        " low memory for domain\")")


# --- C1b: the size of RAM -----------------------------------------------------

def test_no_ram_is_refused_with_meminits_reason():
    # meminit: "ram size is 0", tools/libs/guest/xg_dom_arm.c @ RELEASE-4.21.0.
    assert "\"meminit: ram size is 0\"" in refused(GuestConfig(memory_mib=0), Host(xen="4.21"))


def test_more_ram_than_the_banks_is_refused_with_meminits_reason():
    # GUEST_RAM_MAX = 3 GiB + 1016 GiB = 0xfec0000000; xg_dom_arm.c @ RELEASE-4.21.0.
    assert refused(GuestConfig(memory_mib=1043457), Host(xen="4.21")) == (
        "memory 1043457 MiB is more than the guest RAM banks hold (1043456 MiB; libxenguest:"
        " \"meminit: ram size is too large for guest address space: fec0100000 > fec0000000\")")


def test_maxmem_above_memory_is_refused_in_every_version():
    # libxl_dom.c (libxl__build_pre, libxl__build_dom) @ RELEASE-4.14.0 … 4.22.0.
    cfg = xlcfg.parse('memory = 1024\nmaxmem = 1025\nkernel = "k"\n', "g.cfg")
    with pytest.raises(ConfigError, match=r"^g\.cfg:2: maxmem = 1025 > memory = 1024: libxl"):
        xlcfg.guest_config(cfg, kernel=IMAGE)


# --- C2: vCPUs ------------------------------------------------------------------

def test_nine_vcpus_on_a_gicv2_are_refused_with_xens_message():
    # arch_sanitise_domain_config, xen/arch/arm/domain.c @ RELEASE-4.21.0: vgic_max_vcpus 8.
    assert refused(GuestConfig(max_vcpus=9, gic_version="v2"), Host(xen="4.21")) == (
        "maxvcpus 9: a GICv2 guest has 1 to 8 vCPUs (Xen 4.21: \"Requested vCPUs (9) exceeds"
        " max (8)\"; xl: \"domain creation fail: Invalid argument\")")


def test_128_vcpus_on_a_gicv3_are_accepted_129_refused():
    # MAX_VIRT_CPUS 128 on arm64 (xen/arch/arm/include/asm/config.h @ RELEASE-4.21.0).
    build(GuestConfig(max_vcpus=128, gic_version="v3"), Host(xen="4.21"))
    assert "Requested vCPUs (129) exceeds max (128)" in refused(
        GuestConfig(max_vcpus=129, gic_version="v3"), Host(xen="4.21"))


def test_a_negative_vcpus_is_refused_before_4_22():
    # tools/xl/xl_parse.c @ RELEASE-4.21.0: libxl_cpu_bitmap_alloc(…, l) with l < 0.
    assert refused(GuestConfig(max_vcpus=-3), Host(xen="4.21")) == (
        "vcpus -3: xl 4.21 refuses a negative vCPU count (libxl: \"invalid number of cpus"
        " provided\"; xl: \"Unable to allocate cpumap\"); xl 4.22 and later take it as 1")


def test_a_negative_vcpus_is_one_vcpu_from_4_22():
    # tools/xl/xl_parse.c @ RELEASE-4.22.0: "if (vcpus < 1) vcpus = 1".
    from xendt.fdt.read import parse

    tree = parse(build(GuestConfig(max_vcpus=-3), Host(xen="4.22")).dtb)
    assert [c.name for c in tree.node("/cpus").children] == ["cpu@0"]


def test_a_negative_vcpus_on_4_22_says_it_gives_one_vcpu():
    # tools/xl/xl_parse.c @ RELEASE-4.22.0 parse_config_data: "if (vcpus < 1) vcpus = 1".
    assert warnings(GuestConfig(max_vcpus=-3), Host(xen="4.22")) == [
        "vcpus -3: the guest gets one vCPU (Xen 4.22: xl takes a vCPU count below 1 as 1)"]


def test_zero_vcpus_on_4_22_says_it_gives_one_vcpu():
    assert warnings(GuestConfig(max_vcpus=0), Host(xen="4.22")) == [
        "vcpus 0: the guest gets one vCPU (Xen 4.22: xl takes a vCPU count below 1 as 1)"]


def test_zero_vcpus_before_4_22_is_libxls_default_of_one_with_a_warning():
    # xl_parse.c @ RELEASE-4.21.0 leaves max_vcpus 0; libxl__domain_build_info_setdefault
    # (tools/libs/light/libxl_create.c @ RELEASE-4.21.0) sets it to 1.
    from xendt.fdt.read import parse

    result = build(GuestConfig(max_vcpus=0), Host(xen="4.21"))
    assert result.warnings == ("vcpus 0: the guest gets one vCPU (Xen 4.21: libxl takes 0 vCPUs"
                               " as its default of 1)",)
    assert [c.name for c in parse(result.dtb).node("/cpus").children] == ["cpu@0"]


def test_vcpus_0_from_the_cli_on_4_22_warns(capsysbinary):
    from conftest import run_cli

    code, _, err = run_cli("build", "--xen", "4.22", "--vcpus", "0", "-o", "/dev/null",
                           capsysbinary=capsysbinary)
    assert (code, err) == (0, "xendt: warning: vcpus 0: the guest gets one vCPU (Xen 4.22: xl"
                              " takes a vCPU count below 1 as 1)\n")


def test_a_gicv3_guest_on_a_gicv2_host_is_refused():
    # vgic_v3_init, xen/arch/arm/vgic-v3.c @ RELEASE-4.21.0: -ENODEV.
    assert "vGICv3 is not supported on this platform." in refused(
        GuestConfig(gic_version="v3"), Host(xen="4.21", gic="v2"))


# --- C3: nr_spis ---------------------------------------------------------------

def test_nr_spis_before_4_19_is_ignored_by_xl_with_a_warning():
    # nr_spis enters libxl_types.idl in RELEASE-4.19.0; xl ignores unknown keys.
    assert warnings(GuestConfig(nr_spis=4), Host(xen="4.18")) == [
        "nr_spis 4: xl 4.18 ignores this setting (it was added in Xen 4.19)"]


def test_a_too_small_nr_spis_is_raised_silently_in_4_20():
    # libxl__arch_domain_prepare_config, tools/libs/light/libxl_arm.c @ RELEASE-4.20.0: max().
    assert warnings(GuestConfig(vuart=True, nr_spis=0), Host(xen="4.20")) == [
        "nr_spis 0 is below the 1 SPIs the guest's devices need; libxl 4.20 raises it to 1"
        " without a word"]


def test_a_too_small_nr_spis_is_refused_from_4_21():
    # tools/libs/light/libxl_arm.c @ RELEASE-4.21.0: three virtio devices take SPIs 33-35.
    virtio = tuple(VirtioDevice("virtio,device22") for _ in range(3))
    assert refused(GuestConfig(virtio=virtio, nr_spis=3), Host(xen="4.21")) == (
        "nr_spis 3 is too small: the guest's devices need 4 (Xen 4.21 rejects it: \"Provided"
        " nr_spis value is too small (minimum required 4)\")")


def test_nr_spis_960_is_accepted_961_refused():
    # domain_vgic_init, xen/arch/arm/vgic.c @ RELEASE-4.21.0: ROUNDUP(n, 32) > 988 → -EINVAL.
    # nr_spis sizes the vGIC, not the DT: the tree is the one without it.
    host = Host(xen="4.21", rng_seed=b"")
    assert build(GuestConfig(nr_spis=960), host).dtb == build(GuestConfig(), host).dtb
    assert refused(GuestConfig(nr_spis=961), Host(xen="4.21")).startswith(
        "nr_spis 961: Xen 4.21 accepts at most 960 SPIs")


def test_nr_spis_all_ones_means_compute_it_from_4_21():
    # LIBXL_NR_SPIS_DEFAULT (~0u), tools/libs/light/libxl_types.idl @ RELEASE-4.21.0.
    host = Host(xen="4.21", rng_seed=b"")
    assert build(GuestConfig(nr_spis=0xFFFFFFFF), host).dtb == build(GuestConfig(), host).dtb


def test_a_twelfth_virtio_device_quotes_libxl():
    # tools/libs/light/libxl_arm.c @ RELEASE-4.21.0: SPIs 33-43 are reserved.
    virtio = tuple(VirtioDevice("virtio,device22") for _ in range(12))
    assert "\"Ran out of reserved range for Virtio MMIO IRQ 44\"" in refused(
        GuestConfig(virtio=virtio), Host(xen="4.21"))


# --- C4: grant frames ----------------------------------------------------------

def grant_frames(value: str) -> list[str]:
    cfg = xlcfg.parse(f'max_grant_frames = {value}\nkernel = "k"\n', "g.cfg")
    return xlcfg.guest_config(cfg, kernel=IMAGE)[1]


def test_zero_grant_frames_are_refused():
    # grant_table_init, xen/common/grant_table.c @ RELEASE-4.21.0: max_grant_frames < 1.
    with pytest.raises(ConfigError, match="Xen refuses a grant table without frames"):
        grant_frames("0")


def test_grant_frames_out_of_xls_range_are_refused():
    # xlu_cfg_get_bounded_long(…, 0, INT_MAX, …), tools/xl/xl_parse.c @ RELEASE-4.21.0.
    with pytest.raises(ConfigError, match="xl accepts 0 to 2147483647"):
        grant_frames("\"-1\"")


def test_more_than_64_grant_frames_are_warned():
    # gnttab_max_frames caps them up to 4.17; commit b2ea81d2b9 (4.18) made it a default.
    assert grant_frames("65") == [
        "g.cfg:1: max_grant_frames = 65: Xen 4.14 to 4.17 refuse more than gnttab_max_frames (64"
        " unless Xen was booted with a larger gnttab_max_frames=); 4.18 and later accept it"]
    assert grant_frames("64") == []


# --- C5: placement, images, ACPI, iomem ------------------------------------------

def test_an_empty_ramdisk_size_is_refused():
    # xc_dom_malloc_filemap: "'%s': zero length file", xg_dom_core.c @ RELEASE-4.21.0.
    with pytest.raises(FieldError) as e:
        GuestConfig(kernel=IMAGE, ramdisk_size=0)
    assert str(e.value) == ("GuestConfig.ramdisk_size: 0 bytes: libxenguest refuses a zero-length"
                            " file (\"zero length file\")")


def test_acpi_tables_larger_than_the_acpi_region_are_refused():
    # GUEST_ACPI_SIZE 0x02000000, xen/include/public/arch-arm.h @ RELEASE-4.21.0.
    assert refused(GuestConfig(acpi=True), Host(xen="4.21", acpi_size=0x2000001)) == (
        "--acpi-size 33554433: libxl builds the ACPI tables inside the 0x2000000-byte ACPI"
        " region (GUEST_ACPI_BASE)")


def test_iomem_over_guest_ram_is_warned():
    # map_mmio_regions replaces what is mapped (xen/arch/arm/p2m.c): no check against RAM.
    found = warnings(GuestConfig(iomem=(Iomem(0x9C090, 1, 0x40000),)), Host(xen="4.21"))
    assert found == ["iomem 9c090,1@40000: guest range [0x40000000, 0x40001000) overlaps RAM"
                     " bank 0; Xen maps the device over it without a check"]


# --- C6: the command line --------------------------------------------------------

def test_a_command_line_an_arm32_linux_cuts_is_warned():
    # COMMAND_LINE_SIZE 1024: arch/arm/include/uapi/asm/setup.h, torvalds/linux @ 0b77b97066.
    guest = GuestConfig(kernel=Kernel("arm32", 1 << 20), cmdline="x" * 1024)
    assert warnings(guest, Host(xen="4.21")) == [
        "cmdline is 1024 bytes; an arm32 Linux keeps the first 1023 (COMMAND_LINE_SIZE 1024)"
        " and silently drops the rest"]
