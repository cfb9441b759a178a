"""A guest described as JSON (`xendt build --guest-json`, xendt.guest_from_json):
the model's typed round-trip, and one line for what does not decode."""

from __future__ import annotations

import json

import pytest

from conftest import GOLDEN, run_cli
from xendt.errors import ConfigError
from xendt.guest.jsonio import guest_from_json, guest_to_json
from xendt.guest.model import GuestConfig, Host, Iomem, Kernel, VirtioDevice, VirtioDisk

RICH = GuestConfig(memory_mib=1024, max_vcpus=4, gic_version="v3", vuart=True,
                   cmdline="console=hvc0", kernel=Kernel("arm64", 30 << 20, 0x80000),
                   ramdisk_size=8 << 20, disks=(VirtioDisk("xvda", 1, True),),
                   virtio=(VirtioDevice("virtio,device22", "mmio", 0, None),), pci_devices=1,
                   iomem=(Iomem(0x1c090, 1, 0x9c090),), tee="optee", nr_spis=64)


run = run_cli


def test_a_rich_guest_and_its_host_round_trip():
    host = Host(xen="4.21", pa_bits=44, rng_seed=bytes(range(128)))
    assert guest_from_json(guest_to_json(RICH, host)) == (RICH, host)


def test_the_json_build_is_the_flag_build(tmp_path, capsysbinary):
    doc = tmp_path / "guest.json"
    doc.write_text(json.dumps({"guest": {"memory_mib": 1024, "max_vcpus": 2, "gic_version": "v3",
                                         "vuart": True, "kernel": {"size": 31457280}},
                               "host": {"xen": "4.19", "pa_bits": 40}}))
    from_json = run("build", "--guest-json", str(doc), "--rng-seed", "none", "-o", "-",
                    capsysbinary=capsysbinary)
    from_flags = run("build", "--xen", "4.19", "--pa-bits", "40", "--memory", "1024", "--vcpus", "2",
                     "--gic-version", "v3", "--vuart", "--kernel-size", "31457280",
                     "--rng-seed", "none", "-o", "-", capsysbinary=capsysbinary)
    assert from_json == from_flags and from_json[0] == 0


def test_the_partial_device_tree_is_named_by_file(tmp_path):
    partial = tmp_path / "pt.dtb"
    partial.write_bytes((GOLDEN / "partial-passthrough.dtb").read_bytes())
    doc = tmp_path / "g.json"
    doc.write_text('{"guest": {"device_tree": "pt.dtb"}}')
    guest, host = guest_from_json(doc.read_text(), str(doc))
    assert (guest.partial_dtb, guest.partial_dtb_name, host) == (partial.read_bytes(), "pt.dtb", None)


@pytest.mark.parametrize("text, message", [
    ('{"guest": {"memory_mib": "64"}}', "g.json: guest.memory_mib: expected an integer, got '64'"),
    ('{"guest": {"vuart": 1}}', "g.json: guest.vuart: expected true or false, got 1"),
    ('{"guest": {"kernel": {"arch": 5}}}', "g.json: guest.kernel.arch: expected a string, got 5"),
    ('{"guest": {"kernel": {"arhc": "arm64"}}}',
     "g.json: guest.kernel: unknown key 'arhc'; expected one of arch, size, text_offset"),
    ('{"guest": {"disks": [{"vdev": "x", "backend_domid": "1"}]}}',
     "g.json: guest.disks[0].backend_domid: expected an integer, got '1'"),
    ('{"guest": {}, "host": {"pa_bits": 39}}',
     "g.json: host: PA bits 39 is not an Arm PARange size; valid: 32, 36, 40, 42, 44, 48, 52"),
    ('{"guest": {}, "host": {"rng_seed": "xyz"}}', "g.json: host.rng_seed: expected hex bytes, got 'xyz'"),
    ("[1]", 'g.json: expected an object with "guest" (and optionally "host"), got list [1]'),
    ('{"guest": {', "g.json: not JSON: Expecting property name enclosed in double quotes at line 1 column 12"),
])
def test_what_does_not_decode_is_one_line(text, message):
    with pytest.raises(ConfigError) as refused:
        guest_from_json(text, "g.json")
    assert str(refused.value) == message


def test_guest_flags_conflict_with_the_json(tmp_path, capsysbinary):
    doc = tmp_path / "g.json"
    doc.write_text('{"guest": {}}')
    code, out, err = run("build", "--guest-json", str(doc), "--memory", "64", "-o", "-",
                         capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert err == ("xendt: --guest-json gives the whole guest: drop --memory"
                   " (see 'xendt build --help')\n")


# --- bounds, and the model's checks through JSON ----------------------------------

@pytest.mark.parametrize("text, message", [
    ('{"guest": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "g.json: nested 100001 deep; a guest description nests at most 8 deep"),
    ('{"guest": {"memory_mib": ' + "9" * 5000 + "}}",
     "g.json: a number of 5000 digits (999999999999...); every value fits in 64 bits, at most"
     " 20 digits"),
    ('{"guest": {"memory_mib": -Infinity}}', "g.json: -Infinity is not a JSON number"),
    ('{"guest": {"memory_mib": NaN}}', "g.json: NaN is not a JSON number"),
    ('{"guest": {"memory_mib": 1e400}}', "g.json: guest.memory_mib: expected an integer, got inf"),
    ('{"guest": {"memory_mib": 64, "memory_mib": 128}}',
     "g.json: key 'memory_mib' given twice in one object"),
])
def test_bounds_are_one_line_naming_the_bound(text, message):
    with pytest.raises(ConfigError) as refused:
        guest_from_json(text, "g.json")
    assert str(refused.value) == message


def test_brackets_inside_strings_do_not_count_as_nesting():
    guest, _ = guest_from_json('{"guest": {"cmdline": "' + "[" * 50 + '"}}')
    assert guest.cmdline == "[" * 50


@pytest.mark.parametrize("text, message", [
    ('{"guest": {"kernel": null}}', "g.json: guest.kernel: expected an object, got NoneType null"),
    ('{"guest": {"disks": null}}', "g.json: guest.disks: expected a list, got NoneType null"),
    ('{"guest": {"iomem": [{"start": 1}]}}', "g.json: guest.iomem[0]: missing key 'pages'"),
    ('{"guest": {}, "host": {"clock_frequency": -1}}',
     "g.json: host.clock_frequency: expected 0 to 4294967295 Hz (the timer's 32-bit"
     " clock-frequency), got -1"),
    ('{"guest": {"disks": [{"backend_domid": -1}]}}',
     "g.json: guest.disks[0].backend_domid: expected 0 to 32751 (a domain ID), got -1"),
    ('{"guest": {"kernel": {"size": -5}}}', "g.json: guest.kernel.size: -5 bytes: a size is not negative"),
    ('{"guest": {"iomem": [{"start": -1, "pages": 1}]}}',
     "g.json: guest.iomem[0].start: expected 0 to 18446744073709551615 (a 64-bit frame number),"
     " got -1"),
    ('{"guest": {"kernel": {"arch": "x86"}}}',
     "g.json: guest.kernel.arch: expected one of 'arm64', 'arm32', got 'x86'"),
    ('{"guest": {"max_vcpus": true}}', "g.json: guest.max_vcpus: expected an integer, got True"),
    ('{"guest": {"cmdline": "a\\u0000b"}}',
     "g.json: guest.cmdline: a NUL character at offset 1: libxl's strings end at the first NUL"),
    ('{"guest": {"cmdline": "a\\ud800b"}}',
     "g.json: guest.cmdline: '\\ud800' at offset 1 is not a character (a lone surrogate)"),
    ('{"guest": {"device_tree": "a\\u0000b"}}',
     "g.json: guest.device_tree: expected a file name, got 'a\\x00b'"),
    ('{"guest": {}, "host": {"xen": 4.21}}', "g.json: host.xen: expected a string or None, got 4.21"),
])
def test_the_models_checks_name_the_json_path(text, message):
    with pytest.raises(ConfigError) as refused:
        guest_from_json(text, "g.json")
    assert str(refused.value) == message


def test_a_negative_kernel_size_is_refused_with_the_same_words_as_the_flag(tmp_path, capsysbinary):
    doc = tmp_path / "g.json"
    doc.write_text('{"guest": {"kernel": {"size": -5}}}')
    from_json = run("build", "--guest-json", str(doc), "-o", "-", capsysbinary=capsysbinary)
    from_flag = run("build", "--kernel-size", "-5", "-o", "-", capsysbinary=capsysbinary)
    assert from_json == (2, b"", f"xendt: {doc}: guest.kernel.size: -5 bytes: a size is not negative\n")
    assert from_flag == (2, b"", "xendt: --kernel-size -5 bytes: a size is not negative\n")


def test_guest_to_json_refuses_what_is_not_a_guest():
    with pytest.raises(TypeError):
        guest_to_json(None)  # type: ignore[arg-type]
