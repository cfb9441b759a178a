"""Layout data files: every version loads, and a broken file is refused
with an error that names the file and what is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xendt.errors import ConfigError, LayoutError
from xendt.xen import layouts

VERSIONS = ("4.14", "4.15", "4.16", "4.17", "4.18", "4.19", "4.20", "4.21", "4.22")


def test_there_is_a_layout_for_every_release_from_4_14_to_4_22():
    assert layouts.versions() == VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_every_layout_loads(version):
    assert layouts.load(version).version == version


def test_an_unknown_version_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown Xen version '4.13': xendt knows 4.14, 4.15, .*4.22"):
        layouts.load("4.13")


def test_vpci_prefetch_becomes_64_bit_in_4_19():
    assert layouts.load("4.18").vpci_prefetch_type == 0x4200_0000
    assert layouts.load("4.19").vpci_prefetch_type == 0x4300_0000


def test_hypervisor_placeholder_grows_to_257_pairs_in_4_21():
    assert [layouts.load(v).hypervisor_reg_pairs for v in VERSIONS] == [1, 1, 3, 3, 3, 3, 3, 257, 257]


def broken(tmp_path, version, old, new):
    """A copy of a real layout file with one textual change, named like it."""
    text = (Path(layouts.layout_dir()) / f"{version}.toml").read_text()
    assert re.search(old, text, flags=re.M), old
    path = tmp_path / f"{version}.toml"
    path.write_text(re.sub(old, new, text, count=1, flags=re.M))
    return path


def test_overlapping_regions_are_named(tmp_path):
    path = broken(tmp_path, "4.21", r"^(vpl011 .*base = )0x2200_0000", r"\g<1>0x2100_0000")
    with pytest.raises(LayoutError, match=r"4.21.toml: regions 'acpi' .* and 'vpl011' .* overlap"):
        layouts.load_file(path)


def test_gicv2_and_gicv3_regions_may_overlap_each_other():
    v2 = layouts.load("4.21").region("gicv2-distributor")
    v3 = layouts.load("4.21").region("gicv3-distributor")
    assert v2.overlaps(v3)


def test_a_region_off_page_alignment_is_refused(tmp_path):
    path = broken(tmp_path, "4.16", r"^(magic .*size = )0x0100_0000", r"\g<1>0x0100_0800")
    with pytest.raises(LayoutError, match=r"region 'magic' .* is not aligned to 0x1000-byte pages"):
        layouts.load_file(path)


def test_an_unknown_key_is_refused(tmp_path):
    path = broken(tmp_path, "4.17", r"^rng-seed = true", "rng-seed = true\nrng-seeds = true")
    with pytest.raises(LayoutError, match=r"4.17.toml: unknown key 'rng-seeds' in \[dt\]"):
        layouts.load_file(path)


def test_a_wrongly_typed_value_is_refused(tmp_path):
    path = broken(tmp_path, "4.18", r"^max = 2\b", 'max = "2"')
    with pytest.raises(LayoutError, match=r"\[extended-regions\]\.max should be an integer, got '2'"):
        layouts.load_file(path)


def test_a_placeholder_that_does_not_fit_the_region_count_is_refused(tmp_path):
    path = broken(tmp_path, "4.21", r"^hypervisor-reg-placeholder = 257", "hypervisor-reg-placeholder = 3")
    with pytest.raises(LayoutError, match="hypervisor-reg-placeholder 3 should be extended-regions max 256 \\+ 1"):
        layouts.load_file(path)


def test_a_file_whose_version_does_not_match_its_name_is_refused(tmp_path):
    path = tmp_path / "4.99.toml"
    path.write_text((Path(layouts.layout_dir()) / "4.21.toml").read_text())
    with pytest.raises(LayoutError, match=r"version '4.21' does not match the file name"):
        layouts.load_file(path)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "4.21.toml"
    path.write_text("version = \n")
    with pytest.raises(LayoutError, match=r"4.21.toml: not valid TOML"):
        layouts.load_file(path)


def test_a_cached_layout_is_the_one_the_file_gives(tmp_path, monkeypatch):
    """The start-up cache (xendt.xen.cache) hands back what parsing gives,
    and a changed file is parsed again, not served stale."""
    from xendt.xen import cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "4.21.toml"
    path.write_text((Path(layouts.layout_dir()) / "4.21.toml").read_text())
    parsed = layouts.load_file(path)
    first = cache.cached(str(path), "4.21.0", lambda: layouts.load_file(path))
    again = cache.cached(str(path), "4.21.0", lambda: pytest.fail("parsed again"))
    assert first == parsed and again == parsed
    path.write_text(path.read_text().replace('tag = "RELEASE-4.21.0"', 'tag = "RELEASE-4.21.0-x"'))
    changed = cache.cached(str(path), "4.21.0", lambda: layouts.load_file(path))
    assert changed.tag == "RELEASE-4.21.0-x"


def test_an_unknown_dom0_memory_skip_kind_is_refused(tmp_path):
    path = broken(tmp_path, "4.19", r'^memory-skip = \["static-domain", "fdt-resvmem"\]',
                  'memory-skip = ["static-heap"]')
    with pytest.raises(LayoutError, match=r"4.19.toml: \[dom0\]\.memory-skip should list"
                                          r" static-domain or fdt-resvmem, got \['static-heap'\]"):
        layouts.load_file(path)


def test_the_dom0_gic_node_takes_the_host_name_from_4_21():
    # 0c4b0e6236 "xen/arm: Create GIC node using the node name from host dt"
    assert [layouts.load(v).dom0.gic_name for v in VERSIONS] == ["interrupt-controller"] * 7 + [
        "host", "host"]
# --- layout files from XENDT_LAYOUT_PATH: bounds ------------------------------------

def test_a_layout_nested_deeper_than_16_is_refused_before_parsing(tmp_path):
    path = tmp_path / "4.99.toml"
    path.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(LayoutError) as e:
        layouts.load_file(path)
    assert str(e.value) == (f"{path}: arrays and tables nested 100000 deep; a layout nests at"
                            " most 16 deep")


def test_brackets_in_toml_strings_and_comments_do_not_count(tmp_path):
    path = tmp_path / "4.99.toml"
    path.write_text('x = "' + "[" * 50 + '" # ' + "{" * 50 + "\ny = '''" + "[" * 50 + "'''\n")
    with pytest.raises(LayoutError, match=r"4\.99\.toml: unknown key 'x' in the file$"):
        layouts.load_file(path)


def test_a_layout_linked_to_dev_zero_is_refused_unread(tmp_path):
    path = tmp_path / "4.99.toml"
    path.symlink_to("/dev/zero")
    with pytest.raises(LayoutError) as e:
        layouts.load_file(path)
    assert str(e.value) == f"{path}: is a character device, not a layout file (a regular file)"


def test_a_layout_over_1_mib_is_refused(tmp_path):
    path = tmp_path / "4.99.toml"
    path.write_text("#" * (1 << 20) + "\n")
    with pytest.raises(LayoutError) as e:
        layouts.load_file(path)
    assert str(e.value) == f"{path}: more than the 1048576 bytes xendt reads for a layout file"


def test_a_layout_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "4.99.toml"
    path.write_bytes(b'version = "\xff"\n')
    with pytest.raises(LayoutError) as e:
        layouts.load_file(path)
    assert str(e.value) == f"{path}: not UTF-8 text (byte 11), so not TOML"


def test_a_fifo_in_the_layout_path_is_refused_without_hanging(tmp_path):
    import os
    import subprocess
    import sys

    os.mkfifo(tmp_path / "4.99.toml")  # no writer: a blocking open would wait for ever
    env = {**os.environ, "XENDT_LAYOUT_PATH": str(tmp_path), "XENDT_NO_CACHE": "1"}
    run = subprocess.run([sys.executable, "-m", "xendt.cli", "build", "-o", os.devnull],
                         capture_output=True, env=env, timeout=60)
    assert (run.returncode, run.stderr.decode()) == (
        2, f"xendt: {tmp_path / '4.99.toml'}: is a FIFO, not a layout file (a regular file)\n")


# --- layout values a device tree must hold --------------------------------------------

@pytest.mark.parametrize("old, new, message", [
    (r"^(gic = )65000", r"\g<1>0x1_0000_0000", "[phandles].gic should fit a 32-bit cell, got 0x100000000"),
    (r"^(timer-virt = )27", r"\g<1>0", "[irqs]: each of (0, 29, 30, 31) should be a PPI (16 to 31)"),
    (r"^(vpl011 = )32", r"\g<1>1", "[irqs]: each of (1,) should be an SPI (32 to 1019)"),
    (r"^(virtio-mmio-first = )33", r"\g<1>44",
     "[irqs].virtio-mmio-first and -last (44, 43) should be SPIs (32 to 1019), first to last, or"
     " both 0 (no virtio-mmio)"),
    (r"^(start-bits = )48", r"\g<1>33",
     "[ipa].start-bits should be an IPA size Xen's p2m has (32, 36, 40, 42, 44, 48) or 64 (no"
     " cap), got 33"),
    (r"^(pa-bits = )\[32,", r"\g<1>[33,",
     "[ipa].pa-bits should list Arm PARange sizes (32, 36, 40, 42, 44, 48, 52), got [33, 36, 40,"
     " 42, 44, 48, 52]"),
    (r"^(max = )256( +# MAX_NR)", r"\g<1>100000\g<2>",
     "[extended-regions].max should be at most 4096 (Xen's is 256) and"
     " [limits].virtio-mmio-device-size fit 32 bits"),
    (r"^(fdt-max-size = )0x100000", r"\g<1>0x1_0000_0000",
     "[limits].fdt-max-size should be 4 KiB to 64 MiB (libxl's FDT_MAX_SIZE is 1 MiB)"),
    (r"^(page-size = )0x1000", r"\g<1>-1", "[placement].page-size should be 0 to"
                                             " 0xffffffffffffffff, got -0x1"),
])
def test_a_layout_value_no_device_tree_can_hold_is_refused(tmp_path, old, new, message):
    path = broken(tmp_path, "4.21", old, new)
    with pytest.raises(LayoutError) as e:
        layouts.load_file(path)
    assert str(e.value) == f"{path}: {message}"


def test_a_layout_number_past_pythons_digit_limit_is_one_line(tmp_path):
    path = broken(tmp_path, "4.21", r"^(gic = )65000", r"\g<1>" + "9" * 5000)
    with pytest.raises(LayoutError) as e:
        layouts.load_file(path)
    assert str(e.value) == f"{path}: a number of more than 4300 digits; layout values fit in 64 bits"
