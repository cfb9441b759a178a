"""The public API (xendt/__init__.py, xendt/api.py): every name it
documents is there, and each function answers as its command does."""

from __future__ import annotations

import struct

import pytest

import xendt
from conftest import GOLDEN
from conftest_host import qemu  # noqa: F401  (fixture)
from xendt.xen import layouts


@pytest.mark.parametrize("name", xendt.__all__)
def test_every_exported_name_is_xendts_own_class_or_function_of_that_name(name):
    obj = getattr(xendt, name)
    assert isinstance(obj, type) or callable(obj)
    assert obj.__name__ == name and obj.__module__.startswith("xendt.")


def test_every_error_class_is_a_xendt_error():
    errors = [getattr(xendt, n) for n in xendt.__all__ if getattr(xendt, n).__module__ == "xendt.errors"]
    assert sorted(e.__name__ for e in errors) == ["BuildError", "ConfigError", "DtbError", "ImageError",
                                                  "LayoutError", "XenFailure", "XendtError"]
    assert all(issubclass(e, xendt.XendtError) for e in errors)


def test_a_guest_dt_records_the_host_with_its_version_resolved():
    result = xendt.build(xendt.GuestConfig(), xendt.Host(pa_bits=44, rng_seed=b""))
    assert result.host == xendt.Host(xen=layouts.newest(), pa_bits=44, rng_seed=b"")


def test_build_xl_puts_xls_warnings_first(tmp_path):
    kernel = tmp_path / "Image"
    kernel.write_bytes(struct.pack("<IIQQQQQQ4sI", 0, 0, 0, 4096, 0, 0, 0, 0, b"ARM\x64", 0)
                       + bytes(4032))
    cfg = tmp_path / "g.cfg"
    cfg.write_text(f'kernel = "{kernel}"\nmemory = 64\nmaxmem = 32\n')
    guest, warnings = xendt.load_xl_config(cfg)
    result = xendt.build_xl(cfg, xendt.Host(xen="4.21", rng_seed=b""))
    assert warnings and result.warnings[:len(warnings)] == tuple(warnings)
    assert result.dtb == xendt.build(guest, xendt.Host(xen="4.21", rng_seed=b"")).dtb


def test_read_dtb_takes_a_path_or_bytes():
    path = GOLDEN / "4.21" / "mem1024-v2-vcpu4-pa36-vuart.dtb"
    assert str(xendt.read_dtb(path)) == str(xendt.read_dtb(path.read_bytes()))


def test_host_regions_takes_a_path_or_bytes(qemu):
    by_path = xendt.host_regions(qemu["gicv3-2g"], xen="4.19", iommu=True)
    by_bytes = xendt.host_regions(qemu["gicv3-2g"].read_bytes(), xen="4.19", iommu=True)
    assert by_path.regions == by_bytes.regions and by_path.finder == "find_memory_holes"


def test_versions_are_the_nine_releases_with_a_layout():
    assert xendt.versions() == ("4.14", "4.15", "4.16", "4.17", "4.18", "4.19", "4.20", "4.21", "4.22")


def test_host_dt_needs_only_the_sizes_of_the_files_a_script_loads():
    """tests/data/reference-uboot/c3-ramdisk-cmd: the real ImageBuilder script,
    given as bytes with files.tsv's sizes (no file at hand), gives byte for
    byte the host DT the real Xen 4.21.0 received after U-Boot 2023.01's booti."""
    import csv

    from conftest import REAL_UBOOT

    case = REAL_UBOOT / "c3-ramdisk-cmd"
    with open(case / "files.tsv", newline="") as f:
        sizes = {row["name"]: int(row["bytes"]) for row in csv.DictReader(f, delimiter="\t")
                 if row["name"] not in ("boot.scr", "virt-gicv3.dtb")}
    received = xendt.host_dt(REAL_UBOOT / "inputs" / "virt-gicv3.dtb",
                             (case / "boot.source").read_bytes(), uboot_files=sizes,
                             uboot_version="2023.01+dfsg-2+deb12u3")
    assert received == (case / "host-received.dtb").read_bytes()


def test_xl_config_text_stands_sizes_in_for_files_as_the_flags_do(tmp_path, capsysbinary):
    from conftest import run_cli

    cfg = tmp_path / "g.cfg"
    cfg.write_text('kernel = "/not/here/Image"\nramdisk = "/not/here/initrd"\nmemory = 256\n')
    code, out, err = run_cli("build", "-c", str(cfg), "--kernel-size", "12345678",
                             "--ramdisk-size", "4096", "--xen", "4.19", "--rng-seed", "none",
                             "-o", "-", capsysbinary=capsysbinary)
    api = xendt.build_xl(text=cfg.read_text(), kernel_size=12345678, ramdisk_size=4096,
                         host=xendt.Host(xen="4.19", rng_seed=b""))
    assert (code, err) == (0, "") and api.dtb == out


def test_an_xl_config_without_kernel_builds_as_the_command_does(tmp_path, capsysbinary):
    from conftest import run_cli

    cfg = tmp_path / "g.cfg"
    cfg.write_text("memory = 64\n")
    code, out, err = run_cli("build", "-c", str(cfg), "--xen", "4.22", "--rng-seed", "none",
                             "-o", "-", capsysbinary=capsysbinary)
    api = xendt.build_xl(text="memory = 64\n", host=xendt.Host(xen="4.22", rng_seed=b""))
    assert (code, err) == (0, "") and api.dtb == out


def test_api_errors_name_the_arguments_not_the_flags(qemu):
    with pytest.raises(xendt.ConfigError) as raised:
        xendt.host_regions(qemu["gicv3-2g"], iommu=False)
    assert str(raised.value) == (
        "without an IOMMU (iommu=False) Xen gives dom0 the host RAM it does not use: give dom0's"
        " banks with dom0_ram BASE:SIZE[,…] or dom0_dtb")
