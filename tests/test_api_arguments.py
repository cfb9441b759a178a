"""Every public function of xendt (xendt.__all__), driven with None, values
of the wrong Python type and values out of range: a wrong type raises
TypeError (the model's FieldTypeError is one, and an XendtError too), a
value out of range an XendtError, never AttributeError, struct.error,
RecursionError or OverflowError, and never a result."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import xendt
from conftest import DATA, GOLDEN, dts_to_dtb
from conftest_host import BOARD_DTS
from xendt.errors import XendtError

GUEST_DTB = (GOLDEN / "4.21" / "mem1024-v2-vcpu4-pa36-vuart.dtb").read_bytes()
TREE = xendt.read_dtb(GUEST_DTB)
BOARD = dts_to_dtb(BOARD_DTS)
DOM0_HOST = (DATA / "reference-dom0" / "V2-4190" / "host.dtb").read_bytes()
GUEST = xendt.GuestConfig()
HOST = xendt.Host(xen="4.21", rng_seed=b"")
WRONG = object()  # no parameter takes this


def _shown(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 128:
        return f"int of {value.bit_length()} bits"
    return repr(value)


class Type:
    """A value of the wrong Python type for the parameter: TypeError."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Type({_shown(self.value)})"


class Range:
    """A value of the right type but out of range: an XendtError that is not
    a TypeError."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Range({_shown(self.value)})"


#: For each public callable: good keyword arguments, then bad values by parameter.
CASES: dict[str, tuple[dict[str, Any], dict[str, list[Type | Range]]]] = {
    "versions": ({}, {}),
    "read_dtb": ({"source": GUEST_DTB}, {
        "source": [Type(None), Type(WRONG), Type(5), Range(b""), Range(b"\xd0\x0d\xfe\xed" * 3),
                   Range("/nonexistent.dtb"), Range("a\0b"), Range("/dev/zero")],
        "name": [Type(5), Type(WRONG)]}),
    "address_map": ({"tree": TREE}, {
        "tree": [Type(None), Type(WRONG), Type(5), Range(b"junk"), Range("/nonexistent.dtb")],
        "xen": [Type(4.21), Type(WRONG), Range("9.9"), Range(""), Range("4.21.x"),
                Range("4." + "9" * 5000)]}),
    "show": ({"tree": TREE}, {
        "tree": [Type(None), Type(WRONG), Range(b"junk")],
        "xen": [Type(4.21), Range("9.9")]}),
    "check": ({"tree": TREE}, {
        "tree": [Type(None), Type(WRONG), Range(b"")],
        "xen": [Type(4.21), Range("9.9")],
        "pa_bits": [Type("40"), Type(40.0), Type(True), Range(39), Range(1 << 70)],
        "ipa_bits": [Type("40"), Range(39), Range(10 ** 5000)],
        "page_size": [Type(None), Type("4096"), Type(4096.0), Type(True), Range(3),
                      Range(2 ** 80), Range(-4096), Range(10 ** 5000)]}),
    "diff": ({"a": TREE, "b": TREE}, {
        "a": [Type(None), Type(WRONG), Range(b"junk")],
        "b": [Type(None), Type(WRONG)],
        "include_rng_seed": [Type(None), Type("yes"), Type(1)]}),
    "build": ({"guest": GUEST, "host": HOST}, {
        "guest": [Type(None), Type(WRONG), Type({"memory_mib": 64}), Type(HOST)],
        "host": [Type(WRONG), Type("4.21"), Type(GUEST),
                 Range(xendt.Host(xen="9.9")), Range(xendt.Host(xen="4.21.99"))],
        "explain": [Type(None), Type(1)]}),
    "build_xl": ({"text": "memory = 64\n"}, {
        "source": [Type(WRONG), Type(5), Range("/nonexistent.cfg"), Range("a\0b"),
                   Range("/dev/zero"), Range(b"memory = \n")],
        "text": [Type(5), Type(b"memory = 64\n"), Range("memory = \n"), Range("a\0b")],
        "name": [Type(5)],
        "host": [Type(WRONG), Type("4.21")],
        "kernel_size": [Type("1M"), Type(1.0), Range(0), Range(-1), Range(1 << 40)],
        "ramdisk_size": [Type("1M"), Range(0), Range(1 << 40)],
        "text_offset": [Type("0"), Range(-1)],
        "guest_arch": [Type(64), Range("x86")],
        "explain": [Type(None)]}),
    "load_xl_config": ({"source": b"memory = 64\n"}, {
        "source": [Type(None), Type(WRONG), Type(5), Range(b"memory = \n"), Range(b"x" * (2 << 20))],
        "text": [Type(5), Range("memory = \n")],
        "kernel_size": [Type(1.0), Range(0)],
        "ramdisk_size": [Type(True), Range(-1)],
        "text_offset": [Type(0.5)],
        "guest_arch": [Type(32), Range("arm16")]}),
    "build_json": ({"text": '{"guest": {}}'}, {
        "source": [Type(WRONG), Range("/nonexistent.json"), Range(b"\xff")],
        "text": [Type(5), Range(""), Range('{"guest": {"memory_mib": "1"}}')],
        "name": [Type(5)],
        "host": [Type(WRONG)],
        "explain": [Type("yes")]}),
    "host_regions": ({"host_dtb": BOARD, "iommu": True}, {
        "host_dtb": [Type(None), Type(WRONG), Type(5), Range(b""), Range("/nonexistent.dtb"),
                     Range("a\0b")],
        "xen": [Type(4.21), Type(WRONG), Range("9.9"), Range("4.21.x")],
        "pa_bits": [Type("40"), Type(WRONG), Range(39), Range(1 << 70)],
        "ipa_bits": [Type(40.0), Type((40, "x")), Range(0)],
        "domain": [Type(5), Type(WRONG), Range("nope"), Range("a\0b")],
        "iommu": [Type("yes"), Type(1)],
        "dom0_ram": [Type(None), Type([(0x40000000, 0x1000)]), Type(((0x40000000, 0x1000),)),
                     Range("0x40000000"), Type((xendt.Range(1.5, 0x1000),)),
                     Range((xendt.Range(1 << 64, 0x1000),))],
        "dom0_dtb": [Type(5), Range(b"junk"), Range("/nonexistent.dtb")],
        "grant_table": [Type((0, 0x1000)), Range("0:0"), Type(xendt.Range(0x80000000, 2.5)),
                        Type(xendt.Range("x", 1)), Range(xendt.Range(-1, 0x1000)),
                        Range(xendt.Range(0, 1 << 65)), Range("0:4K,4K:4K")],
        "guest_arch": [Type(None), Type(64), Range("x86")],
        "partial_dtb": [Type(5), Type(WRONG), Range(b"junk"), Range("/nonexistent.dtb")],
        "xen_cmdline": [Type(5), Type(WRONG), Range("a\0b")],
        "host_ram": [Type([(0x40000000, 0x1000)]), Type(5), Range("junk"), Range("1:" + "9" * 5000),
                     Type((5,))],
        "uefi": [Type(None), Type("yes"), Type(1)]}),
    "host_fleet": ({"host_dtbs": [BOARD, BOARD], "pa_bits": [40, 36], "iommu": True}, {
        "host_dtbs": [Type(None), Type(BOARD), Type([]), Type([5]), Range([b"junk"])],
        "pa_bits": [Type("40"), Type([]), Range([40, 40, 40]), Range([40, 39])],
        "xen": [Type(4.21), Range("9.9")]}),
    "build_dom0less": ({"host_dtb": BOARD, "domain": "domU1", "host": HOST}, {
        "host_dtb": [Type(None), Type(WRONG), Range("/nonexistent.dtb"), Range(b""), Range(b"junk")],
        "domain": [Type(None), Type(5), Range("nope"), Range("a\0b")],
        "host": [Type(WRONG), Type("4.21"), Range(xendt.Host(xen="9.9"))],
        "partial_dtb": [Type(5), Range("/nonexistent.dtb"), Range(b"junk")],
        "kernel": [Type(5), Type(WRONG), Range("/nonexistent")],
        "iommu": [Type("yes"), Type(1)],
        "host_name": [Type(5)]}),
    # tests/data/reference-dom0/V2-4190: its console's BANK[0] and grant table.
    "build_dom0": ({"host_dtb": DOM0_HOST, "dom0_ram": (xendt.Range(0xE000_0000, 512 << 20),),
                    "grant_table": xendt.Range(0x4020_0000, 0x4_0000),
                    "host": xendt.Host(xen="4.19")}, {
        "host_dtb": [Type(None), Type(WRONG), Range("/nonexistent.dtb"), Range(b""), Range(b"junk")],
        "dom0_ram": [Type(None), Type([xendt.Range(0xE000_0000, 512 << 20)]), Type(("0xe0000000:512M",)),
                     Range((xendt.Range(1 << 64, 4096),)), Range((xendt.Range(-4096, 4096),)),
                     Range("0xe0000000")],
        "grant_table": [Type(None), Range("0x40200000"), Range(xendt.Range(0, 1 << 65))],
        "host": [Type(WRONG), Type("4.19"), Range(xendt.Host(xen="9.9"))],
        "xen_cmdline": [Type(5), Range("a\0b")],
        "kernel": [Type(5), Type(WRONG)],
        "v2m_spis": [Type(None), Type([(80, 64)]), Type(("80:64",)), Type(((80.0, 64),))],
        "host_name": [Type(5)]}),
    "dom0less_domains": ({"host_dtb": BOARD}, {
        "host_dtb": [Type(None), Type(WRONG), Range("/nonexistent.dtb"), Range(b""), Range(b"junk")],
        "host_name": [Type(5)]}),
    "host_dt": ({"host_dtb": BOARD}, {
        "host_dtb": [Type(None), Type(WRONG), Range(b"junk" * 10), Range("/nonexistent.dtb")],
        "uboot_script": [Type(5), Range("/nonexistent.scr"), Range(b"fdt frobnicate\n")],
        "uboot_files": [Type([("Image", 1)]), Range({"Image": 1})],  # files without a script
        "uboot_version": [Type(2023), Range("2023.01")],  # a version without a script
        "host_name": [Type(5)]}),
    "host_facts": ({"host_dtb": BOARD}, {
        "host_dtb": [Type(None), Type(WRONG), Range(b"junk"), Range("/nonexistent.dtb")],
        "host": [Type(WRONG), Type("4.21")]}),
    "schema": ({"kind": "build"}, {
        "kind": [Range("nope")]}),
    "guest_from_json": ({"text": '{"guest": {}}'}, {
        "text": [Type(None), Type(b'{"guest": {}}'), Type({"guest": {}}), Range(""),
                 Range("[" * 100000), Range('{"guest": {"memory_mib": ' + "9" * 5000 + "}}")],
        "name": [Type(None), Type(5)]}),
    "guest_to_json": ({"guest": GUEST}, {
        "guest": [Type(None), Type(WRONG), Type({"memory_mib": 64})],
        "host": [Type(WRONG), Type("4.21")]}),
    # The model's inputs: each field's wrong types and out-of-range values.
    "Kernel": ({}, {
        "arch": [Type(None), Type(64), Range("x86"), Range("ARM64")],
        "size": [Type(None), Type("1"), Type(1.0), Type(True), Range(-1), Range(1 << 31),
                 Range(10 ** 5000)],
        "text_offset": [Type(None), Type("0"), Range(-1), Range(1 << 64)]}),
    "VirtioDisk": ({}, {
        "vdev": [Type(None), Type(1), Range("x\0")],
        "backend_domid": [Type(None), Type("1"), Type(True), Range(-1), Range(0x7FF0)],
        "grant_usage": [Type(1), Type("yes")]}),
    "VirtioDevice": ({}, {
        "type": [Type(None), Type(22), Range("virtio,\0device22")],
        "transport": [Type(None), Range("pci")],
        "backend_domid": [Type(None), Range(-1), Range(1 << 16)],
        "grant_usage": [Type(0)]}),
    "Iomem": ({"start": 0x1c090, "pages": 1}, {
        "start": [Type(None), Type("0x1c090"), Range(-1), Range(1 << 64)],
        "pages": [Type(None), Type(1.0), Range(0), Range(-1), Range(1 << 64)],
        "gfn": [Type("0"), Range(-1), Range((1 << 64) - 1)]}),
    "GuestConfig": ({}, {
        "memory_mib": [Type(None), Type("64"), Type(64.0), Type(True), Range(-1), Range(1 << 60),
                       Range(10 ** 5000), Range(-(10 ** 5000))],
        "max_vcpus": [Type(None), Type(True), Type("2"), Range(1 << 31), Range(-(1 << 31) - 1)],
        "gic_version": [Type(None), Type(3), Range("v4"), Range("V3")],
        "vuart": [Type(None), Type(1), Type("sbsa_uart")],
        "cmdline": [Type(5), Type(10 ** 5000), Type(b"console=hvc0"), Range("a\0b"),
                    Range("a\ud800b")],
        "kernel": [Type(None), Type("Image"), Type({"size": 1})],
        "ramdisk_size": [Type("1"), Type(1.5), Range(0), Range(-1), Range((1 << 30) + 1)],
        "partial_dtb": [Type("p.dtb"), Type(bytearray(b"x"))],
        "partial_dtb_name": [Type(None), Type(5), Range("p\0.dtb")],
        "disks": [Type(None), Type([xendt.VirtioDisk()]), Type((None,)), Type(("xvda",))],
        "virtio": [Type(None), Type([xendt.VirtioDevice("virtio,device22")])],
        "pci_devices": [Type(None), Type(True), Range(-1), Range(1 << 31)],
        "iomem": [Type(None), Type([xendt.Iomem(1, 1)]), Type(((1, 1),))],
        "tee": [Type(None), Type(0), Range("OPTEE"), Range("tpm")],
        "acpi": [Type(None), Type(1)],
        "nr_spis": [Type("64"), Type(True), Range(-1), Range(1 << 32)],
        "vpmu": [Type(None), Type(0)]}),
    "Host": ({}, {
        "xen": [Type(4.21), Type(WRONG), Range("4.21\0")],
        "pa_bits": [Type("40"), Type(40.0), Type(True), Range(39), Range(-1), Range(1 << 70)],
        "ipa_bits": [Type("40"), Range(39), Range(2 ** 80)],
        "gic": [Type(None), Type(3), Range("default"), Range("v4")],
        "clock_frequency": [Type(None), Type("0"), Type(1.0), Range(-1), Range(2 ** 40)],
        "rng_seed": [Type("00" * 128), Type(bytearray(128)), Range(b"\0"), Range(bytes(129))],
        "acpi_size": [Type("1"), Type(1.0), Range(-1), Range(1 << 40)]}),
    "AddressSize": ({"kind": "pa", "bits": 40}, {
        "kind": [Type(None), Type(1), Range("PA"), Range("ipa\0")],
        "bits": [Type(None), Type("40"), Type(40.0), Type(True), Range(39), Range(1 << 70),
                 Range(10 ** 5000)]}),
}

#: Public names that are not called with user input: results and errors.
NOT_INPUTS = {"AddressMap", "Change", "Diff", "Finding", "GuestDT", "HostRegions", "MapEntry",
              "HostFleet", "Notice", "Shown",
              "MemoryMap", "Node", "Property", "Range", "Region", "Report", "Segment", "Tree",
              "VirtioSlot", "XendtError", "ConfigError", "DtbError", "ImageError",
              "BuildError", "LayoutError", "XenFailure"}


def test_every_public_name_is_driven_or_is_a_result():
    assert sorted(set(xendt.__all__) - NOT_INPUTS) == sorted(CASES)


def _cases() -> list[Any]:
    out = []
    for name, (good, bad) in CASES.items():
        for param, values in bad.items():
            for value in values:
                out.append(pytest.param(name, good, param, value, id=f"{name}-{param}-{value!r}"[:90]))
    return out


def _call(name: str, kwargs: dict[str, Any]) -> Any:
    function: Callable[..., Any] = getattr(xendt, name)
    return function(**kwargs)


@pytest.mark.parametrize("name, good, param, value", _cases())
def test_a_bad_argument_raises_xendts_error_or_type_error(name, good, param, value):
    function = getattr(xendt, name)
    assert param in inspect.signature(function).parameters
    others = {"source": "text", "text": "source"}  # a text input is one or the other
    kwargs = {k: v for k, v in good.items() if k != others.get(param)} | {param: value.value}
    with pytest.raises(Exception) as raised:
        _call(name, kwargs)
    error = raised.value
    if isinstance(value, Type):
        assert isinstance(error, TypeError), repr(error)
    else:
        assert isinstance(error, XendtError) and not isinstance(error, TypeError), repr(error)
    assert str(error) and "\n" not in str(error), repr(error)
