"""Hand-written dom0less cases, for what the real blobs do not cover.

Each host is QEMU's `virt` machine (cortex-a57; GICv3 with 4 GiB of RAM at
0x40000000, or GICv2 with 1 GiB) with /chosen/domU* nodes added. Every
expected tree is written by hand from Xen's source at the version's tag;
the comment above it says what decides each value. Shared facts:

- root cells 2+2 (GUEST_ROOT_*_CELLS); psci as make_psci_node writes it;
  one cpu node per vCPU with QEMU's "arm,cortex-a57" (no clock-frequency),
  reg = vCPU number (vcpuid_to_vaffinity for < 16 vCPUs);
- guest GICv3 at 0x3001000 (64 KiB) with one 16 MiB redistributor region at
  0x3020000; guest GICv2 at 0x3001000 (4 KiB) + 0x3002000 (8 KiB);
  phandle 65000 = 0xfde8 (GUEST_PHANDLE_GIC) unless the partial DT says;
- timer PPIs 29, 30, 27 → <1 13 0xf08 1 14 0xf08 1 11 0xf08> (QEMU's timer
  has no clock-frequency);
- vpl011 at 0x22000000, SPI 32 → <0 0 0xf04>, 115200 baud;
- a kernel module with no kernel file: an arm64 Image at RAM + 0.
"""

from __future__ import annotations

from dom0less_support import build, dts, forced_dts, host, partial

PSCI = """
	psci {
		compatible = "arm,psci-1.0\\0arm,psci-0.2\\0arm,psci";
		method = "hvc";
		cpu_off = <0x01>;
		cpu_on = <0x02>;
	};
"""

CPUS_1 = """
	cpus {
		#address-cells = <0x01>;
		#size-cells = <0x00>;

		cpu@0 {
			compatible = "arm,cortex-a57";
			device_type = "cpu";
			reg = <0x00>;
			enable-method = "psci";
		};
	};
"""

GICV3 = """
	interrupt-controller@3001000 {
		#address-cells = <0x00>;
		#interrupt-cells = <0x03>;
		interrupt-controller;
		compatible = "arm,gic-v3";
		reg = <0x00 0x3001000 0x00 0x10000 0x00 0x3020000 0x00 0x1000000>;
		linux,phandle = <0xfde8>;
		phandle = <0xfde8>;
	};
"""

TIMER = """
	timer {
		compatible = "arm,armv8-timer";
		interrupts = <0x01 0x0d 0xf08 0x01 0x0e 0xf08 0x01 0x0b 0xf08>;
		interrupt-parent = <0xfde8>;
	};
"""

VPL011 = """
	sbsa-uart@22000000 {
		compatible = "arm,sbsa-uart";
		reg = <0x00 0x22000000 0x00 0x1000>;
		interrupts = <0x00 0x00 0xf04>;
		interrupt-parent = <0xfde8>;
		current-speed = <0x1c200>;
	};
"""

KERNEL = """
			module@50000000 {
				compatible = "multiboot,kernel", "multiboot,module";
				reg = <0x50000000 0x24e0>;
				bootargs = "console=ttyAMA0";
			};"""


def stringified(node: str) -> str:
    """A vGIC or vpl011 node as 4.14-4.16 name it: "interrupt-controller@"
    __stringify(GUEST_GICD_BASE) and "sbsa-uart@"__stringify(GUEST_PL011_BASE)
    (domain_build.c @ RELEASE-4.14.0 … 4.16.7), the macros' expansion
    xen_mk_ullong(0x03001000) -> 0x03001000ULL (public/xen.h, arch-arm.h)."""
    return (node.replace("interrupt-controller@3001000 {", "interrupt-controller@0x03001000ULL {")
            .replace("sbsa-uart@22000000 {", "sbsa-uart@0x22000000ULL {"))


def tree(*parts: str) -> str:
    """The DTS dtc prints for a root with 2+2 cells and these nodes."""
    body = "\n\n".join(p.strip("\n") for p in parts)
    return ("/dts-v1/;\n\n/ {\n\t#address-cells = <0x02>;\n\t#size-cells = <0x02>;\n\n"
            + body + "\n};\n")


def domain(name: str, body: str) -> str:
    return (f"\t\t{name} {{\n\t\t\tcompatible = \"xen,domain\";\n"
            f"\t\t\t#address-cells = <1>;\n\t\t\t#size-cells = <1>;\n{body}\n\t\t}};")


# --- 4.14: a plain domU -------------------------------------------------------

PLAIN = domain("domU1", "\t\t\tmemory = <0x0 0x80000>;\n\t\t\tcpus = <2>;\n\t\t\tvpl011;"
               + KERNEL)
#: A dom0 kernel: up to 4.15 Xen builds dom0 first and panics without one.
DOM0 = """
		module@60000000 {
			compatible = "multiboot,kernel", "multiboot,module";
			reg = <0x60000000 0x1000000>;
		};
"""


def test_plain_domu_on_4_14():
    # prepare_dtb_domU @ RELEASE-4.14.0: chosen, psci, cpus, memory, gic,
    # timer, vpl011. make_chosen_node tests the *kernel* module's size, so
    # the initrd placeholders are there, still 0 without a ramdisk.
    # allocate_memory records RAM1 even when empty: 512 MiB in bank 0 and
    # a zero-size range at GUEST_RAM1_BASE (0x2_0000_0000). The vGIC and
    # vpl011 node names are the stringified base macros.
    built = build(host("gicv3-4g", DOM0 + PLAIN), "domU1", "4.14")
    assert dts(built.blob) == tree("""
	chosen {
		bootargs = "console=ttyAMA0";
		linux,initrd-start = <0x00 0x00>;
		linux,initrd-end = <0x00 0x00>;
	};
""", PSCI, """
	cpus {
		#address-cells = <0x01>;
		#size-cells = <0x00>;

		cpu@0 {
			compatible = "arm,cortex-a57";
			device_type = "cpu";
			reg = <0x00>;
			enable-method = "psci";
		};

		cpu@1 {
			compatible = "arm,cortex-a57";
			device_type = "cpu";
			reg = <0x01>;
			enable-method = "psci";
		};
	};
""", """
	memory@40000000 {
		device_type = "memory";
		reg = <0x00 0x40000000 0x00 0x20000000 0x02 0x00 0x00 0x00>;
	};
""", stringified(GICV3), TIMER, stringified(VPL011))


def test_plain_domu_on_4_16_has_no_empty_bank():
    # d8e1ed865a (in RELEASE-4.16.0): no zero-size bank any more.
    built = build(host("gicv3-4g", PLAIN), "domU1", "4.16")
    assert ("\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n"
            "\t\treg = <0x00 0x40000000 0x00 0x20000000>;\n\t};\n") in dts(built.blob)


# --- partial device trees: the /gic phandle and where the copy goes -----------

PARTIAL_NO_GIC_PHANDLE = """
/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	gic {
		#interrupt-cells = <3>;
		interrupt-controller;
	};
	aliases {
		rtc0 = "/passthrough/rtc@9010000";
	};
	passthrough {
		compatible = "simple-bus";
		ranges;
		#address-cells = <2>;
		#size-cells = <2>;
		rtc@9010000 {
			compatible = "arm,pl031", "arm,primecell";
			reg = <0x0 0x9010000 0x0 0x1000>;
			interrupts = <0 2 4>;
			xen,path = "/pl031@9010000";
			xen,reg = <0x0 0x9010000 0x0 0x1000 0x0 0x9010000>;
			xen,force-assign-without-iommu;
		};
	};
};
"""

WITH_PARTIAL = domain("domU1", "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;" + """
			module@50000000 {
				compatible = "multiboot,kernel", "multiboot,module";
				reg = <0x50000000 0x24e0>;
			};
			module@50c00000 {
				compatible = "multiboot,device-tree", "multiboot,module";
				reg = <0x50c00000 0x1000>;
			};""")

COPIED = """
	aliases {
		rtc0 = "/passthrough/rtc@9010000";
	};

	passthrough {
		compatible = "simple-bus";
		ranges;
		#address-cells = <0x02>;
		#size-cells = <0x02>;

		rtc@9010000 {
			compatible = "arm,pl031\\0arm,primecell";
			reg = <0x00 0x9010000 0x00 0x1000>;
			interrupts = <0x00 0x02 0x04>;
		};
	};
"""


def gicv2(phandle: str) -> str:
    return f"""
	interrupt-controller@3001000 {{
		#address-cells = <0x00>;
		#interrupt-cells = <0x03>;
		interrupt-controller;
		compatible = "arm,gic-400";
		reg = <0x00 0x3001000 0x00 0x1000 0x00 0x3002000 0x00 0x2000>;
		linux,phandle = <{phandle}>;
		phandle = <{phandle}>;
	}};

	timer {{
		compatible = "arm,armv8-timer";
		interrupts = <0x01 0x0d 0xf08 0x01 0x0e 0xf08 0x01 0x0b 0xf08>;
		interrupt-parent = <{phandle}>;
	}};
"""


MEMORY_256M = """
	memory@40000000 {
		device_type = "memory";
		reg = <0x00 0x40000000 0x00 0x10000000>;
	};
"""


def test_gic_without_phandle_gives_phandle_0_on_4_16():
    # domain_handle_dtb_bootmodule @ RELEASE-4.16.0 takes fdt_get_phandle of
    # /gic as is: 0 when it has none. /aliases and /passthrough are copied
    # in the partial DT's order, xen,* properties consumed, before the GIC.
    # dtc itself calls phandle 0 an error (and so does Linux: no GIC for
    # interrupt-parent 0), hence the forced decoding and the warning.
    built = build(host("gicv2-1g", WITH_PARTIAL), "domU1", "4.16",
                  partial_dtb=partial(PARTIAL_NO_GIC_PHANDLE))
    assert built.warnings[-1] == ("domU1: the partial device tree's /gic has no phandle, so Xen"
                                  " 4.16 gives the GIC phandle 0: the guest finds no interrupt"
                                  " controller (fixed in 4.20)")
    assert forced_dts(built.blob) == tree("""
	chosen {
		linux,initrd-start = <0x00 0x00>;
		linux,initrd-end = <0x00 0x00>;
	};
""", PSCI, CPUS_1, MEMORY_256M, COPIED, stringified(gicv2("0x00")))


def test_gic_without_phandle_keeps_65000_on_4_20():
    # 081683ea57 "xen/arm: dom0less: cope with missing /gic phandle" (4.20).
    # 4.18+ writes the initrd placeholders only with a ramdisk (ac547f0bed).
    built = build(host("gicv2-1g", WITH_PARTIAL), "domU1", "4.20",
                  partial_dtb=partial(PARTIAL_NO_GIC_PHANDLE))
    assert dts(built.blob) == tree("""
	chosen {
	};
""", PSCI, CPUS_1, MEMORY_256M, COPIED, gicv2("0xfde8"))


PARTIAL_GIC_PHANDLE = PARTIAL_NO_GIC_PHANDLE.replace("\tgic {", "\tgic: gic {").replace(
    "interrupts = <0 2 4>;", "interrupt-parent = <&gic>;\n\t\t\tinterrupts = <0 2 4>;")

ENHANCED_PARTIAL = WITH_PARTIAL.replace("cpus = <1>;", "cpus = <1>;\n\t\t\tvpl011;\n"
                                        "\t\t\txen,enhanced = \"no-xenstore\";")


def test_passthrough_before_chosen_on_4_22():
    # prepare_dtb_domU @ RELEASE-4.22.0 (a010efd323 calls
    # domain_handle_dtb_boot_module before make_chosen_node): the partial
    # DT's nodes, chosen, cpus, memory, GIC, timer, hypervisor, psci, vpl011. The
    # partial /gic's phandle (1, dtc's first) replaces 65000 everywhere.
    # /hypervisor: "xen,xen-4.22"; grant table 0x38000000 (16 MiB); from
    # find_domU_holes the tail of bank 0 above 256 MiB of RAM,
    # [0x50000000, 0x1_0000_0000), and all of bank 1, [0x2_0000_0000,
    # 0x100_0000_0000) (the 40-bit default PA bounds nothing here); the
    # event channel PPI 31 → <1 15 0xf08>.
    built = build(host("gicv3-4g", ENHANCED_PARTIAL), "domU1", "4.22",
                  partial_dtb=partial(PARTIAL_GIC_PHANDLE))
    assert dts(built.blob) == tree(COPIED.replace(
        "interrupts = <0x00 0x02 0x04>;",
        "interrupt-parent = <0x01>;\n\t\t\tinterrupts = <0x00 0x02 0x04>;"), """
	chosen {
	};
""", CPUS_1, MEMORY_256M, """
	interrupt-controller@3001000 {
		#address-cells = <0x00>;
		#interrupt-cells = <0x03>;
		interrupt-controller;
		compatible = "arm,gic-v3";
		#redistributor-regions = <0x01>;
		reg = <0x00 0x3001000 0x00 0x10000 0x00 0x3020000 0x00 0x1000000>;
		linux,phandle = <0x01>;
		phandle = <0x01>;
	};

	timer {
		compatible = "arm,armv8-timer";
		interrupts = <0x01 0x0d 0xf08 0x01 0x0e 0xf08 0x01 0x0b 0xf08>;
		interrupt-parent = <0x01>;
	};

	hypervisor {
		compatible = "xen,xen-4.22\\0xen,xen";
		reg = <0x00 0x38000000 0x00 0x1000000 0x00 0x50000000 0x00 0xb0000000 0x02 0x00 0xfe 0x00>;
		interrupts = <0x01 0x0f 0xf08>;
		interrupt-parent = <0x01>;
	};
""", PSCI, VPL011.replace("<0xfde8>", "<0x01>"))
