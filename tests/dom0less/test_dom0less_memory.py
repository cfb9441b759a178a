"""Hand-written cases for a domU's memory: direct-map, xen,static-mem,
static shared memory. The hosts and the shared facts are those of
test_dom0less_cases.py (QEMU `virt`, cortex-a57)."""

from __future__ import annotations

import pytest
from dom0less_support import build, dts, host
from test_dom0less_cases import CPUS_1, GICV3, KERNEL, PSCI, TIMER, domain, tree

from xendt.errors import BuildError

RAMDISK = """
			module@50400000 {
				compatible = "multiboot,ramdisk", "multiboot,module";
				reg = <0x50400000 0x100000>;
			};"""

DIRECT = domain("domU1", """\t\t\tmemory = <0x0 0x40000>;
			cpus = <1>;
			vpl011;
			xen,static-mem = <0x60000000 0x10000000>;
			direct-map;""" + KERNEL + RAMDISK)


def test_direct_map_on_4_18():
    # construct_domU @ RELEASE-4.18.0: assign_static_memory_11 gives the
    # domain its host bank, 256 MiB at 0x60000000, at the same address.
    # vgic_v3_domain_init (domain_use_host_layout): QEMU's distributor
    # 0x8000000 (64 KiB) and its one redistributor region 0x80a0000 size
    # 0xf60000 (123 redistributors ≥ 1 vCPU); no #redistributor-regions
    # before 4.20. domain_vpl011_init: Xen's console UART, QEMU's
    # /chosen stdout-path /pl011@9000000, SPI 1 → <0 1 0xf04>.
    # place_modules: kernel at 0x60000000 (+0x24e0); bank 0 ends at
    # 0x70000000 ≥ 0x68000000 + 2 MiB DTB + 2 MiB (1 MiB initrd rounded up),
    # so DTB at 0x68000000 and initrd at 0x68200000..0x68300000.
    built = build(host("gicv3-4g", DIRECT), "domU1", "4.18")
    assert dts(built.blob) == tree("""
	chosen {
		bootargs = "console=ttyAMA0";
		linux,initrd-start = <0x00 0x68200000>;
		linux,initrd-end = <0x00 0x68300000>;
	};
""", PSCI, CPUS_1, """
	memory@60000000 {
		device_type = "memory";
		reg = <0x00 0x60000000 0x00 0x10000000>;
	};

	interrupt-controller@8000000 {
		#address-cells = <0x00>;
		#interrupt-cells = <0x03>;
		interrupt-controller;
		compatible = "arm,gic-v3";
		reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0xf60000>;
		linux,phandle = <0xfde8>;
		phandle = <0xfde8>;
	};
""", TIMER, """
	sbsa-uart@9000000 {
		compatible = "arm,sbsa-uart";
		reg = <0x00 0x9000000 0x00 0x1000>;
		interrupts = <0x00 0x01 0xf04>;
		interrupt-parent = <0xfde8>;
		current-speed = <0x1c200>;
	};
""")


def test_direct_map_warns_about_the_build_option():
    built = build(host("gicv3-4g", DIRECT), "domU1", "4.18")
    assert built.warnings[0] == ("domU1: xen,static-mem needs a Xen built with"
                                 " CONFIG_STATIC_MEMORY (UNSUPPORTED, off in the default build)")


STATIC = domain("domU1", """\t\t\tmemory = <0x0 0x60000>;
			cpus = <1>;
			xen,static-mem = <0x50000000 0x8000000 0x60000000 0x10000000>;""" + KERNEL)


def test_static_mem_on_gicv2_4_20():
    # allocate_static_memory (static-memory.c @ RELEASE-4.20.0): 128 MiB and
    # 256 MiB of host memory land one after the other in guest bank 0:
    # one 384 MiB range at 0x40000000. GICv2 host → guest GICv2 node.
    built = build(host("gicv2-1g", STATIC), "domU1", "4.20")
    assert dts(built.blob) == tree("""
	chosen {
		bootargs = "console=ttyAMA0";
	};
""", PSCI, CPUS_1, """
	memory@40000000 {
		device_type = "memory";
		reg = <0x00 0x40000000 0x00 0x18000000>;
	};

	interrupt-controller@3001000 {
		#address-cells = <0x00>;
		#interrupt-cells = <0x03>;
		interrupt-controller;
		compatible = "arm,gic-400";
		reg = <0x00 0x3001000 0x00 0x1000 0x00 0x3002000 0x00 0x2000>;
		linux,phandle = <0xfde8>;
		phandle = <0xfde8>;
	};
""", TIMER)


# 2 GiB at 0x48000000, then 1.5 GiB at 0xd0000000: the second bank fills
# the last GiB of guest bank 0 and spills 512 MiB into bank 1.
SPLIT = domain("domU1", """\t\t\tmemory = <0x0 0x380000>;
			cpus = <1>;
			xen,static-mem = <0x48000000 0x80000000 0xd0000000 0x60000000>;""" + KERNEL)


def test_static_mem_spilling_into_bank1_panics_on_4_21():
    # allocate_static_memory @ RELEASE-4.21.0 adds only the spilled 512 MiB
    # of the second bank: 2.5 GiB counted against 3.5 GiB of `memory`.
    with pytest.raises(BuildError) as e:
        build(host("gicv3-4g", SPLIT), "domU1", "4.21")
    assert str(e.value) == (
        "/chosen/domU1: 'memory' (3670016 KiB) does not match the xen,static-mem Xen counts"
        " (2621440 KiB) (Xen 4.21 counts only the part of a bank that spills into guest RAM"
        " bank 1; fixed in 4.22); Xen panics")


def test_static_mem_spilling_into_bank1_on_4_22():
    # d6a6ea77e1 "static-memory: Fix incorrect tot_size calculation" (4.22):
    # bank 0 full (3 GiB at 0x40000000), 512 MiB at 0x2_0000_0000.
    # 4.22 order: chosen, cpus, memory, GIC (#redistributor-regions), timer,
    # psci.
    built = build(host("gicv3-4g", SPLIT), "domU1", "4.22")
    assert dts(built.blob) == tree("""
	chosen {
		bootargs = "console=ttyAMA0";
	};
""", CPUS_1, """
	memory@40000000 {
		device_type = "memory";
		reg = <0x00 0x40000000 0x00 0xc0000000 0x02 0x00 0x00 0x20000000>;
	};
""", GICV3.replace('"arm,gic-v3";', '"arm,gic-v3";\n\t\t#redistributor-regions = <0x01>;'),
        TIMER, PSCI)


SHM = domain("domU1", """\t\t\tmemory = <0x0 0x40000>;
			cpus = <1>;""" + KERNEL + """
			shm@0 {
				compatible = "xen,domain-shared-memory-v1";
				xen,shm-id = "ring0";
				role = "owner";
				xen,shared-mem = <0x70000000 0x7fe00000 0x200000>;
			};""")

RESERVED = """
	reserved-memory {
		ranges;
		#address-cells = <0x02>;
		#size-cells = <0x02>;

		xen-shmem@7fe00000 {
			compatible = "xen,shared-memory-v1";
			reg = <0x00 0x7fe00000 0x00 0x200000>;
			xen,id = "ring0";
			xen,offset = <0x00 0x00>;
		};
	};
"""


def test_static_shm_on_4_18():
    # process_shm and make_resv_memory_node (domain_build.c @ RELEASE-4.18.0):
    # the 2 MiB region at guest 0x7fe00000 under /reserved-memory, after
    # /memory; xen,offset is a 64-bit 0.
    built = build(host("gicv3-4g", SHM), "domU1", "4.18")
    assert dts(built.blob) == tree("""
	chosen {
		bootargs = "console=ttyAMA0";
	};
""", PSCI, CPUS_1, """
	memory@40000000 {
		device_type = "memory";
		reg = <0x00 0x40000000 0x00 0x10000000>;
	};
""", RESERVED, GICV3, TIMER)


def test_static_shm_also_in_memory_on_4_19():
    # 7846f7699f "xen/arm: List static shared memory regions as /memory
    # nodes" (4.19): the region follows the RAM in /memory reg too.
    built = build(host("gicv3-4g", SHM), "domU1", "4.19")
    assert dts(built.blob) == tree("""
	chosen {
		bootargs = "console=ttyAMA0";
	};
""", PSCI, CPUS_1, """
	memory@40000000 {
		device_type = "memory";
		reg = <0x00 0x40000000 0x00 0x10000000 0x00 0x7fe00000 0x00 0x200000>;
	};
""", RESERVED, GICV3, TIMER)
