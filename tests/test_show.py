"""`xendt show`: the DTS as dtc prints it, then the guest address map.

The map is checked against evidence that is not xendt's: the RAM banks,
initrd segment and virtio-mmio slots libxenguest and libxl computed for each
golden blob (golden/cases.json), and the /hypervisor reg as dtc decodes it.
Small inline trees, compiled with dtc, pin down one decoding rule each.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import GOLDEN, check_output, dtb_to_dts, dts_to_dtb, golden_cases
from xendt.cli import main
from xendt.fdt.read import parse, read_dtb
from xendt.inspect import addressmap
from xendt.ranges import human_size

CASES = golden_cases()
PARTIALDT = GOLDEN / "4.21" / "mem1024-v3-vcpu2-pa40-partialdt.dtb"
SVG = "{http://www.w3.org/2000/svg}"


def run(*args: str, capsysbinary) -> tuple[int, str, str]:
    """main() in-process: exit status, stdout and stderr text."""
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    out, err = capsysbinary.readouterr()
    check_output(args, exit.value.code, out)
    return exit.value.code, out.decode(), err.decode()


def amap_of(source: str, **kwargs) -> addressmap.AddressMap:
    """The address map of an inline DTS source."""
    return addressmap.address_map(parse(dts_to_dtb(source), "test.dtb"), **kwargs)


def rows(amap: addressmap.AddressMap) -> list[tuple[int, int, str, str]]:
    return [(e.base, e.size, e.what, e.source) for e in amap.entries]


GUEST_ROOT = """/dts-v1/;
/ {
	compatible = "xen,xenvm-4.21", "xen,xenvm";
	#address-cells = <2>;
	#size-cells = <2>;
	hypervisor {
		compatible = "xen,xen-4.21", "xen,xen";
		reg = <0 0x38000000 0 0x1000000>;
	};
	%s
};
"""


# --- every golden blob ------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c["dtb"] for c in CASES])
def test_show_prints_dtcs_text_then_the_map(case, capsysbinary):
    blob = GOLDEN / case["dtb"]
    code, out, err = run("show", str(blob), capsysbinary=capsysbinary)
    expected_dts = dtb_to_dts(blob.read_bytes())
    assert code == 0 and err == ""
    assert out.startswith(expected_dts + "\nGuest address map of ")


@pytest.mark.parametrize("case", CASES, ids=[c["dtb"] for c in CASES])
def test_map_holds_the_ram_initrd_and_virtio_libxl_placed(case):
    derived = case["config"]["derived"]
    amap = addressmap.address_map(read_dtb(str(GOLDEN / case["dtb"])))
    banks = [(int(b["base"], 16), b["size_bytes"]) for b in derived["ram_banks"] if b["size_bytes"]]
    assert [(e.base, e.size) for e in amap.of_kind("ram")] == banks
    initrd = [(e.base, e.end) for e in amap.entries if e.what == "initrd"]
    segment = derived["ramdisk_segment"]
    assert initrd == ([tuple(int(a, 16) for a in segment)] if segment else [])
    virtio = [e.base for e in amap.entries if e.what == "virtio-mmio device"]
    assert virtio == [int(v["base"], 16) for v in derived.get("virtio_mmio_allocation", [])]


@pytest.mark.parametrize("case", CASES, ids=[c["dtb"] for c in CASES])
def test_map_splits_the_hypervisor_reg_dtc_prints(case):
    blob = (GOLDEN / case["dtb"]).read_bytes()
    hypervisor = dtb_to_dts(blob).split("\thypervisor {")[1]
    cells = [int(c, 16) for c in re.search(r"reg = <([^>]*)>", hypervisor)[1].split()]
    pairs = [((cells[i] << 32 | cells[i + 1]), (cells[i + 2] << 32 | cells[i + 3]))
             for i in range(0, len(cells), 4)]
    amap = addressmap.address_map(parse(blob))
    grant, *regions = sorted((e for e in amap.entries if e.node == "/hypervisor"),
                             key=lambda e: e.index)
    assert (grant.what, grant.base, grant.size) == ("grant table", *pairs[0])
    assert [(e.what, e.base, e.size) for e in regions] == [
        (f"extended region {i}", *pair) for i, pair in enumerate(pairs[1:], 1)]


# --- the map, as text -------------------------------------------------------

def test_map_text_lists_ranges_gaps_and_layout_names():
    from xendt.inspect.show import map_text

    amap = addressmap.address_map(read_dtb(str(PARTIALDT)))
    assert map_text(amap).replace(str(PARTIALDT), "guest.dtb") == """\
Guest address map of guest.dtb
Xen 4.21 (/hypervisor compatible "xen,xen-4.21"); names from the Xen 4.21 layout
Built by libxl (xl create): root compatible "xen,xenvm"

  first         last                 size  what                  from                                  layout
  0x0003001000  0x0003010fff       64 KiB  GICv3 distributor     /interrupt-controller@3001000 reg[0]  gicv3-distributor
  0x0003011000  0x000301ffff       60 KiB  (gap)
  0x0003020000  0x000401ffff       16 MiB  GICv3 redistributors  /interrupt-controller@3001000 reg[1]  gicv3-redistributor
  0x0004020000  0x0037ffffff  ~831.88 MiB  (gap)                                                       (vpci-ecam, acpi, vpl011, vpci-mem: not in this tree)
  0x0038000000  0x0038ffffff       16 MiB  grant table           /hypervisor reg[0]                    grant-table
  0x0039000000  0x003fffffff      112 MiB  (gap)                                                       (magic: not in this tree)
  0x0040000000  0x007fffffff        1 GiB  RAM                   /memory@40000000 reg[0]               ram0
  0x0080000000  0x00ffffffff        2 GiB  extended region 1     /hypervisor reg[1]                    ram0
  0x009c090000  0x009c090fff        4 KiB    arm,pl011           /passthrough/serial@9c090000 reg[0]   ram0
  0x0100000000  0x01ffffffff        4 GiB  (gap)                                                       (vpci-prefetch-mem: not in this tree)
  0x0200000000  0xffffffffff     1016 GiB  extended region 2     /hypervisor reg[2]                    ram1
"""


def test_vuart_vpci_and_gicv2_parts_are_named():
    amap = addressmap.address_map(read_dtb(str(GOLDEN / "4.21/mem1024-v3-vcpu2-pa40-vpci.dtb")))
    assert [(e.what, e.layout) for e in amap.entries if e.node.startswith("/pcie")] == [
        ("vPCI ECAM (configuration space)", "vpci-ecam"),
        ("vPCI 32-bit memory window", "vpci-mem"),
        ("vPCI 64-bit memory window (prefetchable)", "vpci-prefetch-mem"),
    ]
    amap = addressmap.address_map(read_dtb(str(
        GOLDEN / "4.21/mem2048-v2-vcpu4-pa40-vuart-optee-cmdline-ramdisk.dtb")))
    assert [(e.base, e.what, e.layout) for e in amap.entries if e.kind == "device"] == [
        (0x300_1000, "GICv2 distributor", "gicv2-distributor"),
        (0x300_2000, "GICv2 CPU interface", "gicv2-cpu-interface"),
        (0x2200_0000, "vpl011 UART (SBSA)", "vpl011"),
    ]


def test_the_4_18_prefetch_window_says_32_bit_memory_as_libxl_wrote_it():
    # phys.hi 0x42000000 before Xen 4.19 (ss=10: 32-bit), 0x43000000 after.
    amap = addressmap.address_map(read_dtb(str(GOLDEN / "4.18/mem1024-v3-vcpu2-pa40-vpci.dtb")))
    assert amap.of_kind("pci-window")[-1].what == "vPCI 32-bit memory window (prefetchable)"


def test_a_range_inside_another_is_listed_under_it():
    amap = addressmap.address_map(read_dtb(str(PARTIALDT)))
    inside = {outer.what: [e.what for e in inner] for outer, inner in amap.top_level}
    assert inside["extended region 1"] == ["arm,pl011"]
    assert inside["RAM"] == []


# --- decoding rules ----------------------------------------------------------

def test_reg_is_translated_through_every_ranges_on_the_way_to_the_root():
    amap = amap_of(GUEST_ROOT % """
	soc {
		#address-cells = <1>;
		#size-cells = <1>;
		ranges = <0x0 0x0 0x9c000000 0x100000>;
		serial@90000 { compatible = "arm,pl011"; reg = <0x90000 0x1000>; };
	};""")
    assert (0x9C09_0000, 0x1000, "arm,pl011", "/soc/serial@90000 reg[0]") in rows(amap)


def test_an_empty_ranges_maps_addresses_unchanged():
    amap = amap_of(GUEST_ROOT % """
	passthrough {
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;
		dev@9c090000 { reg = <0 0x9c090000 0 0x1000>; };
	};""")
    assert (0x9C09_0000, 0x1000, "dev", "/passthrough/dev@9c090000 reg[0]") in rows(amap)


def test_reg_behind_a_bus_without_ranges_is_not_an_address():
    amap = amap_of(GUEST_ROOT % """
	cpus { #address-cells = <1>; #size-cells = <0>; cpu@0 { reg = <0>; }; };
	i2c { #address-cells = <1>; #size-cells = <1>; eeprom@50 { reg = <0x50 0x1>; }; };""")
    assert [e.node for e in amap.entries] == ["/hypervisor"] and amap.notes == ()


def test_missing_cells_are_inherited_from_the_parent_as_linux_does():
    amap = amap_of(GUEST_ROOT % """
	chosen { module@20000000 { compatible = "multiboot,module"; reg = <0 0x20000000 0 0x8000>; }; };""")
    assert (0x2000_0000, 0x8000, "boot module", "/chosen/module@20000000 reg[0]") in rows(amap)


def test_a_reg_that_does_not_fit_its_cells_is_a_note_not_a_failure():
    amap = amap_of(GUEST_ROOT % "bad@0 { reg = <0 0x1000 0>; };")
    assert [str(n) for n in amap.notes] == [
        "/bad@0:reg: expected (address, size) pairs of 2+2 cells (the #address-cells and"
        " #size-cells of its bus), got <0x0 0x1000 0x0> (12 bytes)"]


def test_a_ranges_that_misses_the_address_is_a_note():
    amap = amap_of(GUEST_ROOT % """
	soc { #address-cells = <1>; #size-cells = <1>; ranges = <0 0 0x10000000 0x1000>;
		dev@2000 { reg = <0x2000 0x100>; }; };""")
    assert [str(n) for n in amap.notes] == [
        "/soc/dev@2000:reg: [0x2000, 0x2100) is outside every entry of /soc:ranges"]


def test_memreserve_entries_are_in_the_map():
    amap = amap_of(GUEST_ROOT.replace("/dts-v1/;\n", "/dts-v1/;\n/memreserve/ 0x48000000 0x10000;\n") % "")
    assert (0x4800_0000, 0x10000, "/memreserve/ entry", "/memreserve/[0]") in rows(amap)


def test_an_acpi_guests_tables_are_named(tmp_path, capsysbinary):
    # acpi=1: libxl adds /chosen/module@20000000 (GUEST_ACPI_BASE) holding the tables' length.
    out = tmp_path / "acpi.dtb"
    run("build", "--acpi", "--acpi-size", "0x3000", "-o", str(out), capsysbinary=capsysbinary)
    amap = addressmap.address_map(read_dtb(str(out)))
    assert [(e.base, e.size, e.what, e.layout) for e in amap.of_kind("module")] == [
        (0x2000_0000, 0x3000, "ACPI tables", "acpi")]


def test_sizes_print_in_the_largest_unit_and_say_when_rounded():
    assert [human_size(n) for n in (512, 0x1000, 0x100_0000, 0xA000_0000, 0x6F00_0000,
                                           0xFE_0000_0000, 0x100_0000 - 0x400)] == [
        "512 B", "4 KiB", "16 MiB", "2.5 GiB", "~1.73 GiB", "1016 GiB", "~16 MiB"]


# --- the Xen version ------------------------------------------------------

def test_the_version_comes_from_the_hypervisor_compatible():
    amap = addressmap.address_map(read_dtb(str(GOLDEN / "4.16/mem1024-v3-vcpu2-pa40.dtb")))
    assert (amap.xen.version, amap.xen.source) == ("4.16", '/hypervisor compatible "xen,xen-4.16"')
    assert amap.layout.version == "4.16"


def test_xen_option_overrides_the_version(capsysbinary):
    code, out, _ = run("show", "--xen", "4.14", str(PARTIALDT), capsysbinary=capsysbinary)
    assert code == 0 and "Xen 4.14 (--xen); names from the Xen 4.14 layout" in out


def test_a_newer_xen_than_xendt_knows_gets_the_newest_layout_with_a_note():
    amap = amap_of(GUEST_ROOT.replace("4.21", "4.23") % "")
    assert amap.xen.version == "4.23" and amap.layout.version == "4.22"
    assert amap.layout_note == "xendt has no layout for Xen 4.23; names from 4.22's"


def test_a_tree_without_a_xen_version_is_shown_without_names():
    amap = amap_of('/dts-v1/; / { #address-cells = <1>; #size-cells = <1>;'
                   ' uart@1000 { compatible = "ns16550a"; reg = <0x1000 0x100>; }; };')
    assert amap.layout is None and [(e.what, e.layout) for e in amap.entries] == [("ns16550a", "")]


def test_disagreeing_version_strings_are_reported():
    amap = amap_of(GUEST_ROOT.replace('"xen,xenvm-4.21"', '"xen,xenvm-4.20"') % "")
    assert amap.xen.conflicts == (("/", "compatible", "xen,xenvm-4.20"),)


# --- JSON and stdin ----------------------------------------------------------

def test_json_gives_the_map_and_the_decoded_tree(capsysbinary):
    code, out, _ = run("show", "--format", "json", str(PARTIALDT), capsysbinary=capsysbinary)
    data = json.loads(out)
    assert code == 0 and data["xen"] == "4.21" and data["layout"] == "4.21"
    serial = next(e for e in data["entries"] if e["node"] == "/passthrough/serial@9c090000")
    assert serial == {"base": 0x9C09_0000, "size": 0x1000, "what": "arm,pl011", "kind": "device",
                      "node": "/passthrough/serial@9c090000", "prop": "reg", "index": 0,
                      "layout": "ram0", "inside": "/hypervisor reg[1]"}
    hypervisor = next(n for n in data["tree"]["children"] if n["name"] == "hypervisor")
    props = {p["name"]: p["value"] for p in hypervisor["properties"]}
    assert props["compatible"] == ["xen,xen-4.21", "xen,xen"]
    assert props["interrupts"] == [{"controller": "/interrupt-controller@3001000", "type": "PPI",
                                    "number": 15, "intid": 31, "trigger": "level-low", "cpus": 15}]
    assert props["interrupt-parent"] == {"phandle": "/interrupt-controller@3001000"}


def test_show_reads_standard_input(monkeypatch, capsysbinary):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(PARTIALDT.read_bytes())))
    code, out, _ = run("show", "-", capsysbinary=capsysbinary)
    assert code == 0 and "Guest address map of <stdin>" in out


# --- the picture -------------------------------------------------------------

def test_picture_draws_every_top_level_range_labelled(tmp_path, capsysbinary):
    svg = tmp_path / "map.svg"
    code, _, _ = run("show", "--picture", str(svg), str(PARTIALDT), capsysbinary=capsysbinary)
    root = ET.parse(svg).getroot()
    texts = [t.text for t in root.iter(SVG + "text")]
    assert code == 0 and root.tag == SVG + "svg"
    for label in ("GICv3 distributor · 64 KiB", "grant table · 16 MiB", "RAM · 1 GiB",
                  "extended region 1 · 2 GiB", "extended region 2 · 1016 GiB"):
        assert any(t.startswith(label) for t in texts), label
    assert any(t.startswith("arm,pl011 · 4 KiB at 0x9c090000") for t in texts)
    assert "~831.88 MiB not described (layout: vpci-ecam, acpi, vpl011, vpci-mem)" in texts
    # a box for each of the 6 top-level ranges, and an inset one for the serial port
    boxes = [r for r in root.iter(SVG + "rect") if r.get("stroke") == "#333333"]
    assert len(boxes) == 6 + 1


def test_picture_keeps_small_ranges_visible():
    from xendt.render.picture import MIN_HEIGHT, svg

    root = ET.fromstring(svg(addressmap.address_map(read_dtb(str(PARTIALDT)))))
    heights = [float(r.get("height")) for r in root.iter(SVG + "rect")
               if r.get("stroke") == "#333333" and r.get("stroke-width") == "1"]
    assert min(heights) >= MIN_HEIGHT


def test_picture_escapes_odd_names():
    from xendt.render.picture import svg

    amap = amap_of(GUEST_ROOT % 'dev@1000 { compatible = "a<b>&\\"c"; reg = <0 0x1000 0 0x10>; };')
    ET.fromstring(svg(amap))  # well-formed


def test_picture_renders_to_a_png_of_its_size(tmp_path, capsysbinary):
    renderer = shutil.which("rsvg-convert")
    if renderer is None:
        pytest.fail("rsvg-convert not found: install Debian's librsvg2-bin")
    svg = tmp_path / "map.svg"
    run("show", "--picture", str(svg), str(PARTIALDT), capsysbinary=capsysbinary)
    png = tmp_path / "map.png"
    subprocess.run([renderer, str(svg), "-o", str(png)], check=True, timeout=60)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    root = ET.parse(svg).getroot()
    assert (width, height) == (int(root.get("width")), int(root.get("height")))


def test_a_dom0less_guest_without_hypervisor_is_named_from_the_newest_layout():
    """Xen's dom0less builder writes no root compatible, and without
    xen,enhanced no /hypervisor: nothing names the version, but the regions
    such a guest has (GIC, vpl011, RAM) are in every layout."""
    from xendt.inspect.show import map_text
    from xendt.xen import layouts

    blob = (Path(__file__).resolve().parents[1] / "tests" / "data" / "reference-dom0less"
            / "4.21.0" / "all-nodom0-gicv3" / "domU1.dtb")
    text = map_text(addressmap.address_map(read_dtb(str(blob))))
    newest = layouts.newest()
    assert text.splitlines()[1:3] == [
        "Xen version unknown (no xen,xen-X.Y or xen,xenvm-X.Y compatible; give --xen); a dom0less"
        f" guest without /hypervisor names no Xen version; names from the Xen {newest} layout",
        "Built by the Xen hypervisor (a dom0less domU): no root compatible or model, and /chosen,"
        " /cpus, /psci, /timer",
    ]
    assert ("  0x40000000  0x4fffffff      256 MiB  RAM                   /memory@40000000 reg[0]"
            "               ram0") in text
