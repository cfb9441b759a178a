"""Domain-node properties a Xen version does not read: Xen builds the domain
as if they were absent, and so does xendt, with a warning naming the first
release that reads the property. Each "not read" is the absence of the
property's name from the version's source (git grep of xen/arch/arm and
xen/common at the tag); the first readers are in the layouts' [dom0less]
`properties` and [[point]] entries."""

from __future__ import annotations

import pytest
from dom0less_support import build, dts, host
from test_dom0less_cases import DOM0, KERNEL, domain

BASE = "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;"
#: 4.16 reads xen,static-mem with the domain node's own cells
#: (allocate_static_memory, domain_build.c @ RELEASE-4.16.0).
STATIC_MEM_416 = ("\n\t\t\t#xen,static-mem-address-cells = <1>;"
                  "\n\t\t\t#xen,static-mem-size-cells = <1>;"
                  "\n\t\t\txen,static-mem = <0x60000000 0x10000000>;")
EVTCHN = """
			evtchn {
				compatible = "xen,evtchn-v1";
				xen,evtchn = <0xa 0x1>;
			};"""


def with_and_without(version: str, ignored: str, kept: str = ""):
    """The domain built with the `ignored` lines and without them."""
    dom = build(host("gicv3-4g", DOM0 + domain("domU1", BASE + kept + ignored + KERNEL)),
                "domU1", version)
    plain = build(host("gicv3-4g", DOM0 + domain("domU1", BASE + kept + KERNEL)), "domU1",
                  version)
    return dom, plain


@pytest.mark.parametrize("version, ignored, kept, warning", [
    # no "xen,enhanced" in domain_build.c @ RELEASE-4.14.0 … RELEASE-4.16.7.
    ("4.14", "\n\t\t\txen,enhanced = \"no-xenstore\";", "",
     "property 'xen,enhanced' is read from Xen 4.17 on; Xen 4.14 ignores it"),
    ("4.16.7", "\n\t\t\txen,enhanced;", "",
     "property 'xen,enhanced' is read from Xen 4.17 on; Xen 4.16.7 ignores it"),
    # 4.16 reads xen,static-mem but not direct-map: the static banks go to
    # GUEST_RAM0 (allocate_static_memory @ RELEASE-4.16.0).
    ("4.16", "\n\t\t\tdirect-map;", STATIC_MEM_416,
     "property 'direct-map' is read from Xen 4.17 on; Xen 4.16 ignores it"),
    ("4.15", "\n\t\t\txen,static-mem = <0x60000000 0x10000000>;", "",
     "property 'xen,static-mem' is read from Xen 4.16 on; Xen 4.15 ignores it"),
    ("4.16", "\n\t\t\tdomain-cpupool = <0x1>;", "",
     "property 'domain-cpupool' is read from Xen 4.17 on; Xen 4.16 ignores it"),
    ("4.16", EVTCHN, "",
     "a child compatible with 'xen,evtchn-v1' is read from Xen 4.17 on; Xen 4.16 ignores it"),
    ("4.17", "\n\t\t\tmax_grant_frames = <0x40>;", "",
     "property 'max_grant_frames' is read from Xen 4.18 on; Xen 4.17 ignores it"),
    ("4.18", "\n\t\t\tpassthrough = \"enabled\";", "",
     "property 'passthrough' is read from Xen 4.19 on; Xen 4.18 ignores it"),
    ("4.19", "\n\t\t\tllc-colors = \"0-3\";", "",
     "property 'llc-colors' is read from Xen 4.20 on; Xen 4.19 ignores it"),
    ("4.20", "\n\t\t\tcapabilities = <0x4>;", "",
     "property 'capabilities' is read from Xen 4.21 on; Xen 4.20 ignores it"),
])
def test_unread_property_is_ignored_with_a_warning(version, ignored, kept, warning):
    dom, plain = with_and_without(version, ignored, kept)
    assert (dom.blob, dom.warnings[0]) == (plain.blob, f"domU1: {warning}")


def test_enhanced_on_4_16_gives_no_hypervisor_node():
    # make_hypervisor_node is dom0's alone @ RELEASE-4.16.0.
    dom, _ = with_and_without("4.16", "\n\t\t\txen,enhanced = \"enabled\";")
    assert (dom.hypervisor, "hypervisor" in dts(dom.blob)) == (False, False)


def test_hardware_capability_on_4_20_builds_an_ordinary_domu():
    # 4.21 refuses to build a hardware domain's tree as a domU's; 4.20 does
    # not read `capabilities` and builds an ordinary domU.
    dom, plain = with_and_without("4.20", "\n\t\t\tcapabilities = <0x2>;")
    assert dom.blob == plain.blob


def test_p2m_pool_size_is_read_from_the_point_release_with_xsa_409():
    # 44e9dcc48b81 (RELEASE-4.16.3, XSA-409): construct_domU reads
    # xen,domain-p2m-mem-mb; 4.16.2 does not, and points to 4.16.3.
    old, _ = with_and_without("4.16.2", "\n\t\t\txen,domain-p2m-mem-mb = <0x40>;")
    assert old.warnings[0] == ("domU1: property 'xen,domain-p2m-mem-mb' is read from Xen"
                               " 4.16.3 on; Xen 4.16.2 ignores it")


def test_p2m_pool_size_read_by_4_16_3_without_warning():
    new, plain = with_and_without("4.16.3", "\n\t\t\txen,domain-p2m-mem-mb = <0x40>;")
    assert (new.blob, new.warnings) == (plain.blob, plain.warnings)
