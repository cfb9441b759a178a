"""`xendt build --host-dtb H --domain NAME|all` and `xendt host-dt`: the
dom0less builder through the command line.

The golden cases are the real hypervisor's blobs in
tests/data/reference-dom0less/ (read back from inside each guest; see the
README there), rebuilt through the CLI and compared byte for byte. The
U-Boot case checks the script path against an independent route to the same
host DT: the nodes the script creates, written by hand in DTS and compiled
by dtc.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from conftest import ROOT, dtb_to_dts, dtc, run_cli
from conftest_host import qemu  # noqa: F401  (fixture)

REFERENCE = ROOT / "tests" / "data" / "reference-dom0less"
RUNS = sorted(p.parent for p in REFERENCE.glob("4.*/*/host.dtb"))
MODULES = REFERENCE / "modules"


run = run_cli


@pytest.mark.parametrize("run_dir", RUNS, ids=lambda p: "/".join(p.parts[-2:]))
def test_every_domain_of_a_real_run_is_rebuilt_through_the_cli(run_dir, tmp_path, capsysbinary):
    version = run_dir.parent.name  # 4.17.7, 4.19.0, 4.21.0
    expected = sorted(run_dir.glob("domU*.dtb"))
    args = ["build", "--host-dtb", str(run_dir / "host.dtb"), "--domain", "all", "--xen", version,
            "--pa-bits", "44", "--kernel", f"{expected[0].stem}={MODULES / 'dumper.bin'}",
            "-o", f"{tmp_path}/"]
    if (run_dir / "domU4.dtb").exists():
        args += ["--partial-dtb", f"domU4={MODULES / 'passthrough-rtc.dtb'}"]
    code, out, err = run(*args, capsysbinary=capsysbinary)
    assert code == 0, err
    for blob in expected:
        assert (tmp_path / blob.name).read_bytes() == blob.read_bytes(), blob.name
    table = out.decode().splitlines()
    assert table[0].split() == ["domain", "vcpus", "memory", "regions", "passthrough", "warnings"]
    assert [line.split()[0] for line in table[1:]] == [b.stem for b in expected]


def test_one_domain_goes_to_one_file(tmp_path, capsysbinary):
    run_dir = REFERENCE / "4.21.0" / "extra-gicv3"
    out = tmp_path / "domU5.dtb"
    code, stdout, err = run("build", "--host-dtb", str(run_dir / "host.dtb"), "--domain", "domU5",
                            "--xen", "4.21", "--pa-bits", "44", "-o", str(out),
                            capsysbinary=capsysbinary)
    assert (code, stdout) == (0, b"")
    assert out.read_bytes() == (run_dir / "domU5.dtb").read_bytes()
    assert err == ("xendt: warning: domU5: no kernel file given: assumed an arm64 Image with"
                   " text_offset 0 of 9440 bytes (the module's reg)\n")


def test_several_domains_need_a_folder(tmp_path, capsysbinary):
    run_dir = REFERENCE / "4.21.0" / "extra-gicv3"
    code, out, err = run("build", "--host-dtb", str(run_dir / "host.dtb"), "--domain", "all",
                         "-o", str(tmp_path / "one.dtb"), capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert err == ("xendt: several domains: give a folder with -o DIR/ (one file each)"
                   " (see 'xendt build --help')\n")


def test_xl_cfg_options_do_not_apply_to_a_dom0less_domain(capsysbinary):
    run_dir = REFERENCE / "4.21.0" / "extra-gicv3"
    code, out, err = run("build", "--host-dtb", str(run_dir / "host.dtb"), "--domain", "domU5",
                         "--memory", "512", "-o", "-", capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert err == ("xendt: --memory is an xl.cfg option; a dom0less domain is described by its"
                   " /chosen node (see 'xendt build --help')\n")


def test_an_unknown_domain_lists_the_host_s_domains(capsysbinary):
    run_dir = REFERENCE / "4.21.0" / "extra-gicv3"
    code, out, err = run("build", "--host-dtb", str(run_dir / "host.dtb"), "--domain", "domU9",
                         "-o", "-", capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert "domU9" in err and err.count("\n") == 1


# The nodes tests/data/uboot/boot.source creates, by hand. Addresses follow
# its setexpr arithmetic from memaddr 0xC00000 (each load rounded up to
# 2 MiB): xen (1000000 bytes) at 0xC00000, the kernel (0x1234567 bytes) at
# 0xE00000, the ramdisk (0x345678 bytes) at 0x2200000, board.dtb at 0x2600000.
SCRIPT_NODES = """
/ {
	chosen {
		#address-cells = <0x2>;
		#size-cells = <0x2>;
		xen,xen-bootargs = "console=dtuart dtuart=serial0 bootscrub=0";
		domU0 {
			compatible = "xen,domain";
			#address-cells = <0x2>;
			#size-cells = <0x2>;
			memory = <0x0 0x80000>;
			cpus = <0x1>;
			vpl011 = <0x1>;
			module@1200000 {
				compatible = "multiboot,kernel", "multiboot,module";
				reg = <0x0 0xe00000 0x0 0x1234567>;
				bootargs = "console=ttyAMA0";
			};
			module@1400000 {
				compatible = "multiboot,ramdisk", "multiboot,module";
				reg = <0x0 0x2200000 0x0 0x345678>;
			};
		};
	};
};
"""


@pytest.fixture()
def board(qemu, tmp_path):
    """The script's files: QEMU's virt board as board.dtb, and stand-ins of
    the sizes the hand derivation above uses (Image: an arm64 Image header,
    text_offset 0, as the script's load makes it domU0's kernel)."""
    shutil.copy(qemu["gicv3-virt-4g"], tmp_path / "board.dtb")
    header = struct.pack("<IIQQQQQQ4sI", 0, 0, 0, 0x1234567, 0, 0, 0, 0, b"ARM\x64", 0)
    for name, size in (("xen", 1000000), ("Image", 0x1234567), ("initrd.cpio", 0x345678)):
        with open(tmp_path / name, "wb") as f:
            f.write(header if name == "Image" else b"")
            f.truncate(size)
    return tmp_path


def script_args(board: Path) -> list[str]:
    return ["--host-dtb", str(board / "board.dtb"),
            "--uboot-script", str(ROOT / "tests/data/uboot/boot.source"),
            "--uboot-file", f"xen={board / 'xen'}",
            "--uboot-file", f"domU0/Image={board / 'Image'}",
            "--uboot-file", f"domU0/initrd.cpio={board / 'initrd.cpio'}"]


def test_a_u_boot_script_gives_the_domain_its_nodes_describe(board, capsysbinary):
    code, from_script, err = run("build", *script_args(board), "--domain", "domU0", "--xen", "4.21",
                                 "--pa-bits", "44", "-o", "-", capsysbinary=capsysbinary)
    assert code == 0, err
    by_hand = board / "by-hand.dtb"
    source = dtb_to_dts((board / "board.dtb").read_bytes()) + SCRIPT_NODES
    by_hand.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    code, from_dts, err = run("build", "--host-dtb", str(by_hand), "--domain", "domU0", "--xen",
                              "4.21", "--pa-bits", "44", "--kernel", str(board / "Image"), "-o",
                              "-", capsysbinary=capsysbinary)
    assert code == 0, err
    assert from_script == from_dts


def test_a_kernel_given_by_flag_wins_over_the_file_the_script_loads(board, capsysbinary):
    # The script loads domU0/Image (an arm64 Image header) where domU0's
    # kernel module starts; --kernel names another file, which is read.
    other = board / "zeros"
    with open(other, "wb") as f:
        f.truncate(0x1234567)  # the module's size, no kernel header
    code, out, err = run("build", *script_args(board), "--domain", "domU0", "--xen", "4.21",
                         "--kernel", str(other), "-o", "-", capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert err == (f"xendt: {other}: not a kernel Xen 4.21 can boot (arm64 Image, arm32 zImage,"
                   " uImage, or one of them gzip-compressed)\n")


def test_host_dt_prints_what_xen_receives(board, capsysbinary):
    code, out, err = run("host-dt", *script_args(board), capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    text = out.decode()
    assert '\t\txen,xen-bootargs = "console=dtuart dtuart=serial0 bootscrub=0";\n' in text
    assert "\t\t\t\treg = <0x00 0xe00000 0x00 0x1234567>;\n" in text


def test_the_readme_example_is_what_the_commands_print(qemu, tmp_path, monkeypatch, capsysbinary):
    """README's "Dom0less guests" example, run as written: QEMU's virt DT
    (the fixture's gicv3-virt-4g shape is the same machine), the example's
    domains merged in by dtc, then xendt."""
    readme = (ROOT / "README.md").read_text().split("## Dom0less guests", 1)[1]
    blocks = readme.split("```")
    commands, table, warnings, dts = blocks[1], blocks[3], blocks[5], blocks[7]
    assert ("-m 4G -machine virt,virtualization=on,gic-version=3,dumpdtb=virt.dtb"
            in commands)
    shutil.copy(qemu["gicv3-virt-4g"], tmp_path / "virt.dtb")
    source = dtb_to_dts((tmp_path / "virt.dtb").read_bytes())
    source += (ROOT / "examples/dom0less/domains.dtsi").read_text()
    (tmp_path / "host.dtb").write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-",
                                            input=source.encode()).stdout)
    monkeypatch.chdir(tmp_path)
    args = commands.strip().splitlines()[-1].split()[1:]
    code, out, err = run(*args, capsysbinary=capsysbinary)
    assert code == 0
    assert out.decode() == table.split("\n", 1)[1]
    assert err == warnings.split("\n", 1)[1]
    shown = dtb_to_dts((tmp_path / "out" / "domU1.dtb").read_bytes())
    for line in dts.split("\n", 1)[1].splitlines():
        assert line in shown.splitlines(), line


def test_a_host_xen_cannot_boot_refuses_the_build_per_point_release(tmp_path, capsysbinary):
    """A /memreserve/ entry overlapping a reserved-memory child: Xen 4.19.0
    panics in its early FDT scan (check_reserved_regions_overlap), 4.19.2
    allows it (6f7af8383f51, "xen/device-tree: Allow region overlapping with
    /memreserve/ ranges"), so only 4.19.2 builds domU2."""
    host = REFERENCE / "4.19.0" / "all-nodom0-gicv3" / "host.dtb"
    source = dtb_to_dts(host.read_bytes()).replace(
        "/dts-v1/;\n", "/dts-v1/;\n/memreserve/ 0x80000000 0x1000000;\n", 1)
    source += ("/ { reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;"
               " r@80000000 { reg = <0 0x80000000 0 0x100000>; }; }; };\n")
    board = tmp_path / "board.dtb"
    board.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    code, out, err = run("build", "--host-dtb", str(board), "--domain", "domU2", "--xen", "4.19.0",
                         "-o", "-", capsysbinary=capsysbinary)
    assert (code, out) == (1, b"")  # Xen itself fails: status 1
    assert err.splitlines()[-1] == (
        f"xendt: error: {board}: Xen 4.19.0 stops at boot before building domU2:"
        " /reserved-memory/r@80000000: check_reserved_regions_overlap: \"Region: [0x80000000,"
        " 0x80100000) overlapping with /memreserve/ 0 [0x80000000, 0x81000000)\", then panic"
        " \"Early FDT parsing failed (-22)\" (allowed from 4.19.2 by \"xen/device-tree: Allow"
        " region overlapping with /memreserve/ ranges\")")
    code, out, err = run("build", "--host-dtb", str(board), "--domain", "domU2", "--xen", "4.19.2",
                         "-o", str(tmp_path / "domU2.dtb"), capsysbinary=capsysbinary)
    assert code == 0, err


def test_json_gives_the_memory_map_xen_placed(capsysbinary):
    """The real 4.21 domU2 (1 GiB, a 3,146,019-byte ramdisk): its /chosen
    says linux,initrd-start 0x48200000 and -end 0x48500123; the map says the
    same, and where the kernel and the DTB went."""
    import json

    run_dir = REFERENCE / "4.21.0" / "all-nodom0-gicv3"
    code, out, err = run("build", "--host-dtb", str(run_dir / "host.dtb"), "--domain", "domU2",
                         "--xen", "4.21", "--pa-bits", "44", "--format", "json", "-o", "-",
                         capsysbinary=capsysbinary)
    assert code == 0, err
    data = json.loads(out)["memory_map"]
    chosen = dtb_to_dts((run_dir / "domU2.dtb").read_bytes()).split("\tchosen {\n", 1)[1]
    assert "linux,initrd-start = <0x00 0x48200000>;" in chosen
    assert "linux,initrd-end = <0x00 0x48500123>;" in chosen
    assert data["segments"] == [
        {"base": 0x4000_0000, "size": 9440, "name": "kernel"},
        {"base": 0x4800_0000, "size": (run_dir / "domU2.dtb").stat().st_size, "name": "dtb"},
        {"base": 0x4820_0000, "size": 0x48500123 - 0x48200000, "name": "ramdisk"}]
    assert (data["xen"], data["ipa_bits"], data["ram"]) == (
        "4.21", 44, [{"base": 0x4000_0000, "size": 1 << 30}])


def test_json_ipa_is_the_point_release_s(capsysbinary):
    """4.16.2 caps a 52-bit PA at a 48-bit IPA (fe02a5342d3e, "xen/arm: p2m
    don't fall over on FEAT_LPA enabled hw", RELEASE-4.16.2): the JSON
    memory map of a 4.16.2 domain says 48, not 4.16.0's refusal."""
    import json

    run_dir = REFERENCE / "4.21.0" / "all-nodom0-gicv3"
    code, out, err = run("build", "--host-dtb", str(run_dir / "host.dtb"), "--domain", "domU2",
                         "--xen", "4.16.2", "--pa-bits", "52", "--format", "json", "-o", "-",
                         capsysbinary=capsysbinary)
    assert code == 0, err
    assert json.loads(out)["memory_map"]["ipa_bits"] == 48


def test_a_kernel_module_over_another_is_refused_from_4_18(tmp_path, capsysbinary):
    """domU6's kernel moved inside domU5's [0x50e00000, 0x50e024e0): from
    4.18 add_boot_module drops it (xen/common/device-tree/bootinfo.c @
    RELEASE-4.21.0), kernel_probe finds no kernel and create_domUs panics;
    4.17 registers both."""
    source = dtb_to_dts((REFERENCE / "4.21.0" / "extra-gicv3" / "host.dtb").read_bytes())
    source = source.replace("reg = <0x51000000 0x24e0>;", "reg = <0x50e01000 0x24e0>;", 1)
    board = tmp_path / "board.dtb"
    board.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    code, out, err = run("build", "--host-dtb", str(board), "--domain", "domU6", "--xen", "4.21",
                         "-o", "-", capsysbinary=capsysbinary)
    assert (code, out) == (1, b"")  # Xen itself fails: status 1
    assert err.splitlines()[-1] == (
        "xendt: error: /chosen/domU6/module@51000000: Xen 4.21.0's early scan drops the kernel module"
        " (\"Region: [0x00000050e01000, 0x00000050e034e0) overlapping with mod[2]:"
        " [0x00000050e00000, 0x00000050e024e0)\"): kernel_probe prints \"Missing kernel boot"
        " module?\", then panic \"Could not set up domain domU6 (rc = -2)\"")
    code, _, err = run("build", "--host-dtb", str(board), "--domain", "domU6", "--xen", "4.17",
                       "-o", str(tmp_path / "domU6.dtb"), capsysbinary=capsysbinary)
    assert code == 0, err
def test_property_an_older_xen_ignores_is_a_warning(tmp_path, capsysbinary):
    # domU2 of the real 4.21.0 run has xen,enhanced = "no-xenstore", which no
    # 4.16 source reads: 4.16 builds it without /hypervisor.
    run_dir = REFERENCE / "4.21.0" / "all-nodom0-gicv3"
    out = tmp_path / "domU2.dtb"
    code, _, err = run("build", "--host-dtb", str(run_dir / "host.dtb"), "--domain", "domU2",
                       "--xen", "4.16", "--kernel", f"domU2={MODULES / 'dumper.bin'}",
                       "-o", str(out), capsysbinary=capsysbinary)
    assert (code, err, b"hypervisor" in out.read_bytes()) == (
        0, "xendt: warning: domU2: property 'xen,enhanced' is read from Xen 4.17 on; Xen 4.16"
           " ignores it\n", False)
