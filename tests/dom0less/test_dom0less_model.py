"""One model of /chosen/domU* (xendt.domu.domains): `build`,
`host-regions --domain` and the API give one answer for one domain node,
with one error class per cause (Xen fails: XenFailure, exit 1; a property Xen
cannot read: DtbError, exit 2). Hosts as in test_dom0less_cases.py (QEMU
`virt`, cortex-a57)."""

from __future__ import annotations

import pytest
from dom0less_support import build, host
from test_dom0less_cases import KERNEL, domain
from test_dom0less_memory import SPLIT

import xendt
from conftest import run_cli
from xendt.domu import domains
from xendt.errors import ConfigError, DtbError, XenFailure
from xendt.host import xen_dt

ENHANCED = "\n\t\t\txen,enhanced;"
SPILL = ("/chosen/domU1: 'memory' (3670016 KiB) does not match the xen,static-mem Xen counts"
         " (2621440 KiB) (Xen {v} counts only the part of a bank that spills into guest RAM"
         " bank 1; fixed in 4.22); Xen panics")
BAD_MEMORY = "/chosen/domU1: 'memory' must be a positive multiple of 4 KiB, got 3 KiB"


def one_answer(tmp_path, capsysbinary, dtb: bytes, version: str) -> tuple[str, str, str, str]:
    """What build() and host_regions() raise, and the two commands print on
    stderr (each must exit 1)."""
    path = tmp_path / "host.dtb"
    path.write_bytes(dtb)
    with pytest.raises(XenFailure) as built:
        build(dtb, "domU1", version)
    with pytest.raises(XenFailure) as regions:
        xendt.host_regions(dtb, xen=version, domain="domU1")
    build_cli = run_cli("build", "--host-dtb", str(path), "--domain", "domU1", "--xen", version,
                        capsysbinary=capsysbinary)
    host_cli = run_cli("host-regions", "--host-dtb", str(path), "--domain", "domU1",
                       "--xen", version, capsysbinary=capsysbinary)
    assert (build_cli[0], host_cli[0]) == (1, 1)
    return str(built.value), str(regions.value), build_cli[2], host_cli[2]


@pytest.mark.parametrize("version", ["4.18", "4.21"])
def test_static_mem_spilling_into_bank1_panics_on_every_entry_point(tmp_path, capsysbinary,
                                                                    version):
    # allocate_static_memory (domain_build.c @ RELEASE-4.18.0,
    # static-memory.c @ RELEASE-4.21.0) counts only the spilled part of the
    # second bank: host-regions used to give this domain a region.
    dtb = host("gicv3-4g", SPLIT.replace("cpus = <1>;", "cpus = <1>;" + ENHANCED))
    message = SPILL.format(v=version)
    assert one_answer(tmp_path, capsysbinary, dtb, version) == (
        message, f"<bytes>: Xen {version} fails: {message}", f"xendt: error: {message}\n",
        f"xendt: error: {tmp_path / 'host.dtb'}: Xen {version} fails: {message}\n")


def test_memory_of_part_of_a_page_fails_on_every_entry_point(tmp_path, capsysbinary):
    dtb = host("gicv3-4g", domain("domU1", "\t\t\tmemory = <0x0 0x3>;\n\t\t\tcpus = <1>;"
                                  + ENHANCED + KERNEL))
    assert one_answer(tmp_path, capsysbinary, dtb, "4.21") == (
        BAD_MEMORY, f"<bytes>: Xen 4.21 fails: {BAD_MEMORY}", f"xendt: error: {BAD_MEMORY}\n",
        f"xendt: error: {tmp_path / 'host.dtb'}: Xen 4.21 fails: {BAD_MEMORY}\n")


def test_unreadable_memory_is_a_dtb_error_on_every_entry_point(tmp_path, capsysbinary):
    dtb = host("gicv3-4g", domain("domU1", "\t\t\tmemory = <0x40000>;\n\t\t\tcpus = <1>;"
                                  + ENHANCED + KERNEL))
    path = tmp_path / "host.dtb"
    path.write_bytes(dtb)
    message = ("expected property 'memory' on /chosen/domU1 in {} to hold a 64-bit KiB count"
               " (2 cells), got b'\\x00\\x04\\x00\\x00'; Xen cannot build the domain")
    with pytest.raises(DtbError) as built:
        build(dtb, "domU1", "4.21", host_name="host.dtb")
    with pytest.raises(DtbError) as regions:
        xendt.host_regions(dtb, xen="4.21", domain="domU1")
    assert (str(built.value), str(regions.value)) == (message.format("host.dtb"),
                                                      message.format("<bytes>"))
    for command in ("build", "host-regions"):
        assert run_cli(command, "--host-dtb", str(path), "--domain", "domU1", "--xen", "4.21",
                       capsysbinary=capsysbinary) == (2, b"", f"xendt: {message.format(path)}\n")


def test_two_domains_of_one_name_are_refused_by_the_model():
    one = domain("domU1", "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;" + KERNEL)
    blob = host("gicv3-4g", one + "\n" + one.replace("domU1", "domU2"))  # dtc merges namesakes
    tree = xen_dt.read_host(blob.replace(b"domU2\0", b"domU1\0"), "h.dtb")
    assert domains.names(tree) == ("domU1", "domU1")
    with pytest.raises(ConfigError) as e:
        domains.find(tree, "domU1")
    assert str(e.value) == ("h.dtb: 2 dom0less domains named 'domU1' under /chosen: Xen builds"
                            " each, xendt cannot tell them apart (rename one)")


def test_a_module_command_line_over_1024_bytes_is_xens_panic():
    # add_boot_cmdline panics past BOOTMOD_MAX_CMDLINE, naming the module's
    # parent (xen/arch/arm/setup.c @ RELEASE-4.17.0), as for dom0's modules.
    long = KERNEL.replace('bootargs = "console=ttyAMA0";', f'bootargs = "{"x" * 1025}";')
    dtb = host("gicv3-4g", domain("domU1", "\t\t\tmemory = <0x0 0x40000>;\n\t\t\tcpus = <1>;"
                                  + long))
    with pytest.raises(XenFailure) as e:
        build(dtb, "domU1", "4.21", host_name="h.dtb")
    assert str(e.value) == ("/chosen/domU1/module@50000000 in h.dtb: bootargs of 1025 bytes: Xen"
                            " panics \"module domU1 command line too long\"")
