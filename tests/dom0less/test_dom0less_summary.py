"""All domains of a host at once: the summary table and the warnings only
the whole host shows."""

from __future__ import annotations

from pathlib import Path

from dom0less_support import build_all, host, partial
from test_dom0less_cases import KERNEL, domain

from xendt.dom0less.summary import table

REFERENCE = Path(__file__).resolve().parents[2] / "tests" / "data" / "reference-dom0less"


def test_summary_of_the_reference_host():
    # 4.19.0/all-nodom0-gicv3 (README there): domU1 256 MiB; domU2 1 GiB,
    # 2 vCPUs, no-xenstore; domU3 3.5 GiB spilling into bank 1,
    # no-xenstore; domU4 512 MiB with the PL031 passed through. Regions:
    # find_domU_holes, 1 GiB → [2 GiB, 4 GiB) and all of bank 1; 3.5 GiB →
    # bank 0 full, bank 1 from 0x2_2000_0000.
    run = REFERENCE / "4.19.0" / "all-nodom0-gicv3"
    built, warnings = build_all(
        (run / "host.dtb").read_bytes(), "4.19",
        partials={"domU4": (REFERENCE / "modules" / "passthrough-rtc.dtb").read_bytes()})
    assert warnings == ()
    assert table(built) == (
        "domain  vcpus  memory                                 regions"
        "                                 passthrough     warnings\n"
        "domU1   1      0x40000000 256 MiB                     no /hypervisor"
        "                          -               2\n"
        "domU2   2      0x40000000 1 GiB                       0x80000000 2 GiB, 0x200000000 1016 GiB"
        "  -               1\n"
        "domU3   1      0x40000000 3 GiB, 0x200000000 512 MiB  0x220000000 1015.5 GiB"
        "                  -               1\n"
        "domU4   1      0x40000000 512 MiB                     no /hypervisor"
        "                          /pl031@9010000  2\n")


MMIO_IN_STATIC = """
/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	passthrough {
		compatible = "simple-bus";
		ranges;
		#address-cells = <2>;
		#size-cells = <2>;
		sram@60000000 {
			compatible = "mmio-sram";
			reg = <0x0 0x60000000 0x0 0x100000>;
			xen,reg = <0x0 0x60000000 0x0 0x100000 0x0 0x60000000>;
			xen,force-assign-without-iommu;
		};
	};
};
"""


def test_passthrough_into_another_domains_static_memory_is_flagged():
    owner = domain("domU1", "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;\n"
                   "\t\t\txen,static-mem = <0x60000000 0x10000000>;" + KERNEL)
    thief = domain("domU2", "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;" + KERNEL + """
			module@50c00000 {
				compatible = "multiboot,device-tree", "multiboot,module";
				reg = <0x50c00000 0x1000>;
			};""")
    _, warnings = build_all(host("gicv3-4g", owner + "\n" + thief), "4.19",
                            partials={"domU2": partial(MMIO_IN_STATIC)})
    assert warnings == (("domU2: passthrough xen,reg [0x60000000, 0x60100000) lies in domU1's"
                         " static memory [0x60000000, 0x70000000)"),)


def test_public_shape_is_a_guest_dt():
    # The reference domU2 of 4.21.0/all-nodom0-gicv3: 1 GiB, a ramdisk of
    # 0x300123 bytes at 0x48200000 (place_modules), the DTB at 0x48000000.
    from xendt.dom0less.api import build_dom0less
    from xendt.guest.model import Host
    from xendt.xen.context import resolve

    run = REFERENCE / "4.21.0" / "all-nodom0-gicv3"
    result = build_dom0less((run / "host.dtb").read_bytes(), "domU2", Host(xen="4.21"),
                            xen=resolve("4.21"))
    segments = [(s.name, hex(s.base), s.size) for s in result.memory_map.segments]
    assert (result.dtb, segments) == ((run / "domU2.dtb").read_bytes(), [
        ("kernel", "0x40000000", 9440), ("dtb", "0x48000000", 1485),
        ("ramdisk", "0x48200000", 0x300123)])
