"""32-bit guests, buffer limits and what each Xen version refuses, on the
hosts of test_dom0less_cases.py (QEMU `virt`)."""

from __future__ import annotations

import struct

import pytest
from dom0less_support import dts, host
from test_dom0less_cases import GICV3, KERNEL, PSCI, VPL011, domain, tree

from xendt.dom0less import build
from xendt.errors import BuildError, ConfigError

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
