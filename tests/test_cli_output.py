"""One output convention on every command: `-o FILE|-`, the format from
--format or else from the file's extension (a conflict is one line, status
2); `show --part`; and one way of saying warnings: once per cause,
silenced by --quiet, fatal (status 1, nothing written) with
--warnings-as-errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import GOLDEN, dtb_to_dts, dtc, run_cli
from conftest_host import qemu  # noqa: F401  (fixture)

run = run_cli
GUEST = GOLDEN / "4.21" / "mem1024-v3-vcpu2-pa40.dtb"
OTHER = GOLDEN / "4.18" / "mem1024-v3-vcpu2-pa40.dtb"
#: A guest whose RAM leaves no room for extended regions: libxl warns.
CRAMPED = ("build", "--memory", "3072", "--pa-bits", "32", "--rng-seed", "none")
CRAMPED_WARNING = ("xendt: warning: the extended regions cannot be allocated, not enough space"
                   " (libxl warns the same; /hypervisor reg holds the grant table only)\n")


@pytest.mark.parametrize("extension, fmt", [("dts", "dts"), ("json", "json"), ("dtb", "dtb")])
def test_build_writes_the_format_its_file_name_says(extension, fmt, tmp_path, capsysbinary):
    named = tmp_path / f"guest.{extension}"
    code, _, err = run("build", "--rng-seed", "none", "-o", str(named), capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    code, out, err = run("build", "--rng-seed", "none", "--format", fmt, "-o", "-",
                         capsysbinary=capsysbinary)
    assert named.read_bytes() == out


def test_a_file_without_extension_gets_the_commands_default_format(tmp_path, capsysbinary):
    code, _, err = run("build", "--rng-seed", "none", "-o", str(tmp_path / "guest"),
                       capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert (tmp_path / "guest").read_bytes()[:4] == b"\xd0\x0d\xfe\xed"


def test_an_extension_and_a_format_that_disagree_are_refused(tmp_path, capsysbinary):
    code, out, err = run("build", "-o", str(tmp_path / "g.dts"), "--format", "dtb",
                         capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert err == (f"xendt: -o {tmp_path}/g.dts names a .dts file but --format is dtb: give one"
                   " of them, or make them agree (see 'xendt build --help')\n")
    assert list(tmp_path.iterdir()) == []


def test_an_extension_the_command_does_not_write_is_refused(tmp_path, capsysbinary):
    code, out, err = run("build", "-o", str(tmp_path / "g.txt"), capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert err == (f"xendt: -o {tmp_path}/g.txt: this command does not write .txt files; it"
                   " writes dtb, dts, json (--format) (see 'xendt build --help')\n")


def test_a_format_with_a_file_whose_extension_names_none_is_that_format(tmp_path, capsysbinary):
    code, _, err = run("build", "--rng-seed", "none", "--format", "dts", "-o",
                       str(tmp_path / "guest.out"), capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert (tmp_path / "guest.out").read_text().startswith("/dts-v1/;\n")


@pytest.mark.parametrize("command", [("show", str(GUEST)), ("check", str(GUEST), "--pa-bits", "40"),
                                     ("diff", str(OTHER), str(GUEST))])
@pytest.mark.parametrize("extension", ["txt", "json"])
def test_show_check_and_diff_write_to_o_file_what_they_print(command, extension, tmp_path,
                                                             capsysbinary):
    fmt = "text" if extension == "txt" else "json"
    code, printed, _ = run(*command, "--format", fmt, capsysbinary=capsysbinary)
    path = tmp_path / f"out.{extension}"
    again, written, err = run(*command, "-o", str(path), capsysbinary=capsysbinary)
    assert (again, written, err) == (code, b"", "")
    assert path.read_bytes() == printed


def test_show_part_dts_is_what_dtc_prints(capsysbinary):
    code, out, err = run("show", str(GUEST), "--part", "dts", capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert out.decode() == dtb_to_dts(GUEST.read_bytes())
    dtc("-q", "-I", "dts", "-O", "dtb", "-", input=out)  # it reads back


def test_show_part_map_is_the_map_alone(capsysbinary):
    _, both, _ = run("show", str(GUEST), capsysbinary=capsysbinary)
    code, out, err = run("show", str(GUEST), "--part", "map", capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert out.decode().startswith(f"Guest address map of {GUEST}\n")
    assert both.decode() == dtb_to_dts(GUEST.read_bytes()) + "\n" + out.decode()


def test_show_part_goes_with_text_only(capsysbinary):
    code, out, err = run("show", str(GUEST), "--part", "dts", "--format", "json",
                         capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert err == ("xendt: --part goes with the text format, not json (see 'xendt show"
                   " --help')\n")


def test_show_into_an_svg_file_draws_the_map(tmp_path, capsysbinary):
    code, _, err = run("show", str(GUEST), "-o", str(tmp_path / "map.svg"), "--picture",
                       str(tmp_path / "picture.svg"), capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    drawing = (tmp_path / "map.svg").read_bytes()
    assert drawing == (tmp_path / "picture.svg").read_bytes()
    assert drawing.startswith(b"<svg")


def test_host_regions_into_a_json_file_writes_json(qemu, tmp_path, capsysbinary):
    path = tmp_path / "regions.json"
    args = ("host-regions", "--host-dtb", str(qemu["gicv3-virt-4g"]), "--iommu")
    code, out, err = run(*args, "-o", str(path), capsysbinary=capsysbinary)
    assert (code, out, err) == (0, b"", "")
    _, printed, _ = run(*args, "--format", "json", capsysbinary=capsysbinary)
    assert path.read_bytes() == printed
    json.loads(printed)


def test_host_dt_into_a_dtb_file_writes_the_blob(qemu, tmp_path, capsysbinary):
    path = tmp_path / "host.dtb"
    code, _, err = run("host-dt", "--host-dtb", str(qemu["gicv3-virt-4g"]), "-o", str(path),
                       capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert path.read_bytes() == qemu["gicv3-virt-4g"].read_bytes()


def test_quiet_leaves_warnings_out(tmp_path, capsysbinary):
    code, _, err = run(*CRAMPED, "-q", "-o", str(tmp_path / "g.dtb"), capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert (tmp_path / "g.dtb").exists()


def test_warnings_as_errors_fails_before_writing(tmp_path, capsysbinary):
    code, out, err = run(*CRAMPED, "--warnings-as-errors", "-o", str(tmp_path / "g.dtb"),
                         capsysbinary=capsysbinary)
    assert (code, out) == (1, b"")
    assert err == CRAMPED_WARNING + "xendt: error: 1 warning and --warnings-as-errors: nothing written\n"
    assert list(tmp_path.iterdir()) == []


def test_warnings_as_errors_with_quiet_says_only_the_failure(tmp_path, capsysbinary):
    code, _, err = run(*CRAMPED, "-q", "--warnings-as-errors", "-o", str(tmp_path / "g.dtb"),
                       capsysbinary=capsysbinary)
    assert (code, err) == (1, "xendt: error: 1 warning and --warnings-as-errors: nothing written\n")


def test_warnings_as_errors_without_warnings_changes_nothing(tmp_path, capsysbinary):
    code, _, err = run("build", "--warnings-as-errors", "-o", str(tmp_path / "g.dtb"),
                       capsysbinary=capsysbinary)
    assert (code, err) == (0, "")


def test_check_with_warnings_as_errors_fails_on_a_warning(capsysbinary):
    # A 3 GiB guest on a 32-bit IPA host: no extended region (check warns).
    guest = GOLDEN / "4.16" / "mem3072-v3-vcpu2-pa32.dtb"
    code, out, _ = run("check", str(guest), "--pa-bits", "40", capsysbinary=capsysbinary)
    assert code == 0
    code, strict, _ = run("check", str(guest), "--pa-bits", "40", "--warnings-as-errors",
                          capsysbinary=capsysbinary)
    assert (code, strict) == (1, out)


def thirty_domains(board: Path, tmp_path: Path) -> Path:
    """QEMU's virt board with domU1 ... domU30 under /chosen, each 64 MiB,
    one vCPU, an 8 MiB kernel module and nothing else."""
    nodes = "".join(
        f"\t\tdomU{i} {{\n\t\t\tcompatible = \"xen,domain\";\n\t\t\t#address-cells = <1>;\n"
        f"\t\t\t#size-cells = <1>;\n\t\t\tmemory = <0x0 0x10000>;\n\t\t\tcpus = <1>;\n"
        f"\t\t\tmodule@{0x50000000 + i * 0x1000000:x} {{\n"
        f"\t\t\t\tcompatible = \"multiboot,kernel\", \"multiboot,module\";\n"
        f"\t\t\t\treg = <{0x50000000 + i * 0x1000000:#x} 0x800000>;\n\t\t\t}};\n\t\t}};\n"
        for i in range(1, 31))
    source = (dtb_to_dts(board.read_bytes()) + "/ {\n\tchosen {\n\t\t#address-cells = <1>;\n"
              "\t\t#size-cells = <1>;\n" + nodes + "\t};\n};\n")
    host = tmp_path / "host.dtb"
    host.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    return host


def test_a_warning_thirty_domains_share_is_one_line(qemu, tmp_path, capsysbinary):
    host = thirty_domains(qemu["gicv3-virt-4g"], tmp_path)
    code, _, err = run("build", "--host-dtb", str(host), "--domain", "all", "-o",
                       f"{tmp_path}/out/", capsysbinary=capsysbinary)
    assert code == 0
    assert err == (
        "xendt: warning: domU1, domU2, ... domU30 (30 domains): no kernel file given: assumed an"
        " arm64 Image with text_offset 0 of 8388608 bytes (the module's reg)\n"
        "xendt: warning: domU1, domU2, ... domU30 (30 domains): no xen,enhanced: the domain gets"
        " no /hypervisor node (no grant table, event channels or extended regions)\n")


def test_warnings_as_errors_writes_no_domain_and_makes_no_folder(qemu, tmp_path,
                                                                  capsysbinary):
    host = thirty_domains(qemu["gicv3-virt-4g"], tmp_path)
    code, out, err = run("build", "--host-dtb", str(host), "--domain", "all", "-q",
                         "--warnings-as-errors", "-o", f"{tmp_path}/out/", capsysbinary=capsysbinary)
    assert (code, out) == (1, b"")
    assert err == "xendt: error: 2 warnings and --warnings-as-errors: nothing written\n"
    assert not (tmp_path / "out").exists()


def test_messages_about_a_few_domains_name_each():
    from xendt.cli.common import grouped

    assert grouped(["a: late", "b: late", "c: other", "a: other", "cannot: tell"],
                   ("a", "b", "c")) == ["a, b: late", "c, a: other", "cannot: tell"]


def test_show_part_dts_still_draws_the_picture_asked_for(tmp_path, capsysbinary):
    code, out, err = run("show", str(GUEST), "--part", "dts", "--picture",
                         str(tmp_path / "map.svg"), capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert out.decode() == dtb_to_dts(GUEST.read_bytes())
    assert (tmp_path / "map.svg").read_bytes().startswith(b"<svg")


@pytest.mark.parametrize("command", ["build", "host-regions", "host-dt", "show", "check", "diff"])
def test_every_command_takes_the_common_options(command):
    from xendt.cli import cli

    ctx = cli.make_context("xendt", [command, "--help"], resilient_parsing=True)
    names = {opt for param in cli.get_command(ctx, command).params
             for opt in getattr(param, "opts", ())}
    assert {"-o", "--output", "--format", "-q", "--quiet", "--warnings-as-errors"} <= names
