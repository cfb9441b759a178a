"""`xendt diff`: two trees compared by meaning, from files or builds.

The golden blobs are the evidence: the same guest built by libxl 4.14, 4.16,
4.18 and 4.21 differs exactly where golden/README.md and the Xen facts say
(version strings, rng-seed from 4.16, extended regions from 4.16, the vPCI
prefetch type in 4.19), whatever their byte layout (NOPs, 4 KiB stale tails).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import GOLDEN, check_output, dtc, dts_to_dtb, golden_cases
from xendt.cli import main
from xendt.fdt.read import parse, read_dtb
from xendt.inspect.diff import diff

CASES = golden_cases()


def run(*args: str, capsysbinary) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    out, err = capsysbinary.readouterr()
    check_output(args, exit.value.code, out)
    return exit.value.code, out.decode(), err.decode()


def golden(version: str, name: str) -> str:
    return str(GOLDEN / version / f"{name}.dtb")


def changes_of(a: str, b: str, **options) -> list[tuple[str, str, str]]:
    """(kind, node, property) of each change from DTS source a to b."""
    result = diff(parse(dts_to_dtb(a), "a.dtb"), parse(dts_to_dtb(b), "b.dtb"), **options)
    return [(c.kind, c.node, c.prop) for c in result.changes]


def body(text: str) -> str:
    """A diff's text without its ---/+++ header."""
    return text.split("\n", 2)[2]


# --- golden blobs ---------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c["dtb"] for c in CASES])
def test_every_golden_blob_is_the_same_as_itself(case, capsysbinary):
    blob = str(GOLDEN / case["dtb"])
    assert run("diff", blob, blob, capsysbinary=capsysbinary)[:2] == (
        0, f"--- {blob}\n+++ {blob}\n(no differences)\n")


@pytest.mark.parametrize("case", CASES, ids=[c["dtb"] for c in CASES])
def test_byte_layout_does_not_count(case, tmp_path):
    # dtc rewrites the blob packed: no NOPs, no stale tail, its own string-table order.
    original = (GOLDEN / case["dtb"]).read_bytes()
    repacked = dtc("-q", "-I", "dtb", "-O", "dtb", "-", input=original).stdout
    assert repacked != original
    assert diff(parse(original), parse(repacked)).same


def test_4_18_and_4_21_builds_of_a_guest_differ_in_version_strings_only(capsysbinary):
    a = golden("4.18", "mem1024-v3-vcpu2-pa40")
    b = golden("4.21", "mem1024-v3-vcpu2-pa40")
    # The 4.21 blob ends in the 4064-byte stale tail its 257-pair reg placeholder left
    # (16 bytes x 254 unused pairs); it does not count.
    assert len(Path(b).read_bytes()) - len(Path(a).read_bytes()) == 16 * 254
    code, out, _ = run("diff", a, b, capsysbinary=capsysbinary)
    assert code == 1 and body(out) == """\
/
  ~ model: "XENVM-4.18" -> "XENVM-4.21"
  ~ compatible:
    - "xen,xenvm-4.18"
    + "xen,xenvm-4.21"
      "xen,xenvm"
/hypervisor
  ~ compatible:
    - "xen,xen-4.18"
    + "xen,xen-4.21"
      "xen,xen"
"""


def test_4_16_added_rng_seed_and_extended_regions_to_the_hypervisor_reg(capsysbinary):
    code, out, _ = run("diff", golden("4.14", "mem1024-v3-vcpu2-pa40"),
                       golden("4.16", "mem1024-v3-vcpu2-pa40"), capsysbinary=capsysbinary)
    assert code == 1 and body(out) == """\
/
  ~ model: "XENVM-4.14" -> "XENVM-4.16"
  ~ compatible:
    - "xen,xenvm-4.14"
    + "xen,xenvm-4.16"
      "xen,xenvm"
/chosen
  + rng-seed: 128 random bytes
/hypervisor
  ~ compatible:
    - "xen,xen-4.14"
    + "xen,xen-4.16"
      "xen,xen"
  ~ reg:
      grant table 0x38000000 +16 MiB in grant-table
    + extended region 1 0x80000000 +2 GiB in ram0
    + extended region 2 0x200000000 +1016 GiB in ram1
"""


def test_4_19_made_the_vpci_prefetch_window_64_bit(capsysbinary):
    code, out, _ = run("diff", golden("4.18", "mem1024-v3-vcpu2-pa40-vpci"),
                       golden("4.21", "mem1024-v3-vcpu2-pa40-vpci"), capsysbinary=capsysbinary)
    assert code == 1 and out.endswith("""\
/pcie@10000000
  ~ ranges:
      vPCI 32-bit memory window 0x23000000 +256 MiB in vpci-mem
    - vPCI 32-bit memory window (prefetchable) 0x100000000 +4 GiB in vpci-prefetch-mem
    + vPCI 64-bit memory window (prefetchable) 0x100000000 +4 GiB in vpci-prefetch-mem
""")


def test_a_larger_dtb_moves_the_initrd_a_page_down():
    # 4.21's tree is 4 KiB larger, so libxenguest places ramdisk + DTB a page lower.
    result = diff(read_dtb(golden("4.18", "mem128-v2-vcpu2-pa40-ramdisk")),
                  read_dtb(golden("4.21", "mem128-v2-vcpu2-pa40-ramdisk")))
    initrd = [(c.prop, c.old.text, c.new.text) for c in result.changes if c.node == "/chosen"]
    assert initrd == [("linux,initrd-start", "0x46bff000", "0x46bfe000"),
                      ("linux,initrd-end", "0x47fff000", "0x47ffe000")]


# --- builds ---------------------------------------------------------------------

def test_two_xen_versions_of_a_built_guest(capsysbinary):
    # Xen facts §5.2: memory=512 and iomem 90000,1000 (16 MiB at 0x90000000) give 4.21
    # three regions; 4.16-4.20 ignore iomem.
    code, out, err = run("diff", "--xen", "4.18", "--xen", "4.21", "--memory", "512",
                         "--iomem", "90000,1000", capsysbinary=capsysbinary)
    assert (code, err) == (1, "")
    assert out.startswith("--- xendt build --xen 4.18\n+++ xendt build --xen 4.21\n")
    assert out.endswith("""\
  ~ reg:
      grant table 0x38000000 +16 MiB in grant-table
    - extended region 1 0x60000000 +2.5 GiB in ram0
    - extended region 2 0x200000000 +1016 GiB in ram1
    + extended region 1 0x60000000 +768 MiB in ram0
    + extended region 2 0x91000000 +~1.73 GiB in ram0
    + extended region 3 0x200000000 +1016 GiB in ram1
""")


def test_two_pa_sizes_of_a_built_guest(capsysbinary):
    # Xen facts §5.4: at 36 bits the bank 1 region ends at 64 GiB.
    code, out, _ = run("diff", "--pa-bits", "36", "--pa-bits", "40", "--memory", "512",
                       capsysbinary=capsysbinary)
    assert code == 1 and out == """\
--- xendt build --xen 4.22, --pa-bits 36
+++ xendt build --xen 4.22, --pa-bits 40
/hypervisor
  ~ reg:
      grant table 0x38000000 +16 MiB in grant-table
      extended region 1 0x60000000 +2.5 GiB in ram0
    - extended region 2 0x200000000 +56 GiB in ram1
    + extended region 2 0x200000000 +1016 GiB in ram1
"""


def golden_config(tmp_path, version: str, name: str) -> str:
    """A golden case's xl.cfg without its kernel line (--kernel-size stands in)."""
    text = (GOLDEN / version / f"{name}.xl.cfg").read_text()
    cfg = tmp_path / "guest.cfg"
    cfg.write_text("\n".join(line for line in text.splitlines() if not line.startswith("kernel")))
    return str(cfg)


def test_a_file_is_the_same_as_its_configuration_built(tmp_path, capsysbinary):
    # "Is my guest's DT what this Xen gives it?": the version and rng-seed come from the file.
    blob = golden("4.21", "mem1024-v3-vcpu2-pa40")
    code, out, _ = run("diff", blob, "--xl-config", golden_config(tmp_path, "4.21", "mem1024-v3-vcpu2-pa40"),
                       "--kernel-size", "38928896", "--pa-bits", "40", "--include-rng-seed",
                       capsysbinary=capsysbinary)
    assert (code, body(out)) == (0, "(no differences)\n")
    assert out.startswith(f"--- {blob}\n+++ xendt build --xen 4.21, --pa-bits 40\n")


def test_a_file_differs_from_another_configuration(tmp_path, capsysbinary):
    code, out, _ = run("diff", golden("4.21", "mem1024-v3-vcpu2-pa40"),
                       "--xl-config", golden_config(tmp_path, "4.21", "mem1024-v3-vcpu2-pa40"),
                       "--kernel-size", "38928896", "--memory", "2048", capsysbinary=capsysbinary)
    assert code == 1 and body(out) == """\
/memory@40000000
  ~ reg: RAM 0x40000000 +1 GiB in ram0 -> RAM 0x40000000 +2 GiB in ram0
/hypervisor
  ~ reg:
      grant table 0x38000000 +16 MiB in grant-table
    - extended region 1 0x80000000 +2 GiB in ram0
    + extended region 1 0xc0000000 +1 GiB in ram0
      extended region 2 0x200000000 +1016 GiB in ram1
"""


def test_rng_seed_values_count_only_when_asked(capsysbinary):
    args = ["diff", "--pa-bits", "40", "--pa-bits", "40", "--rng-seed", "random"]
    # --rng-seed random: each build draws its own seed, as two libxl runs do
    assert run(*args, capsysbinary=capsysbinary)[0] == 0
    code, out, _ = run(*args, "--include-rng-seed", capsysbinary=capsysbinary)
    assert code == 1 and body(out) == "/chosen\n  ~ rng-seed: 128 random bytes -> 128 random bytes\n"


# --- decoded values ---------------------------------------------------------------

TREE = """/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	gic: interrupt-controller@3001000 {
		compatible = "arm,gic-v3";
		#interrupt-cells = <3>;
		interrupt-controller;
		reg = <0 0x3001000 0 0x10000 0 0x3020000 0 0x1000000>;
		phandle = <%(gic)s>;
	};
	uart@22000000 {
		compatible = "arm,sbsa-uart";
		reg = <0 0x22000000 0 0x1000>;
		interrupts = <0 %(spi)s 4>;
		interrupt-parent = <&gic>;
		status = %(status)s;
	};
};
"""
BASE = {"gic": "0xfde8", "spi": "0", "status": '"okay"'}


def tree_text(**changes) -> str:
    return TREE % {**BASE, **changes}


def test_interrupts_print_as_kind_number_and_trigger():
    result = diff(parse(dts_to_dtb(tree_text())), parse(dts_to_dtb(tree_text(spi="5"))))
    assert body(result.text()) == (
        "/uart@22000000\n"
        "  ~ interrupts: SPI 0 (ID 32) level-high, cpus 0x0 -> SPI 5 (ID 37) level-high, cpus 0x0\n")


def test_string_lists_print_as_strings():
    result = diff(parse(dts_to_dtb(tree_text())),
                  parse(dts_to_dtb(tree_text(status='"disabled", "fail"'))))
    assert body(result.text()) == ('/uart@22000000\n  ~ status:\n    - "okay"\n'
                                   '    + "disabled"\n    + "fail"\n')


def test_renumbered_phandles_that_point_to_the_same_nodes_are_the_same():
    assert changes_of(tree_text(), tree_text(gic="0x1")) == [
        ("property-changed", "/interrupt-controller@3001000", "phandle")]


def test_phandles_print_as_the_paths_they_point_to():
    a = tree_text().replace("interrupt-parent = <&gic>;", "interrupt-parent = <&gic>; iommus = <&gic>;")
    result = diff(parse(dts_to_dtb(tree_text())), parse(dts_to_dtb(a)))
    assert body(result.text()) == "/uart@22000000\n  + iommus: &/interrupt-controller@3001000\n"


def test_added_and_removed_nodes_list_their_properties():
    a = tree_text()
    b = a.replace("\tuart@22000000 {", '\tvirtio@2000000 { compatible = "virtio,mmio"; };\n\tuart@22000000 {')
    assert body(diff(parse(dts_to_dtb(a)), parse(dts_to_dtb(b))).text()) == (
        '+ /virtio@2000000\n    + compatible: "virtio,mmio"\n')
    assert body(diff(parse(dts_to_dtb(b)), parse(dts_to_dtb(a))).text()) == (
        '- /virtio@2000000\n    - compatible: "virtio,mmio"\n')


def test_the_order_of_subnodes_counts():
    a = tree_text()
    gic = a[a.index("\tgic:"):a.index("\tuart@")]
    b = a.replace(gic, "").replace("\n};\n", "\n" + gic + "};\n")
    assert changes_of(a, b) == [("children-reordered", "/", "")]


def test_properties_added_and_removed():
    a = tree_text()
    b = a.replace('\t\tstatus = "okay";\n', '\t\tcurrent-speed = <115200>;\n')
    assert changes_of(a, b) == [("property-removed", "/uart@22000000", "status"),
                                ("property-added", "/uart@22000000", "current-speed")]


def test_json_lists_the_changes_with_decoded_values(tmp_path, capsysbinary):
    a, b = tmp_path / "a.dtb", tmp_path / "b.dtb"
    a.write_bytes(dts_to_dtb(tree_text()))
    b.write_bytes(dts_to_dtb(tree_text(spi="5")))
    code, out, _ = run("diff", "--format", "json", str(a), str(b), capsysbinary=capsysbinary)
    data = json.loads(out)
    assert code == 1 and data["same"] is False
    assert data["changes"] == [{
        "kind": "property-changed", "node": "/uart@22000000", "prop": "interrupts",
        "old": [{"controller": "/interrupt-controller@3001000", "type": "SPI", "number": 0,
                 "intid": 32, "trigger": "level-high", "cpus": 0}],
        "new": [{"controller": "/interrupt-controller@3001000", "type": "SPI", "number": 5,
                 "intid": 37, "trigger": "level-high", "cpus": 0}],
        "old_text": "SPI 0 (ID 32) level-high, cpus 0x0",
        "new_text": "SPI 5 (ID 37) level-high, cpus 0x0", "props": [], "why": ""}]


# --- usage --------------------------------------------------------------------------

USAGE = {
    "three files": (["a", "b", "c"], "at most two files to compare, got 3"),
    "two files and build options": (["a", "b", "--memory", "512"], "build options go with one file or none"),
    "nothing to compare": ([], "give two DTB files, one file and build options, or two --xen"),
    "one file, two versions": (["a", "--xen", "4.18", "--xen", "4.21"], "with one file, give --xen"),
}


@pytest.mark.parametrize("args,message", USAGE.values(), ids=USAGE.keys())
def test_usage_errors_are_one_line_and_status_2(args, message, capsysbinary):
    code, out, err = run("diff", *args, capsysbinary=capsysbinary)
    assert (code, out) == (2, "") and err.count("\n") == 1 and message in err


REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference-dom0less"


def test_a_libxl_guest_and_a_dom0less_guest_differ_with_reasons(capsysbinary, tmp_path):
    """The same guest (1 GiB, 2 vCPUs, GICv3, vUART, the same ramdisk size)
    built by libxl and by Xen 4.21's dom0less builder (the real blob)."""
    libxl = tmp_path / "libxl.dtb"
    code, _, err = run("build", "--xen", "4.21", "--memory", "1024", "--vcpus", "2",
                       "--gic-version", "v3", "--vuart", "--pa-bits", "44", "--rng-seed", "none",
                       "--kernel-size", "9440", "--ramdisk-size", "3146019", "--cmdline",
                       "console=ttyAMA0", "-o", str(libxl), capsysbinary=capsysbinary)
    assert code == 0, err
    dom0less = REFERENCE / "4.21.0" / "all-nodom0-gicv3" / "domU2.dtb"
    result = diff(read_dtb(str(libxl)), read_dtb(str(dom0less)))
    assert result.origins == (
        'built by libxl (xl create): root compatible "xen,xenvm"',
        "built by the Xen hypervisor (a dom0less domU): no root compatible or model, and /chosen,"
        " /cpus, /psci, /timer")
    reasons = {(c.kind, c.node, c.prop): c.why for c in result.changes}
    assert reasons[("property-changed", "/cpus/cpu@0", "compatible")] == (
        'libxl writes "arm,armv8" ("arm,cortex-a15" for a 32-bit guest); Xen copies the host CPU'
        " node's compatible (make_cpus_node)")
    assert reasons[("property-added", "/interrupt-controller@3001000", "#redistributor-regions")] \
        == ("Xen's dom0less GICv3 node states it from 4.20 (make_gicv3_domU_node); libxl never"
            " writes it")
    assert reasons[("node-removed", "/sbsa-pl011", "")].startswith('libxl names the vpl011 node')
    assert all(c.why for c in result.changes), [c for c in result.changes if not c.why]


def test_trees_of_one_builder_carry_no_reasons():
    a = REFERENCE / "4.21.0" / "all-nodom0-gicv3" / "domU1.dtb"
    b = REFERENCE / "4.21.0" / "all-nodom0-gicv3" / "domU2.dtb"
    result = diff(read_dtb(str(a)), read_dtb(str(b)))
    assert result.origins == () and not any(c.why for c in result.changes)
