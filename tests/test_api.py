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
