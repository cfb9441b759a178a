"""Warnings are objects: each line xl, libxl or Xen would warn with is a
xendt.Notice, a str (the line) with a stable code and, where it is about
one, the domain; the same objects are a JSON document's "warnings"."""

from __future__ import annotations

import pickle

import pytest

import xendt
from conftest_host import BOARD_DTS
from xendt.notices import CODES, Notice, notice

XL = {  # xl.cfg text -> (code, the warning line)
    "memory = 64\nmaxmem = 32\n": (
        "xl-maxmem-differs", "g.cfg:2: maxmem = 32 differs from memory = 64: libxl gives an Arm"
        " guest maxmem MiB of RAM, while Xen limits it to memory + 1 MiB"),
    "memory = 64\nvideoram = 8\n": (
        "xl-videoram", "g.cfg:2: videoram = 8: libxl takes it off the Arm guest's RAM (64 - 8 MiB)"),
    'cmdline = "a"\nroot = "b"\n': (
        "xl-root-extra-ignored", "g.cfg:2: ignoring root= and extra= in favour of cmdline="),
    'type = "pv"\n': ("xl-pv-to-pvh", "g.cfg:1: type = 'pv': libxl converts a PV guest to PVH on Arm"),
    'virtio = ["type=virtio,device22"]\n': (
        "xl-virtio-no-mmio", "g.cfg:1: virtio entry 1 has no transport=mmio: libxl gives it no"
        " virtio-mmio node"),
}


@pytest.mark.parametrize("cfg", XL)
def test_xls_warnings_have_their_codes(cfg):
    _, warnings = xendt.load_xl_config(text=cfg, name="g.cfg", kernel_size=1 << 20)
    assert [(w.code, w.message) for w in warnings] == [XL[cfg]]


def test_libxls_warnings_have_their_codes():
    result = xendt.build(xendt.GuestConfig(memory_mib=8192), xendt.Host(xen="4.19", pa_bits=32))
    assert [w.code for w in result.warnings] == ["ram-above-ipa", "extended-regions-none"]
    assert result.warnings[1] == ("the extended regions cannot be allocated, not enough space"
                                  " (libxl warns the same; /hypervisor reg holds the grant table"
                                  " only)")


def test_a_dom0less_domains_warning_names_it():
    from conftest import dts_to_dtb

    result = xendt.host_regions(dts_to_dtb(BOARD_DTS), domain="domU2")
    assert [(w.code, w.domain) for w in result.warnings] == [("no-hypervisor-node", "domU2")]
    assert result.to_dict()["warnings"] == [{
        "code": "no-hypervisor-node", "message": result.warnings[0], "node": None,
        "domain": "domU2"}]


def test_a_notice_is_its_line():
    n = Notice("it warns", "xl-videoram", domain="domU1")
    assert (n == "it warns", f"{n}", n.message, n.code, n.domain) == (
        True, "it warns", "it warns", "xl-videoram", "domU1")
    copy = pickle.loads(pickle.dumps(n))
    assert (copy, copy.code, copy.domain) == ("it warns", "xl-videoram", "domU1")


def test_a_line_no_pattern_knows_gets_the_code_of_its_source():
    assert notice("something new", "libxl").code == "libxl"


def test_codes_are_unique_and_kebab_case():
    codes = [code for code, _ in CODES]
    assert len(codes) == len(set(codes))
    assert all(code == code.lower() and " " not in code for code in codes)
