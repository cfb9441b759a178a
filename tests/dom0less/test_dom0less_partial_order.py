"""Where the partial device tree goes in a domU's tree, by release.

a010efd323 ("xen/dom0less: introduce next_phandle in struct kernel_info")
moves domain_handle_dtb_boot_module() before make_chosen_node() in
prepare_dtb_domU (xen/common/device-tree/dom0less-build.c): the partial
DT's nodes come first. `git tag --contains a010efd323` names RELEASE-4.22.0
and no earlier release; RELEASE-4.21.0 … RELEASE-4.21.2 (and stable-4.21)
still copy them after /memory, as the real 4.21.0 domU4 blob shows.

The host is the real 4.21.0 all-nodom0-gicv3 run's (tests/data/
reference-dom0less), its domU4 (512 MiB, 1 vCPU, vpl011, no xen,enhanced)
with modules/passthrough-rtc.dtb as partial DT and modules/dumper.bin as
kernel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dom0less_support import build, dts

REFERENCE = Path(__file__).resolve().parents[2] / "tests" / "data" / "reference-dom0less"
RUN = REFERENCE / "4.21.0" / "all-nodom0-gicv3"

#: prepare_dtb_domU @ RELEASE-4.22.0, in order: root cells 2+2;
#: domain_handle_dtb_boot_module (scan_pfdt_node copies /passthrough with
#: its xen,* properties consumed; /gic only gives its phandle, 1);
#: make_chosen_node (bootargs; no ramdisk, no initrd placeholders);
#: make_cpus_node; make_memory_node (512 MiB at GUEST_RAM0_BASE); no
#: reserved memory; make_intc_domU_node (GICv3, one redistributor region,
#: phandle 1 from the partial DT); make_timer_node; no xen,enhanced, so no
#: /hypervisor; make_arch_nodes: make_psci_node, then the vpl011.
EXPECTED_4_22 = """/dts-v1/;

/ {
	#address-cells = <0x02>;
	#size-cells = <0x02>;

	passthrough {
		compatible = "simple-bus";
		ranges;
		#address-cells = <0x02>;
		#size-cells = <0x02>;

		apb-pclk {
			compatible = "fixed-clock";
			#clock-cells = <0x00>;
			clock-frequency = <0x16e3600>;
			clock-output-names = "clk24mhz";
			phandle = <0x02>;
		};

		pl031@9010000 {
			compatible = "arm,pl031\\0arm,primecell";
			reg = <0x00 0x9010000 0x00 0x1000>;
			interrupt-parent = <0x01>;
			interrupts = <0x00 0x02 0x04>;
			clocks = <0x02>;
			clock-names = "apb_pclk";
		};
	};

	chosen {
		bootargs = "console=ttyAMA0";
	};

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

	memory@40000000 {
		device_type = "memory";
		reg = <0x00 0x40000000 0x00 0x20000000>;
	};

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

	psci {
		compatible = "arm,psci-1.0\\0arm,psci-0.2\\0arm,psci";
		method = "hvc";
		cpu_off = <0x01>;
		cpu_on = <0x02>;
	};

	sbsa-uart@22000000 {
		compatible = "arm,sbsa-uart";
		reg = <0x00 0x22000000 0x00 0x1000>;
		interrupts = <0x00 0x00 0xf04>;
		interrupt-parent = <0x01>;
		current-speed = <0x1c200>;
	};
};
"""


def domu4(xen: str) -> str:
    built = build((RUN / "host.dtb").read_bytes(), "domU4", xen,
                  partial_dtb=(REFERENCE / "modules" / "passthrough-rtc.dtb").read_bytes(),
                  kernel=(REFERENCE / "modules" / "dumper.bin").read_bytes(), pa_bits=44)
    return dts(built.blob)


def test_rtc_partial_dt_comes_before_chosen_on_4_22():
    assert domu4("4.22") == EXPECTED_4_22


@pytest.mark.parametrize("xen", ["4.21", "4.21.2"])
def test_rtc_partial_dt_comes_after_memory_on_4_21(xen):
    # The real 4.21.0 blob, whose stable branch never took a010efd323.
    tops = [line.strip() for line in domu4(xen).splitlines() if line.startswith("\t") and
            line.endswith(" {") and not line.startswith("\t\t")]
    assert tops == ["chosen {", "cpus {", "memory@40000000 {", "passthrough {",
                    "interrupt-controller@3001000 {", "timer {", "psci {",
                    "sbsa-uart@22000000 {"]
