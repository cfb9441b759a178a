"""32-bit guests, buffer limits and what each Xen version refuses, on the
hosts of test_dom0less_cases.py (QEMU `virt`)."""

from __future__ import annotations

import struct

import pytest
from dom0less_support import build, dts, host, partial
from test_dom0less_cases import (
    GICV3,
    KERNEL,
    PARTIAL_NO_GIC_PHANDLE,
    PSCI,
    VPL011,
    WITH_PARTIAL,
    domain,
    tree,
)

from xendt.errors import BuildError, ConfigError
from xendt.ranges import Range

ZIMAGE_DOMAIN = domain("domU1", """\t\t\tmemory = <0x0 0x80000>;
			cpus = <1>;
			vpl011;
			xen,enhanced = "no-xenstore";
			module@50000000 {
				compatible = "multiboot,kernel", "multiboot,module";
				reg = <0x50000000 0x100000>;
				bootargs = "console=ttyAMA0";
			};
			module@50400000 {
				compatible = "multiboot,ramdisk", "multiboot,module";
				reg = <0x50400000 0x300000>;
			};""")


def zimage(length: int) -> bytes:
    """An arm32 zImage: magic 0x016f2818 at 0x24, start 0 and end `length`
    at 0x28/0x2c (little-endian), position independent."""
    head = bytearray(0x30)
    struct.pack_into("<III", head, 0x24, 0x016F2818, 0, length)
    return bytes(head) + bytes(length - len(head))


def test_zimage_guest_on_4_18():
    # kernel_zimage32_probe: a 32-bit domain of 1 MiB. kernel_zimage_place:
    # (min(0x40000000 + 128 MiB, RAM end) - 1 MiB) & ~(2 MiB - 1) =
    # 0x47e00000, ending 0x47f00000. place_modules: DTB (2 MiB) + initrd
    # (3 MiB → 4 MiB) fit at 0x48000000, above the kernel: initrd at
    # 0x48200000..0x48500000. make_cpus_node: no enable-method for 32-bit;
    # make_timer_node: "arm,armv7-timer"; make_hypervisor_node: no extended
    # regions for 32-bit guests, so only the grant table.
    built = build(host("gicv3-4g", ZIMAGE_DOMAIN), "domU1", "4.18", kernel=zimage(0x100000))
    assert dts(built.blob) == tree("""
	chosen {
		bootargs = "console=ttyAMA0";
		linux,initrd-start = <0x00 0x48200000>;
		linux,initrd-end = <0x00 0x48500000>;
	};
""", PSCI, """
	cpus {
		#address-cells = <0x01>;
		#size-cells = <0x00>;

		cpu@0 {
			compatible = "arm,cortex-a57";
			device_type = "cpu";
			reg = <0x00>;
		};
	};

	memory@40000000 {
		device_type = "memory";
		reg = <0x00 0x40000000 0x00 0x20000000>;
	};
""", GICV3, """
	timer {
		compatible = "arm,armv7-timer";
		interrupts = <0x01 0x0d 0xf08 0x01 0x0e 0xf08 0x01 0x0b 0xf08>;
		interrupt-parent = <0xfde8>;
	};
""", VPL011, """
	hypervisor {
		compatible = "xen,xen-4.18\\0xen,xen";
		reg = <0x00 0x38000000 0x00 0x1000000>;
		interrupts = <0x01 0x0f 0xf08>;
		interrupt-parent = <0xfde8>;
	};
""")


def test_zimage_placement():
    built = build(host("gicv3-4g", ZIMAGE_DOMAIN), "domU1", "4.18", kernel=zimage(0x100000))
    assert built.initrd is not None
    assert (built.bits, hex(built.kernel.base), hex(built.dtb.base), hex(built.initrd.base)) == \
        (32, "0x47e00000", "0x48000000", "0x48200000")


def test_zimage_guest_is_told_it_gets_no_extended_regions():
    built = build(host("gicv3-4g", ZIMAGE_DOMAIN), "domU1", "4.18", kernel=zimage(0x100000))
    assert built.warnings == (("domU1: extended regions not supported for 32-bit guests (Xen 4.18"
                              " gives none)"),)


def many_vcpus(count: int) -> str:
    return domain("domU1", f"\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <{count}>;" + KERNEL)


def test_128_vcpus_overflow_the_4k_buffer_of_4_21():
    # DOMU_DTB_SIZE is 4096 up to 4.21: 128 cpu nodes do not fit.
    with pytest.raises(BuildError) as e:
        build(host("gicv3-4g", many_vcpus(128)), "domU1", "4.21")
    assert str(e.value) == ("the domU device tree does not fit Xen's 4096-byte buffer"
                            " (DOMU_DTB_SIZE): \"Device tree generation failed\", Xen panics")


def test_128_vcpus_fit_4_22():
    # e80f4da85b: DOMU_DTB_SIZE = 2048 + MAX_VIRT_CPUS (128) * 128 = 18432.
    # vcpuid_to_vaffinity: vCPU 15 → AFF0 15, vCPU 16 → AFF1 1, vCPU 127
    # → AFF1 7, AFF0 15: cpu@f, cpu@100, cpu@70f.
    text = dts(build(host("gicv3-4g", many_vcpus(128)), "domU1", "4.22").blob)
    names = [line.strip() for line in text.splitlines() if line.strip().startswith("cpu@")]
    assert (len(names), names[15], names[16], names[127]) == \
        (128, "cpu@f {", "cpu@100 {", "cpu@70f {")


def test_nine_vcpus_on_gicv2_refused():
    # vgic_max_vcpus: a GICv2 domain has at most 8 vCPUs.
    with pytest.raises(BuildError) as e:
        build(host("gicv2-1g", many_vcpus(9)), "domU1", "4.19")
    assert str(e.value) == ("/chosen/domU1: cpus = 9; a GICv2 domain has 1 to 8 vCPUs (Xen"
                            " panics: \"Error creating domain\")")


ENABLED = domain("domU1", "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;\n"
                 "\t\t\txen,enhanced = \"enabled\";" + KERNEL)


def test_xenstore_without_dom0_panics_on_4_19():
    # construct_domU @ RELEASE-4.19.0: "At the moment, Xenstore support
    # requires dom0 to be present".
    with pytest.raises(BuildError) as e:
        build(host("gicv3-4g", ENABLED), "domU1", "4.19")
    assert str(e.value) == ("/chosen/domU1: xen,enhanced = 'enabled' needs dom0 for xenstore,"
                            " and the host DT has none (Xen panics); use \"no-xenstore\"")


def test_xenstore_with_dom0_gets_hypervisor_node():
    dom0 = """
		module@60000000 {
			compatible = "multiboot,kernel", "multiboot,module";
			reg = <0x60000000 0x1000000>;
		};
"""
    built = build(host("gicv3-4g", dom0 + ENABLED), "domU1", "4.19")
    assert built.hypervisor and "\thypervisor {\n" in dts(built.blob)


def test_unknown_domain_named():
    with pytest.raises(ConfigError) as e:
        build(host("gicv3-4g", ENABLED), "domU9", "4.19", host_name="virt.dtb")
    assert str(e.value) == ("virt.dtb: no dom0less domain 'domU9' under /chosen (compatible"
                            " \"xen,domain\"); found: domU1")


def test_partial_dt_needed():
    body = "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;" + KERNEL + """
			module@50c00000 {
				compatible = "multiboot,device-tree", "multiboot,module";
				reg = <0x50c00000 0x1000>;
			};"""
    with pytest.raises(ConfigError) as e:
        build(host("gicv3-4g", domain("domU1", body)), "domU1", "4.19")
    assert str(e.value) == ("/chosen/domU1 has a partial device tree at 0x50c00000 (4096 bytes):"
                            " give the file (--partial-dtb)")


def test_gicv3_4_17_has_no_redistributor_regions_property():
    text = dts(build(host("gicv3-4g", many_vcpus(1)), "domU1", "4.17").blob)
    assert "#redistributor-regions" not in text


def test_gzip_image_is_inflated_and_loaded_at_its_text_offset():
    # kernel_decompress then kernel_zimage64_probe (kernel.c @ RELEASE-4.19.0):
    # the length becomes the gzip ISIZE (2 MiB) and the Image's text_offset
    # (0x80000) places it at 0x40080000.
    import gzip

    image = bytearray(2 << 20)
    struct.pack_into("<I4xQ", image, 0, 0x14000008, 0x80000)
    packed = gzip.compress(bytes(image))
    body = ("\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;\n"
            "\t\t\tmodule@50000000 {\n"
            "\t\t\t\tcompatible = \"multiboot,kernel\", \"multiboot,module\";\n"
            f"\t\t\t\treg = <0x50000000 {len(packed):#x}>;\n\t\t\t}};")
    built = build(host("gicv3-4g", domain("domU1", body)), "domU1", "4.19", kernel=packed)
    assert (hex(built.kernel.base), built.kernel.size) == ("0x40080000", 2 << 20)


# --- boot modules the early scan drops ----------------------------------------
# add_boot_module (xen/arch/arm/setup.c @ RELEASE-4.14.0 … RELEASE-4.19.0,
# xen/common/device-tree/bootinfo.c @ RELEASE-4.20.0 … RELEASE-4.22.0): mod[0]
# is Xen, mod[1] the FDT, then /chosen's modules in DT order. From 4.18
# (4f6a291582) a module overlapping one already registered is dropped;
# kernel_probe finds no kernel ("Missing kernel boot module?", -ENOENT) and
# create_domUs panics, or finds no ramdisk and builds the domain without one.

def module(kind: str, base: int, size: int) -> str:
    return (f"\n\t\t\tmodule@{base:x} {{\n\t\t\t\tcompatible = \"multiboot,{kind}\","
            f" \"multiboot,module\";\n\t\t\t\treg = <{base:#x} {size:#x}>;\n\t\t\t}};")


def plain(name: str, *modules: str) -> str:
    return domain(name, "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;\n\t\t\tvpl011;"
                  + "".join(modules))


#: domU1's ramdisk starts inside its kernel [0x50000000, 0x50100000).
RAMDISK_IN_KERNEL = plain("domU1", module("kernel", 0x5000_0000, 0x10_0000),
                          module("ramdisk", 0x500F_F000, 0x30_0000))


@pytest.mark.parametrize("version", ["4.16", "4.17"])
def test_a_ramdisk_over_the_kernel_is_loaded_before_4_18(version):
    built = build(host("gicv3-4g", RAMDISK_IN_KERNEL), "domU1", version)
    assert built.initrd is not None and built.initrd.size == 0x30_0000
    assert [w for w in built.warnings if "early scan" in w] == []


@pytest.mark.parametrize("version, release", [("4.18", "4.18.0"), ("4.22", "4.22.0")])
def test_a_ramdisk_over_the_kernel_is_dropped_from_4_18(version, release):
    built = build(host("gicv3-4g", RAMDISK_IN_KERNEL), "domU1", version)
    assert built.initrd is None
    assert "linux,initrd-start" not in dts(built.blob)
    assert [w for w in built.warnings if "early scan" in w] == [
        f"domU1: Xen {release}'s early scan drops the ramdisk module /chosen/domU1/module@500ff000"
        " (\"Region: [0x000000500ff000, 0x000000503ff000) overlapping with mod[2]:"
        " [0x00000050000000, 0x00000050100000)\"): the domain is built without it"]


#: domU2's kernel starts inside domU1's: registered second, it is dropped.
KERNEL_IN_KERNEL = (plain("domU1", module("kernel", 0x5000_0000, 0x10_0000)) + "\n"
                    + plain("domU2", module("kernel", 0x5008_0000, 0x10_0000)))


def test_a_kernel_over_another_domains_kernel_panics_from_4_18():
    with pytest.raises(BuildError) as e:
        build(host("gicv3-4g", KERNEL_IN_KERNEL), "domU2", "4.19")
    assert str(e.value) == (
        "/chosen/domU2/module@50080000: Xen 4.19.0's early scan drops the kernel module"
        " (\"Region: [0x00000050080000, 0x00000050180000) overlapping with mod[2]:"
        " [0x00000050000000, 0x00000050100000)\"): kernel_probe prints \"Missing kernel boot"
        " module?\", then panic \"Could not set up domain domU2 (rc = -2)\"")
    assert build(host("gicv3-4g", KERNEL_IN_KERNEL), "domU1", "4.19").kernel.size == 0x10_0000
    assert build(host("gicv3-4g", KERNEL_IN_KERNEL), "domU2", "4.17").kernel.size == 0x10_0000


def test_a_kernel_two_domains_share_is_found_by_both():
    # The second registration is dropped, but boot_module_find_by_addr_and_kind
    # finds the first: same kind, same address.
    shared = (plain("domU1", module("kernel", 0x5000_0000, 0x10_0000)) + "\n"
              + plain("domU2", module("kernel", 0x5000_0000, 0x10_0000)))
    built = build(host("gicv3-4g", shared), "domU2", "4.22")
    assert [w for w in built.warnings if "early scan" in w] == []


#: 31 domains of one kernel each: with Xen and the FDT, 33 modules for
#: MAX_MODULES = 32 (every version).
CROWD = "\n".join(plain(f"d{i}", module("kernel", 0x5000_0000 + i * 0x10_0000, 0x10_0000))
                  for i in range(31))


@pytest.mark.parametrize("version, panic", [
    ("4.16", "Could not set up domain d30"),
    ("4.21", "Could not set up domain d30 (rc = -2)")])
def test_the_thirty_first_module_is_ignored_and_its_domain_panics(version, panic):
    board = host("gicv3-4g", CROWD)
    assert build(board, "d29", version).kernel.size == 0x10_0000
    with pytest.raises(BuildError) as e:
        build(board, "d30", version)
    assert str(e.value) == (
        f"/chosen/d30/module@51e00000: Xen {version}.0's early scan drops the kernel module"
        " (\"Ignoring Kernel boot module at 0000000051e00000-0000000051f00000 (too many)\"):"
        f" kernel_probe prints \"Missing kernel boot module?\", then panic \"{panic}\"")


# --- xen,reg: what handle_passthrough_prop does not check ---------------------
# handle_passthrough_prop (domain_build.c @ RELEASE-4.14.0 … RELEASE-4.18.0,
# dom0less-build.c @ RELEASE-4.19.0 … RELEASE-4.22.0) maps len / (4 * (2 *
# #address-cells + #size-cells)) whole entries and never looks at the rest, and
# never compares the guest range with the domain's RAM: map_regions_p2mt
# replaces those RAM pages, and it runs (prepare_dtb_domU) before kernel_load,
# initrd_load and dtb_load copy into them (construct_domU).

def rtc_partial(xen_reg: str) -> bytes:
    return partial(PARTIAL_NO_GIC_PHANDLE.replace(
        "xen,reg = <0x0 0x9010000 0x0 0x1000 0x0 0x9010000>;", f"xen,reg = <{xen_reg}>;"))


def built_with(xen_reg: str, version: str = "4.21"):
    return build(host("gicv3-4g", WITH_PARTIAL), "domU1", version, partial_dtb=rtc_partial(xen_reg),
                 partial_name="rtc.dtb")


def xen_reg_warnings(built) -> list[str]:
    return [w for w in built.warnings if "xen,reg" in w]


def test_a_whole_xen_reg_entry_is_not_warned():
    assert xen_reg_warnings(built_with("0x0 0x9010000 0x0 0x1000 0x0 0x9010000")) == []


def test_cells_past_the_last_whole_xen_reg_entry_are_ignored_with_a_warning():
    built = built_with("0x0 0x9010000 0x0 0x1000 0x0 0x9010000 0x0 0x9020000")
    assert built.mapped == (Range(0x901_0000, 0x1000),)
    assert xen_reg_warnings(built) == [
        "domU1: /passthrough/rtc@9010000 in rtc.dtb: xen,reg is 32 bytes, not whole entries of 24"
        " (2 x #address-cells 2 + #size-cells 2, in 4-byte cells): Xen maps 1 and ignores the last"
        " 8 bytes"]


def test_a_xen_reg_shorter_than_one_entry_maps_nothing():
    built = built_with("0x0 0x9010000 0x0 0x1000")
    assert built.mapped == ()
    assert xen_reg_warnings(built) == [
        "domU1: /passthrough/rtc@9010000 in rtc.dtb: xen,reg is 16 bytes, not whole entries of 24"
        " (2 x #address-cells 2 + #size-cells 2, in 4-byte cells): Xen maps 0 and ignores the last"
        " 16 bytes"]


def test_a_device_mapped_into_the_domains_ram_is_warned():
    # 256 MiB at 0x40000000; the kernel at 0x40000000, DTB + nothing at
    # 0x48000000 (place_modules): 0x4c000000 is RAM nothing is loaded into.
    built = built_with("0x0 0x9010000 0x0 0x1000 0x0 0x4c000000")
    assert xen_reg_warnings(built) == [
        "domU1: /passthrough/rtc@9010000 in rtc.dtb: xen,reg entry 0 maps the device at guest"
        " [0x4c000000, 0x4c001000), inside RAM [0x40000000, 0x50000000): Xen maps it over those RAM"
        " pages unchecked; the memory node still lists them and the guest reaches the device"
        " there"]


@pytest.mark.parametrize("version, panic", [
    ("4.20", "Unable to copy the kernel in the hwdom memory"),
    ("4.21", "Unable to copy the kernel in the d<id> memory")])
def test_a_device_mapped_over_the_kernel_panics(version, panic):
    with pytest.raises(BuildError) as e:
        built_with("0x0 0x9010000 0x0 0x1000 0x0 0x40000000", version)
    assert str(e.value) == (
        "/passthrough/rtc@9010000 in rtc.dtb: xen,reg entry 0 maps the device at guest"
        " [0x40000000, 0x40001000), over the kernel Xen loads at [0x40000000, 0x400024e0) in"
        " domU1's RAM; mapped first, it leaves no RAM to copy the kernel into (Xen panics:"
        f" \"{panic}\")")


def test_a_device_mapped_over_the_dtb_panics_with_the_bytes_left():
    # The DTB at 0x48000000 (0x4c000000 elsewhere changes nothing in it):
    # its first page fails, so no byte is copied.
    dtb = built_with("0x0 0x9010000 0x0 0x1000 0x0 0x4c000000", "4.19").dtb
    assert dtb.base == 0x4800_0000
    with pytest.raises(BuildError) as e:
        built_with("0x0 0x9010000 0x0 0x1000 0x0 0x48000000", "4.19")
    assert str(e.value) == (
        "/passthrough/rtc@9010000 in rtc.dtb: xen,reg entry 0 maps the device at guest"
        f" [0x48000000, 0x48001000), over the DTB Xen loads at [0x48000000, {dtb.end:#x}) in"
        " domU1's RAM; mapped first, it leaves no RAM to copy the DTB into (Xen panics:"
        f" \"Unable to copy the DTB to d<id> memory (left = {dtb.size} bytes)\")")
NO_DOM0 = domain("domU1", "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;" + KERNEL)


def test_no_dom0_kernel_panics_up_to_4_15():
    # start_xen @ RELEASE-4.15.0 builds dom0 before create_domUs: kernel_probe
    # finds no dom0 kernel, construct_dom0 fails, setup.c panics.
    with pytest.raises(BuildError) as e:
        build(host("gicv3-4g", NO_DOM0), "domU1", "4.15.7")
    assert str(e.value) == ("host.dtb: no dom0 kernel module under /chosen, and Xen 4.15.7"
                            " builds dom0 before the dom0less domains (Xen: \"Missing kernel boot"
                            " module?\", then panics \"Could not set up DOM0 guest OS\"); a boot"
                            " without dom0 came in 4.16")


def test_first_unknown_module_is_dom0s_kernel_on_4_14():
    # process_multiboot_node @ RELEASE-4.14.0 guesses that the first module
    # of no known kind is a kernel; under /chosen it is dom0's.
    dom0 = ("\t\tmodule@60000000 {\n\t\t\tcompatible = \"multiboot,module\";\n"
            "\t\t\treg = <0x60000000 0x1000000>;\n\t\t};\n")
    assert build(host("gicv3-4g", dom0 + NO_DOM0), "domU1", "4.14").vcpus == 1


def test_no_dom0_needed_from_4_16():
    # fcb97d1f19 (RELEASE-4.16.0): is_dom0less_mode, no dom0 kernel, no dom0.
    assert build(host("gicv3-4g", NO_DOM0), "domU1", "4.16").vcpus == 1
