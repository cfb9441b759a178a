"""xendt.fdt.read: the one reader, on every header version dtc writes.

dtc writes versions 1, 2, 3, 16 and 17 (`dtc -V N`). libfdt reads 2 to 17
(FDT_FIRST_SUPPORTED_VERSION, FDT_LAST_SUPPORTED_VERSION in libfdt.h), so
version 1 is refused in one line, and every other version reads as the
same tree: `show`, `host-regions --host-dtb` and `build --device-tree`
answer for it exactly as for the version 17 blob.
"""

from __future__ import annotations

import pytest

from conftest import GOLDEN, dtb_to_dts, dtc, run_cli
from conftest_host import qemu  # noqa: F401  (fixture)
from xendt.fdt.read import parse

READABLE = ("2", "3", "16", "17")


def as_version(blob: bytes, version: str) -> bytes:
    return dtc("-q", "-I", "dtb", "-O", "dtb", "-V", version, "-", input=blob).stdout


run = run_cli


@pytest.mark.parametrize("version", READABLE)
def test_every_readable_version_reads_as_the_same_tree(qemu, version):
    blob = qemu["gicv3-2g"].read_bytes()
    assert str(parse(as_version(blob, version))) == str(parse(blob))


@pytest.mark.parametrize("version", READABLE)
def test_show_reads_every_version(qemu, tmp_path, version, capsysbinary):
    reference = run("show", str(qemu["gicv3-2g"]), capsysbinary=capsysbinary)
    path = tmp_path / f"v{version}.dtb"
    path.write_bytes(as_version(qemu["gicv3-2g"].read_bytes(), version))
    code, out, err = run("show", str(path), capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert out.replace(str(path).encode(), b"F") == reference[1].replace(
        str(qemu["gicv3-2g"]).encode(), b"F")


@pytest.mark.parametrize("version", READABLE)
def test_host_regions_reads_every_version(qemu, tmp_path, version, capsysbinary):
    args = ("--xen", "4.19", "--iommu", "--format", "json")
    reference = run("host-regions", "--host-dtb", str(qemu["gicv3-2g"]), *args,
                    capsysbinary=capsysbinary)
    path = tmp_path / f"v{version}.dtb"
    path.write_bytes(as_version(qemu["gicv3-2g"].read_bytes(), version))
    code, out, err = run("host-regions", "--host-dtb", str(path), *args, capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert out.replace(str(path).encode(), b"F") == reference[1].replace(
        str(qemu["gicv3-2g"]).encode(), b"F")


@pytest.mark.parametrize("version", READABLE)
def test_build_copies_a_partial_dt_of_every_version(tmp_path, version, capsysbinary):
    """Versions 2 and 3 hold a "name" property in every node, which libxl
    copies like any other (copy_properties); dtc drops a "name" that repeats
    the node's, so the guest's DTS is the same for every version."""
    partial = GOLDEN / "partial-passthrough.dtb"
    args = ("build", "--gic-version", "v3", "--rng-seed", "none", "-o", "-")
    reference = run(*args, "--device-tree", str(partial), capsysbinary=capsysbinary)
    path = tmp_path / f"v{version}.dtb"
    path.write_bytes(as_version(partial.read_bytes(), version))
    code, out, err = run(*args, "--device-tree", str(path), capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert dtb_to_dts(out) == dtb_to_dts(reference[1])
    assert (out == reference[1]) == (version in ("16", "17"))


@pytest.mark.parametrize("command", ["show", "host-regions", "build"])
def test_version_1_is_refused_in_one_line(qemu, tmp_path, command, capsysbinary):
    path = tmp_path / "v1.dtb"
    path.write_bytes(as_version(qemu["gicv3-2g"].read_bytes(), "1"))
    args = {"show": ("show", str(path)),
            "host-regions": ("host-regions", "--host-dtb", str(path), "--iommu"),
            "build": ("build", "--device-tree", str(path), "-o", "-")}[command]
    code, out, err = run(*args, capsysbinary=capsysbinary)
    prefix = "device_tree " if command == "build" else ""
    assert (code, out) == (2, b"")
    assert err == (f"xendt: {prefix}{path}: unsupported version 1 (last compatible version 1);"
                   f" libfdt reads versions 2 to 17\n")
