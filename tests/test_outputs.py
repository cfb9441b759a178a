"""Where output goes: never outside the folder asked for, never one file
over another, one line when a path is a folder where a file is wanted (or
the reverse), and one line with status 2 when standard output cannot be
written.

The hostile host DTs are a real one (4.21.0 extra-gicv3: domU5, domU6)
with domU6's node name replaced in the blob: dtc refuses such names in
DTS, a blob holds them all the same.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, run_cli

HOST = DATA / "reference-dom0less" / "4.21.0" / "extra-gicv3" / "host.dtb"
SAMPLE = DATA / "reference-dom0less" / "4.21.0" / "extra-gicv3" / "domU5.dtb"

run = run_cli
#: The installed xendt as its own process (-I: not ./xendt from the folder).
XENDT = [sys.executable, "-I", "-m", "xendt.cli"]


def renamed(tmp_path: Path, name: str) -> Path:
    """HOST with domU6's node called `name` (4 to 7 bytes: the name's
    padded slot)."""
    assert 4 <= len(name) <= 7
    blob = HOST.read_bytes()
    old = b"domU6\0\0\0"
    assert blob.count(old) == 1
    path = tmp_path / "host.dtb"
    path.write_bytes(blob.replace(old, name.encode().ljust(8, b"\0")))
    return path


def quiet(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("xendt: warning:")]


@pytest.mark.parametrize("name", ["../../x", "/x/y", "a bc", "a\\x1bxy"])
def test_a_domain_named_like_a_path_is_refused_before_anything_is_written(name, tmp_path,
                                                                            capsysbinary):
    name = name.replace("\\x1b", "\x1b")
    host = renamed(tmp_path, name)
    out = tmp_path / "a" / "b"
    code, stdout, err = run("build", "--host-dtb", str(host), "--domain", "all", "-o", f"{out}/",
                            capsysbinary=capsysbinary)
    shown = name.replace("\x1b", "\\x1b")
    assert (code, stdout) == (2, b"")
    assert quiet(err) == [f"xendt: domain {shown!r}: not a device tree node name, so not a file"
                          f" name to write in {out}/; build it alone with --domain NAME -o FILE"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["host.dtb"]


@pytest.mark.parametrize("name", [".", "..", ""])
def test_dots_and_nothing_are_not_file_names(name):
    from xendt.cli.output import file_in
    from xendt.errors import XendtError

    with pytest.raises(XendtError) as refused:
        file_in("/out", name, "dtb")
    assert str(refused.value) == (f"domain {name!r}: not a device tree node name, so not a file"
                                  " name to write in /out/; build it alone with --domain NAME"
                                  " -o FILE")


def test_a_domain_named_like_a_path_builds_alone_into_the_file_given(tmp_path, capsysbinary):
    host = renamed(tmp_path, "../../x")
    out = tmp_path / "x.dtb"
    code, _, err = run("build", "--host-dtb", str(host), "--domain", "../../x", "-o", str(out),
                       capsysbinary=capsysbinary)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host.dtb", "x.dtb"]


def test_two_domains_of_one_name_are_refused(tmp_path, capsysbinary):
    host = renamed(tmp_path, "domU5")
    code, stdout, err = run("build", "--host-dtb", str(host), "--domain", "all",
                            "-o", f"{tmp_path}/out/", capsysbinary=capsysbinary)
    assert (code, stdout) == (2, b"")
    assert err == (f"xendt: {host}: 2 dom0less domains named 'domU5' under /chosen: Xen builds"
                   " each, xendt cannot tell them apart (rename one)\n")
    assert not (tmp_path / "out").exists()


def test_a_domain_asked_for_twice_is_refused(tmp_path, capsysbinary):
    code, _, err = run("build", "--host-dtb", str(HOST), "--domain", "domU5", "--domain", "domU5",
                       "-o", f"{tmp_path}/", capsysbinary=capsysbinary)
    assert code == 2
    assert err == "xendt: --domain domU5 given twice (see 'xendt build --help')\n"


def test_a_new_folder_is_created_for_the_domains(tmp_path, capsysbinary):
    out = tmp_path / "new" / "dir"
    code, _, err = run("build", "--host-dtb", str(HOST), "--domain", "all", "-o", f"{out}/",
                       capsysbinary=capsysbinary)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["domU5.dtb", "domU6.dtb"]


def test_a_folder_through_a_file_is_one_line(tmp_path, capsysbinary):
    (tmp_path / "F").write_bytes(b"keep")
    code, stdout, err = run("build", "--host-dtb", str(HOST), "--domain", "domU5",
                            "-o", f"{tmp_path}/F/", capsysbinary=capsysbinary)
    assert (code, stdout) == (2, b"")
    assert err == f"xendt: cannot write into {tmp_path}/F/: {tmp_path}/F is a file, not a folder\n"
    assert (tmp_path / "F").read_bytes() == b"keep"


@pytest.mark.parametrize("command", [["build"], ["host-dt", "--host-dtb", str(HOST)]],
                         ids=["build", "host-dt"])
def test_a_one_file_command_refuses_a_folder_name(command, tmp_path, capsysbinary):
    code, _, err = run(*command, "-o", f"{tmp_path}/new/", capsysbinary=capsysbinary)
    assert code == 2
    assert err == (f"xendt: cannot write {tmp_path}/new/: names a folder (a trailing /); this"
                   " command writes one file: -o FILE\n")
    assert list(tmp_path.iterdir()) == []


def test_a_one_file_command_refuses_an_existing_folder(tmp_path, capsysbinary):
    code, _, err = run("build", "-o", str(tmp_path), capsysbinary=capsysbinary)
    assert code == 2
    assert err == (f"xendt: cannot write {tmp_path}: is a folder; this command writes one file:"
                   " -o FILE\n")


def test_an_empty_output_name_is_refused(capsysbinary):
    code, _, err = run("build", "-o", "", capsysbinary=capsysbinary)
    assert code == 2
    assert err == "xendt: cannot write '': give a file name, or - for standard output\n"


FULL = [
    ["build", "-o", "-"],
    ["build", "--format", "dts"],
    ["build", "--host-dtb", str(HOST), "--domain", "domU5", "-o", "-"],
    ["host-dt", "--host-dtb", str(HOST)],
    ["host-regions", "--host-dtb", str(HOST), "--iommu"],
    ["show", str(SAMPLE)],
    ["check", str(SAMPLE)],
    ["diff", str(SAMPLE), str(SAMPLE)],
    ["--help"],
    ["--version"],
]


@pytest.mark.parametrize("args", FULL, ids=lambda a: " ".join(a[:2]))
def test_standard_output_on_a_full_disk_is_one_line_and_status_2(args):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([*XENDT, *args], stdout=full,
                              stderr=subprocess.PIPE, timeout=60, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 2
    assert quiet(err) == ["xendt: cannot write standard output: No space left on device"]


def test_the_domains_table_on_a_full_disk_is_one_line_after_the_files(tmp_path):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([*XENDT, "build", "--host-dtb", str(HOST),
                               "--domain", "all", "-o", f"{tmp_path}/"], stdout=full,
                              stderr=subprocess.PIPE, timeout=60, check=False)
    assert proc.returncode == 2
    assert quiet(proc.stderr.decode()) == [
        "xendt: cannot write standard output: No space left on device"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["domU5.dtb", "domU6.dtb"]
