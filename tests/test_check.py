"""`xendt check`: one test per rule, each on an inline guest tree that breaks
just that rule, and every golden libxl blob checked with only the findings
real libxl output deserves, each explained below (deserved()).
"""

from __future__ import annotations

import json
import re
import struct

import pytest

import xendt
from conftest import GOLDEN, check_output, dtb_to_dts, dts_to_dtb, golden_cases
from conftest import ROOT as ROOT_DIR
from xendt.cli import main
from xendt.errors import XendtError
from xendt.fdt.read import parse, read_dtb
from xendt.inspect.check import check
from xendt.xen.address import AddressSize
from xendt.xen.context import resolve

CASES = golden_cases()

#: A 64-bit guest with 1 GiB of RAM that checks clean: what libxl 4.21 writes
#: for memory=1024, less the nodes no rule looks at.
GUEST = """/dts-v1/;
/ {
	compatible = "xen,xenvm-4.21", "xen,xenvm";
	interrupt-parent = <0xfde8>;
	#address-cells = <2>;
	#size-cells = <2>;
	chosen { };
	cpus {
		#address-cells = <1>;
		#size-cells = <0>;
		cpu@0 { device_type = "cpu"; compatible = "arm,armv8"; reg = <0>; };
	};
	memory@40000000 { device_type = "memory"; reg = <0 0x40000000 0 0x40000000>; };
	interrupt-controller@3001000 {
		compatible = "arm,gic-v3";
		#interrupt-cells = <3>;
		#address-cells = <0>;
		interrupt-controller;
		reg = <0 0x3001000 0 0x10000 0 0x3020000 0 0x1000000>;
		phandle = <0xfde8>;
	};
	hypervisor {
		compatible = "xen,xen-4.21", "xen,xen";
		reg = <0 0x38000000 0 0x1000000  0 0x80000000 0 0x80000000  0x2 0 0xfe 0>;
		interrupts = <1 15 0xf08>;
		interrupt-parent = <0xfde8>;
	};
};
"""


def findings(source: str, **options) -> list[str]:
    """The findings of `check` on an inline DTS, as text."""
    return [str(f) for f in check(parse(dts_to_dtb(source), "guest.dtb"), **options).findings]


def with_reg(reg: str) -> str:
    """GUEST with another /hypervisor reg."""
    return GUEST.replace("reg = <0 0x38000000 0 0x1000000  0 0x80000000 0 0x80000000  0x2 0 0xfe 0>",
                         f"reg = <{reg}>")


def run(*args: str, capsysbinary) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    out, err = capsysbinary.readouterr()
    check_output(args, exit.value.code, out)
    return exit.value.code, out.decode(), err.decode()


def test_a_libxl_like_guest_checks_clean():
    assert findings(GUEST) == []


# --- /hypervisor --------------------------------------------------------------

def test_the_hypervisor_node_must_be_named_exactly_hypervisor():
    assert findings(GUEST.replace("hypervisor {", "hypervisor@38000000 {")) == [
        "error: /hypervisor@38000000: named 'hypervisor@38000000': Linux finds Xen's node by the"
        " exact name 'hypervisor' (strcmp), so this guest will not detect Xen [hypervisor-node]"]


def test_a_tree_without_a_hypervisor_node_is_an_error():
    source = re.sub(r"\thypervisor \{.*?\n\t\};\n", "", GUEST, flags=re.S)
    assert findings(source, xen=resolve("4.21")) == [
        "error: /: no /hypervisor node: the guest cannot find Xen (grant table, event channel)"
        " [hypervisor-node]"]


def test_the_versioned_compatible_must_come_first():
    assert findings(GUEST.replace('"xen,xen-4.21", "xen,xen"', '"xen,xen", "xen,xen-4.21"')) == [
        "error: /hypervisor:compatible: ['xen,xen', 'xen,xen-4.21']: Linux reads Xen's version"
        ' from a first string "xen,xen-X.Y" and without it does not enable Xen; expected'
        ' "xen,xen-4.21", "xen,xen" [hypervisor-compatible]']


def test_the_compatible_must_include_xen_xen():
    assert findings(GUEST.replace('"xen,xen-4.21", "xen,xen"', '"xen,xen-4.21"'), xen=resolve("4.21")) == [
        "error: /hypervisor:compatible: ['xen,xen-4.21'] lacks \"xen,xen\", which Linux looks"
        ' for; expected "xen,xen-4.21", "xen,xen" [hypervisor-compatible]']


def test_the_grant_table_must_be_as_large_as_the_layouts():
    assert findings(with_reg("0 0x38000000 0 0x100000")) == [
        "error: /hypervisor:reg: reg[0] 0x38000000 +1 MiB is smaller than the 16 MiB grant table"
        " of the Xen 4.21 layout (GUEST_GNTTAB_BASE) [grant-table]",
        "warning: /hypervisor:reg: no extended regions (libxl found no room, and warns so): Linux"
        " balloons out guest RAM for foreign and grant mappings [unpopulated-alloc]"]


def test_a_hypervisor_without_reg_has_no_grant_table():
    source = GUEST.replace("\t\treg = <0 0x38000000 0 0x1000000  0 0x80000000 0 0x80000000  0x2 0 0xfe 0>;\n", "")
    assert findings(source)[0] == (
        "error: /hypervisor:reg: missing: reg[0] is the grant table (16 MiB at 0x38000000 in the"
        " Xen 4.21 layout) [grant-table]")


# --- extended regions ---------------------------------------------------------

def test_extended_regions_must_ascend():
    assert findings(with_reg("0 0x38000000 0 0x1000000  0x2 0 0xfe 0  0 0x80000000 0 0x80000000")) == [
        "error: /hypervisor:reg: extended region 2 [0x80000000, 0x100000000) comes before extended"
        " region 1 [0x200000000, 0x10000000000): Linux takes extended regions only in ascending,"
        " non-overlapping order, and otherwise none [extended-regions]"]


def test_extended_regions_must_not_overlap_each_other():
    assert findings(with_reg("0 0x38000000 0 0x1000000  0 0x80000000 0 0x80000000  0 0xc0000000 0 0x40000000")) == [
        "error: /hypervisor:reg: extended region 2 [0xc0000000, 0x100000000) overlaps extended"
        " region 1 [0x80000000, 0x100000000): Linux takes extended regions only in ascending,"
        " non-overlapping order, and otherwise none [extended-regions]"]


def test_extended_regions_must_fit_the_ipa_size_of_the_host():
    # The same blob is fine on a 40-bit host and wrong on a 36-bit one (bank 1 then ends at 64 GiB).
    blob = read_dtb(str(GOLDEN / "4.21/mem1024-v3-vcpu2-pa40.dtb"))
    assert check(blob, size=AddressSize("pa", 40)).findings == ()
    assert [str(f) for f in check(blob, size=AddressSize("pa", 36)).findings] == [
        "error: /hypervisor:reg: extended region 2 [0x200000000, 0x10000000000) ends at"
        " 0x10000000000, beyond the 36-bit IPA space (--pa-bits 36): mappings there fail"
        " [extended-regions]"]


def test_without_host_bits_the_largest_ipa_of_the_version_is_assumed():
    blob = read_dtb(str(GOLDEN / "4.21/mem1024-v3-vcpu2-pa40.dtb"))
    report = check(blob)
    assert (report.ipa_bits, report.ipa_source) == (
        48, "the most Xen 4.21 gives (use --pa-bits or --ipa-bits)")


def test_extended_regions_must_not_overlap_ram():
    assert findings(with_reg("0 0x38000000 0 0x1000000  0 0x60000000 0 0xa0000000")) == [
        "error: /hypervisor:reg: extended region 1 [0x60000000, 0x100000000) overlaps RAM"
        " [0x40000000, 0x80000000) (/memory@40000000 reg[0]): Linux would map foreign pages over"
        " it [extended-regions]"]


def test_extended_regions_must_not_overlap_the_grant_table():
    assert findings(with_reg("0 0x38000000 0 0x1000000  0 0x30000000 0 0x10000000")) == [
        "error: /hypervisor:reg: extended region 1 [0x30000000, 0x40000000) overlaps grant table"
        " [0x38000000, 0x39000000) (/hypervisor reg[0]): Linux would map foreign pages over it"
        " [extended-regions]"]


def test_extended_regions_must_not_overlap_a_passthrough_device():
    # libxl copies /passthrough verbatim and never looks at it when it computes the regions.
    blob = read_dtb(str(GOLDEN / "4.21/mem1024-v3-vcpu2-pa40-partialdt.dtb"))
    assert [str(f) for f in check(blob).findings] == [
        "error: /hypervisor:reg: extended region 1 [0x80000000, 0x100000000) overlaps arm,pl011"
        " [0x9c090000, 0x9c091000) (/passthrough/serial@9c090000 reg[0]): Linux would map"
        " foreign pages over it [extended-regions]"]


# --- unpopulated-alloc --------------------------------------------------------

def test_a_region_without_an_aligned_section_is_not_usable():
    # 72 MiB from 0xfb800000: no 128 MiB-aligned 128 MiB inside; the bank 1 region is fine.
    assert findings(with_reg("0 0x38000000 0 0x1000000  0 0xfb800000 0 0x4800000  0x2 0 0xfe 0")) == [
        "info: /hypervisor:reg: extended region 1 [0xfb800000, 0x100000000) holds no"
        " 128 MiB-aligned 128 MiB memory section (4K pages): Linux's unpopulated-alloc cannot use"
        " it [unpopulated-alloc]"]


def test_no_usable_region_is_a_warning():
    assert findings(with_reg("0 0x38000000 0 0x1000000  0 0xfb800000 0 0x4800000"))[-1] == (
        "warning: /hypervisor:reg: no extended region holds an aligned 128 MiB memory section:"
        " Linux balloons out guest RAM for foreign and grant mappings [unpopulated-alloc]")


def test_64k_pages_need_512_mib_sections():
    source = with_reg("0 0x38000000 0 0x1000000  0 0x90000000 0 0x10000000")
    assert findings(source) == []
    assert findings(source, page_size=65536) == [
        "info: /hypervisor:reg: extended region 1 [0x90000000, 0xa0000000) holds no"
        " 512 MiB-aligned 512 MiB memory section (64K pages): Linux's unpopulated-alloc cannot use"
        " it [unpopulated-alloc]",
        "warning: /hypervisor:reg: no extended region holds an aligned 512 MiB memory section:"
        " Linux balloons out guest RAM for foreign and grant mappings [unpopulated-alloc]"]


def test_no_extended_regions_at_all_is_a_warning_from_4_16():
    assert findings(with_reg("0 0x38000000 0 0x1000000")) == [
        "warning: /hypervisor:reg: no extended regions (libxl found no room, and warns so): Linux"
        " balloons out guest RAM for foreign and grant mappings [unpopulated-alloc]"]


# --- interrupts ---------------------------------------------------------------

def test_the_hypervisor_needs_the_event_channel_interrupt():
    source = GUEST.replace("\t\tinterrupts = <1 15 0xf08>;\n", "")
    assert findings(source) == [
        "error: /hypervisor:interrupts: missing: Linux needs the event-channel interrupt and gives"
        " up on Xen without it; expected PPI ID 31 [interrupts]"]


def test_the_event_channel_must_be_a_ppi():
    assert findings(GUEST.replace("<1 15 0xf08>", "<0 15 0xf08>")) == [
        "error: /hypervisor:interrupts: SPI 15 (ID 47) level-low, cpus 0xf: the event channel must"
        " be a PPI (Linux requests it per CPU); Xen 4.21 raises ID 31 [interrupts]"]


def test_the_event_channel_must_be_the_one_xen_raises():
    assert findings(GUEST.replace("<1 15 0xf08>", "<1 14 0xf08>")) == [
        "error: /hypervisor:interrupts: PPI 14 (ID 30) level-low, cpus 0xf: Xen 4.21 raises event"
        " channels on PPI ID 31 (GUEST_EVTCHN_PPI), so the guest would wait on the wrong one"
        " [interrupts]"]


def test_an_interrupt_parent_that_is_no_phandle_is_an_error():
    source = GUEST.replace("\t\tinterrupt-parent = <0xfde8>;\n\t};", "\t\tinterrupt-parent = <0x99>;\n\t};")
    assert findings(source) == [
        "error: /hypervisor:interrupts: /hypervisor:interrupt-parent 0x99 is no node's phandle"
        " [interrupts]"]


def test_an_interrupt_parent_chain_that_loops_is_an_error():
    source = GUEST.replace("\tchosen { };", """\
	a { phandle = <1>; interrupt-parent = <2>; };
	b { phandle = <2>; interrupt-parent = <1>; };
	dev { interrupts = <0 1 4>; interrupt-parent = <1>; };""")
    assert findings(source) == [
        "error: /dev:interrupts: the interrupt-parent chain loops at /a [interrupts]"]


def test_interrupts_must_fit_the_parents_interrupt_cells():
    source = GUEST.replace("\tchosen { };", "\tdev { interrupts = <0 1>; };")
    assert findings(source) == [
        "error: /dev:interrupts: expected specifiers of 3 cells (#interrupt-cells of"
        " /interrupt-controller@3001000), got <0x0 0x1> (8 bytes) [interrupts]"]


# --- property order: libxl's rng-seed with ACPI --------------------------------

def acpi_like_blob() -> bytes:
    """/chosen as libxl 4.16+ writes it for acpi=1: the module subnode, then
    rng-seed. dtc cannot write this order, so libfdt's sequential writer does."""
    import libfdt

    tree = parse(dts_to_dtb(GUEST))
    sw = libfdt.FdtSw()
    sw.finish_reservemap()

    def write(node):
        with sw.add_node(node.name):
            for p in node.props:
                sw.property(p.name, p.value)
            for child in node.children:
                write(child)
            if node.path == "/chosen":
                with sw.add_node("module@20000000"):
                    sw.property("compatible", b"xen,guest-acpi\0multiboot,module\0")
                    sw.property("reg", struct.pack(">QQ", 0x2000_0000, 0x3000))
                sw.property("rng-seed", bytes(128))

    write(tree.root)
    return bytes(sw.as_fdt().as_bytearray())


def test_an_rng_seed_after_a_subnode_is_invisible_to_libfdt():
    tree = parse(acpi_like_blob(), "guest.dtb")
    assert [str(f) for f in check(tree).findings] == [
        "warning: /chosen:rng-seed: follows the subnode 'module@20000000': libfdt's lookups stop"
        " at the first subnode, so Linux's early scan of /chosen never sees the seed (libxl puts"
        " it there when acpi=1) [property-order]"]


def test_libfdt_itself_cannot_find_that_rng_seed():
    import libfdt

    fdt = libfdt.Fdt(acpi_like_blob())
    chosen = fdt.path_offset("/chosen")
    assert fdt.getprop(chosen, "rng-seed", libfdt.QUIET_NOTFOUND) == -libfdt.NOTFOUND


# --- the rest -------------------------------------------------------------------

def test_memory_must_lie_in_the_layouts_banks():
    source = GUEST.replace("reg = <0 0x40000000 0 0x40000000>", "reg = <0 0x20000000 0 0x40000000>")
    assert findings(source)[0] == (
        "error: /memory@40000000:reg: RAM [0x20000000, 0x60000000) is outside the Xen 4.21 RAM"
        " banks (ram0 [0x40000000, 0x100000000), ram1 [0x200000000, 0x10000000000)) [memory]")


def test_memory_must_not_cover_a_device():
    # e.g. a passthrough device mapped at 0x9c090000 (golden/partial-passthrough.dts) and
    # memory=2048, whose bank 0 runs to 0xc0000000: libxl checks neither.
    source = GUEST.replace("reg = <0 0x40000000 0 0x40000000>", "reg = <0 0x40000000 0 0x80000000>")
    source = source.replace("reg = <0 0x38000000 0 0x1000000  0 0x80000000 0 0x80000000",
                            "reg = <0 0x38000000 0 0x1000000  0 0xc0000000 0 0x40000000")
    source = source.replace("\tchosen { };", """\
	passthrough {
		compatible = "simple-bus";
		ranges;
		#address-cells = <2>;
		#size-cells = <2>;
		serial@9c090000 { compatible = "arm,pl011"; reg = <0 0x9c090000 0 0x1000>; };
	};""")
    assert findings(source) == [
        "error: /memory@40000000:reg: RAM [0x40000000, 0xc0000000) overlaps arm,pl011"
        " [0x9c090000, 0x9c091000) (/passthrough/serial@9c090000 reg[0]): the guest would use it"
        " as memory [memory]"]


def test_a_32_bit_guest_given_regions_above_4_gib_is_warned():
    source = GUEST.replace('"arm,armv8"', '"arm,cortex-a15"')
    assert findings(source) == [
        "info: /hypervisor:reg: 32-bit guest: Linux has unpopulated-alloc only where ZONE_DEVICE"
        " exists (arm64), so these regions go unused [unpopulated-alloc]",
        "warning: /hypervisor:reg: extended region 2 [0x200000000, 0x10000000000) lies above 4 GiB,"
        " which a 32-bit guest reaches only with LPAE (Xen gives 32-bit domains no extended"
        " regions; libxl does not check) [guest-32bit]"]


def test_a_32_bit_prefetch_window_above_4_gib_is_warned_before_4_19():
    old = read_dtb(str(GOLDEN / "4.18/mem1024-v3-vcpu2-pa40-vpci.dtb"))
    new = read_dtb(str(GOLDEN / "4.21/mem1024-v3-vcpu2-pa40-vpci.dtb"))
    assert [str(f) for f in check(old).findings] == [
        "warning: /pcie@10000000:ranges: entry 1 [0x100000000, 0x200000000) is above 4 GiB but"
        " its phys.hi says 32-bit memory; expected 64-bit memory (as Xen 4.19 and later)"
        " [pci-window]"]
    assert check(new).findings == ()


def test_disagreeing_version_strings_are_warned():
    source = GUEST.replace('"xen,xenvm-4.21"', '"xen,xenvm-4.20"')
    assert findings(source) == [
        "warning: /:compatible: 'xen,xenvm-4.20' disagrees with /hypervisor compatible"
        ' "xen,xen-4.21": libxl writes the running hypervisor\'s version in both [xen-version]']


def test_what_does_not_decode_is_an_error():
    source = GUEST.replace("\tchosen { };", "\tdev@0 { reg = <0 0x1000>; };")
    assert findings(source) == [
        "error: /dev@0:reg: expected (address, size) pairs of 2+2 cells (the #address-cells and"
        " #size-cells of its bus), got <0x0 0x1000> (8 bytes) [decode]"]


# --- the command ------------------------------------------------------------------

def test_exit_status_is_0_without_errors(capsysbinary):
    code, out, _ = run("check", str(GOLDEN / "4.21/mem1024-v3-vcpu2-pa40.dtb"), capsysbinary=capsysbinary)
    assert code == 0 and out.endswith(
        ': 0 errors, 0 warnings, 0 info (Xen 4.21 from /hypervisor compatible "xen,xen-4.21";'
        " 48-bit IPA, the most Xen 4.21 gives (use --pa-bits or --ipa-bits); 4K pages)\n")


def test_exit_status_is_1_with_errors(capsysbinary):
    blob = str(GOLDEN / "4.21/mem1024-v3-vcpu2-pa40-partialdt.dtb")
    code, out, _ = run("check", blob, capsysbinary=capsysbinary)
    assert code == 1 and out.startswith(f"{blob}: error: /hypervisor:reg: extended region 1")


def test_exit_status_is_2_when_it_cannot_check(tmp_path, capsysbinary):
    plain = tmp_path / "plain.dtb"
    plain.write_bytes(dts_to_dtb("/dts-v1/; / { };"))
    code, out, err = run("check", str(plain), capsysbinary=capsysbinary)
    assert (code, out) == (2, "")
    assert err == (f"xendt: {plain}: cannot check: it names no Xen version (no xen,xen-X.Y or"
                   " xen,xenvm-X.Y compatible); give --xen VERSION\n")


def test_json_findings_carry_rule_level_node_prop_message(capsysbinary):
    blob = str(GOLDEN / "4.18/mem1024-v3-vcpu2-pa40-vpci.dtb")
    code, out, _ = run("check", "--format", "json", "--pa-bits", "40", blob, capsysbinary=capsysbinary)
    data = json.loads(out)
    assert code == 0 and (data["xen"], data["inputs"], data["ipa_bits"], data["errors"]) == (
        "4.18", [blob], 40, 0)
    assert [f["level"] for f in data["findings"]] == ["warning"]
    assert data["findings"][0] == {
        "level": "warning", "rule": "pci-window", "node": "/pcie@10000000", "prop": "ranges",
        "message": "entry 1 [0x100000000, 0x200000000) is above 4 GiB but its phys.hi says 32-bit"
                   " memory; expected 64-bit memory (as Xen 4.19 and later)"}


def test_pa_bits_and_ipa_bits_exclude_each_other(capsysbinary):
    code, _, err = run("check", "--pa-bits", "40", "--ipa-bits", "40",
                       str(GOLDEN / "4.21/mem1024-v3-vcpu2-pa40.dtb"), capsysbinary=capsysbinary)
    assert code == 2 and "mutually exclusive" in err


def test_check_needs_a_layout_for_an_explicit_version():
    with pytest.raises(XendtError, match=r"unknown Xen version '4\.9'"):
        xendt.check(parse(dts_to_dtb(GUEST)), xen="4.9")


# --- every golden blob --------------------------------------------------------------

SERIAL = (0x9C09_0000, 0x9C09_1000)  # /passthrough/serial@9c090000 in golden/partial-passthrough.dts
SECTION = 128 << 20


def deserved(case: dict) -> list[tuple[str, str, str, str]]:
    """(level, rule, node, property) of each finding libxl's own output for
    `case` deserves, from the case's inputs and the extended regions dtc
    reads in the blob."""
    version, inputs = case["version"], case["config"]["inputs"]
    hypervisor = dtb_to_dts((GOLDEN / case["dtb"]).read_bytes()).split("\thypervisor {")[1]
    cells = [int(c, 16) for c in re.search(r"reg = <([^>]*)>", hypervisor)[1].split()]
    regions = [((cells[i] << 32 | cells[i + 1]), (cells[i + 2] << 32 | cells[i + 3]))
               for i in range(4, len(cells), 4)]
    out = []
    if version == "4.14":
        # libxl writes the grant table alone before 4.16: by design, so only noted for a
        # 64-bit guest (arm32 Linux has no unpopulated-alloc to miss them).
        return [("info", "unpopulated-alloc", "/hypervisor", "reg")] if inputs["guest_bits"] == 64 else []
    if inputs.get("device_tree_sha256"):
        # libxl copies /passthrough verbatim and never cuts its devices out of the regions.
        out += [("error", "extended-regions", "/hypervisor", "reg")
                for base, size in regions if base < SERIAL[1] and SERIAL[0] < base + size]
    if not regions:
        # e.g. 3072 MiB on a 32-bit IPA host: bank 0 is full, bank 1 out of reach; libxl warns too.
        out.append(("warning", "unpopulated-alloc", "/hypervisor", "reg"))
    elif inputs["guest_bits"] == 32:
        # libxl ignores 32-bitness (Xen gives 32-bit domains none); arm32 Linux has no
        # unpopulated-alloc, and reaches bank 1 (8 GiB up) only with LPAE.
        out.append(("info", "unpopulated-alloc", "/hypervisor", "reg"))
        out += [("warning", "guest-32bit", "/hypervisor", "reg")
                for base, size in regions if base + size > 1 << 32]
    else:
        # Linux hot-plugs 128 MiB-aligned sections (4K pages): smaller tails are no use.
        usable = [(b, s) for b, s in regions if -(-b // SECTION) * SECTION + SECTION <= b + s]
        out += [("info", "unpopulated-alloc", "/hypervisor", "reg")
                for r in regions if r not in usable]
        if not usable:
            out.append(("warning", "unpopulated-alloc", "/hypervisor", "reg"))
    if inputs.get("num_pcidevs") and version < "4.19":
        # libxl said 32-bit memory for the 4 GiB prefetch window at 4 GiB until Xen 4.19.
        out.append(("warning", "pci-window", "/pcie@10000000", "ranges"))
    return sorted(out)


@pytest.mark.parametrize("case", CASES, ids=[c["dtb"] for c in CASES])
def test_golden_blobs_get_only_the_findings_libxl_output_deserves(case):
    report = check(read_dtb(str(GOLDEN / case["dtb"])), size=AddressSize("pa", case["config"]["inputs"]["gpaddr_bits"]))
    assert sorted((f.level, f.rule, f.node, f.prop) for f in report.findings) == deserved(case)


def test_the_golden_findings_cover_every_kind_libxl_output_deserves():
    kinds = {finding for case in CASES for finding in deserved(case)}
    assert {(level, rule) for level, rule, _, _ in kinds} == {
        ("info", "unpopulated-alloc"), ("warning", "unpopulated-alloc"),
        ("error", "extended-regions"), ("warning", "guest-32bit"), ("warning", "pci-window")}


# --- memory: overlaps and the IPA size; passthrough; bootargs (issue 8) --------

def test_overlapping_memory_nodes_are_an_error():
    source = GUEST.replace("\tchosen { };", "\tchosen { };\n\tmemory@60000000 { device_type ="
                           ' "memory"; reg = <0 0x60000000 0 0x10000000>; };')
    assert findings(source) == [
        "error: /memory@60000000:reg: RAM [0x60000000, 0x70000000) overlaps RAM [0x40000000,"
        " 0x80000000) (/memory@40000000 reg[0]): libxl writes one node per RAM bank, never"
        " overlapping; Linux merges them and cannot tell which part Xen populated [memory]"]


def test_ram_beyond_the_ipa_size_is_an_error():
    # xendt build --memory 16384 --pa-bits 32: bank 1 gets 16384 - 3072 MiB from
    # GUEST_RAM1_BASE 0x200000000, i.e. [0x200000000, 0x540000000), all of it above
    # 2^32; Xen populates it (no check against gpaddr_bits in libxenguest's meminit,
    # tools/libs/guest/xg_dom_arm.c @ RELEASE-4.21.0) but stage 2 faults on it.
    source = GUEST.replace("\tchosen { };", "\tchosen { };\n\tmemory@200000000 { device_type ="
                           ' "memory"; reg = <0x2 0 0x3 0x40000000>; };')
    source = source.replace("0 0x80000000 0 0x80000000  0x2 0 0xfe 0", "0 0x80000000 0 0x80000000")
    assert findings(source, size=AddressSize("pa", 32)) == [
        "error: /memory@200000000:reg: RAM [0x200000000, 0x540000000) reaches past the 32-bit IPA"
        " space (--pa-bits 32): Xen populates it, but the guest's first access above 0x100000000"
        " faults in stage 2 and the vCPU hangs [memory]"]


def test_ram_beyond_the_ipa_size_is_an_error_from_the_cli(tmp_path, capsysbinary):
    out = tmp_path / "big.dtb"
    assert run("build", "--memory", "16384", "--pa-bits", "32", "-o", str(out),
               capsysbinary=capsysbinary)[0] == 0
    code, text, _ = run("check", "--pa-bits", "32", str(out), capsysbinary=capsysbinary)
    assert code == 1 and "reaches past the 32-bit IPA space" in text


def passthrough(reg: str) -> str:
    return GUEST.replace("\tchosen { };", f"""\
	chosen {{ }};
	passthrough {{
		compatible = "simple-bus";
		ranges;
		#address-cells = <2>;
		#size-cells = <2>;
		dev@0 {{ compatible = "acme,dev"; reg = <{reg}>; }};
	}};""")


def test_a_passthrough_device_on_the_grant_table_is_an_error():
    assert findings(passthrough("0 0x38001000 0 0x1000")) == [
        "error: /passthrough/dev@0:reg: [0x38001000, 0x38002000) overlaps grant table"
        " [0x38000000, 0x39000000) (/hypervisor reg[0]): the guest maps grant pages there, over"
        " the device's registers [passthrough]"]


def test_a_passthrough_device_on_the_virtual_gic_is_an_error():
    assert findings(passthrough("0 0x3001000 0 0x1000")) == [
        "error: /passthrough/dev@0:reg: [0x3001000, 0x3002000) overlaps GICv3 distributor"
        " [0x3001000, 0x3011000) (/interrupt-controller@3001000 reg[0]): Xen traps that range for"
        " the virtual GIC, so the device's registers are never reached [passthrough]"]


def test_a_passthrough_device_on_the_vuart_is_an_error():
    source = passthrough("0 0x22000000 0 0x1000").replace("\tchosen { };", """\
	chosen { };
	sbsa-uart@22000000 { compatible = "arm,sbsa-uart"; reg = <0 0x22000000 0 0x1000>; };""")
    found = [f for f in findings(source) if "[passthrough]" in f]
    assert len(found) == 1 and found[0].endswith(
        "(/sbsa-uart@22000000 reg[0]): Xen emulates the SBSA UART there, so the device's registers"
        " are never reached [passthrough]")


# --- phandle: one phandle, two nodes -------------------------------------------

def with_last_node(node: str) -> str:
    """GUEST with `node` as the root's last child, where libxl copies /passthrough."""
    end = GUEST.rindex("};")
    return GUEST[:end] + node + "\n" + GUEST[end:]


def duplicated(source: str, path: str, prop: str, phandle: int) -> list[str]:
    """The findings of `check` on `source` once `path`'s `prop` is set to
    `phandle` (dtc refuses to compile a duplicate phandle; libxl copies one)."""
    import libfdt

    fdt = libfdt.Fdt(dts_to_dtb(source))
    fdt.setprop_u32(fdt.path_offset(path), prop, phandle)
    return [str(f) for f in check(parse(bytes(fdt.as_bytearray()), "guest.dtb")).findings]


def test_a_passthrough_node_reusing_the_gic_phandle_is_an_error():
    # libxl writes the GIC (phandle GUEST_PHANDLE_GIC = 65000) before it copies /passthrough.
    source = with_last_node("""\
	passthrough {
		compatible = "simple-bus"; ranges; #address-cells = <2>; #size-cells = <2>;
		clock@10000000 { compatible = "acme,clock"; reg = <0 0x10000000 0 0x1000>;
			phandle = <1>; };
	};""")
    assert duplicated(source, "/passthrough/clock@10000000", "phandle", 65000) == [
        "error: /passthrough/clock@10000000:phandle: 65000 (0xfde8) is also the GIC's"
        " (GUEST_PHANDLE_GIC) phandle in the Xen 4.21 layout, held by"
        " /interrupt-controller@3001000: every reference to it (interrupt-parent, clocks, iommus"
        " ...) reaches /interrupt-controller@3001000, the first in the tree, never this node"
        " [phandle]"]


def test_two_nodes_with_one_phandle_is_an_error():
    source = with_last_node("\ta { phandle = <7>; };\n\tb { linux,phandle = <8>; };")
    assert duplicated(source, "/b", "linux,phandle", 7) == [
        "error: /b:linux,phandle: 7 (0x7) is also /a's: every reference to it (interrupt-parent,"
        " clocks, iommus ...) reaches /a, the first in the tree, never this node [phandle]"]


def test_distinct_phandles_are_no_finding():
    assert findings(with_last_node("\ta { phandle = <7>; };\n\tb { phandle = <8>; };")) == []


def bootargs(text: str, cpu: str = "arm,armv8") -> list[str]:
    source = GUEST.replace("\tchosen { };", f'\tchosen {{ bootargs = "{text}"; }};')
    return [f for f in findings(source.replace('"arm,armv8"', f'"{cpu}"')) if "[bootargs]" in f]


def test_bootargs_an_arm64_linux_keeps_whole_are_clean():
    # COMMAND_LINE_SIZE 2048 (arch/arm64/include/uapi/asm/setup.h, torvalds/linux @
    # 1f318b96cc84): strscpy keeps 2047 characters and the NUL.
    assert bootargs("a" * 2047) == []


def test_bootargs_longer_than_an_arm64_linux_keeps_are_an_error():
    assert bootargs("a" * 2048) == [
        "error: /chosen:bootargs: 2048 bytes: an arm64 Linux keeps the first 2047"
        " (COMMAND_LINE_SIZE 2048) (4095 in the newest kernels, COMMAND_LINE_SIZE 4096) and"
        " silently drops the rest [bootargs]"]


def test_bootargs_longer_than_an_arm32_linux_keeps_are_an_error():
    # COMMAND_LINE_SIZE 1024: arch/arm/include/uapi/asm/setup.h, torvalds/linux @ 0b77b97066.
    assert bootargs("a" * 1023, cpu="arm,cortex-a15") == []
    assert bootargs("a" * 1024, cpu="arm,cortex-a15") == [
        "error: /chosen:bootargs: 1024 bytes: an arm32 Linux keeps the first 1023"
        " (COMMAND_LINE_SIZE 1024) and silently drops the rest [bootargs]"]


DOM0LESS_BLOBS = sorted((ROOT_DIR / "tests" / "data" / "reference-dom0less").glob("4.*/*/domU*.dtb"))


@pytest.mark.parametrize("blob", DOM0LESS_BLOBS, ids=lambda p: "/".join(p.parts[-3:]))
def test_real_dom0less_guests_get_no_error(blob):
    """The blobs a real Xen built for its dom0less guests (tests/data/
    reference-dom0less, QEMU cortex-a57: 44-bit PA): none breaks a rule its
    consumers apply; a guest without xen,enhanced has no /hypervisor by
    design, which is information, not an error."""
    report = check(read_dtb(str(blob)), size=AddressSize("pa", 44))
    assert report.errors == 0 and report.count("warning") == 0, report.text()
    enhanced = read_dtb(str(blob)).node("/hypervisor") is not None
    assert [f.rule for f in report.findings] == ([] if enhanced else ["hypervisor-node"])
