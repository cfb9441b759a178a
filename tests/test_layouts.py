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


def setting(tmp_path, version, table, line):
    """A copy of a real layout file whose [table] sets one key itself, as
    `line` says (replacing the file's own line for it, if any; the table
    added when the file sets none of its keys)."""
    lines = (Path(layouts.layout_dir()) / f"{version}.toml").read_text().splitlines()
    key = line.split("=", 1)[0].strip()
    if f"[{table}]" not in lines:
        lines += [f"[{table}]", line]
    else:
        at = lines.index(f"[{table}]") + 1
        end = next((i for i in range(at, len(lines)) if lines[i].startswith("[")), len(lines))
        own = [i for i in range(at, end) if lines[i].split("=", 1)[0].strip() == key]
        lines[own[0] if own else at:own[0] + 1 if own else at] = [line]
    path = tmp_path / f"{version}.toml"
    path.write_text("\n".join(lines) + "\n")
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
    path = broken(tmp_path, "4.16", r"^rng-seed = true", "rng-seed = true\nrng-seeds = true")
    with pytest.raises(LayoutError, match=r"4.16.toml: unknown key 'rng-seeds' in \[dt\]"):
        layouts.load_file(path)


def test_a_wrongly_typed_value_is_refused(tmp_path):
    path = broken(tmp_path, "4.16", r"^max = 2\b", 'max = "2"')
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

@pytest.mark.parametrize("table, line, message", [
    ("phandles", "gic = 0x1_0000_0000", "[phandles].gic should fit a 32-bit cell, got 0x100000000"),
    ("irqs", "timer-virt = 0", "[irqs]: each of (0, 29, 30, 31) should be a PPI (16 to 31)"),
    ("irqs", "vpl011 = 1", "[irqs]: each of (1,) should be an SPI (32 to 1019)"),
    ("irqs", "virtio-mmio-first = 44",
     "[irqs].virtio-mmio-first and -last (44, 43) should be SPIs (32 to 1019), first to last, or"
     " both 0 (no virtio-mmio)"),
    ("ipa", "start-bits = 33",
     "[ipa].start-bits should be an IPA size Xen's p2m has (32, 36, 40, 42, 44, 48) or 64 (no"
     " cap), got 33"),
    ("ipa", "pa-bits = [33, 36, 40, 42, 44, 48, 52]",
     "[ipa].pa-bits should list Arm PARange sizes (32, 36, 40, 42, 44, 48, 52), got [33, 36, 40,"
     " 42, 44, 48, 52]"),
    ("extended-regions", "max = 100000",
     "[extended-regions].max should be at most 4096 (Xen's is 256) and"
     " [limits].virtio-mmio-device-size fit 32 bits"),
    ("limits", "fdt-max-size = 0x1_0000_0000",
     "[limits].fdt-max-size should be 4 KiB to 64 MiB (libxl's FDT_MAX_SIZE is 1 MiB)"),
    ("placement", "page-size = -1", "[placement].page-size should be 0 to"
                                    " 0xffffffffffffffff, got -0x1"),
])
def test_a_layout_value_no_device_tree_can_hold_is_refused(tmp_path, table, line, message):
    path = setting(tmp_path, "4.21", table, line)
    with pytest.raises(LayoutError) as e:
        layouts.load_file(path)
    assert str(e.value) == f"{path}: {message}"


def test_a_layout_number_past_pythons_digit_limit_is_one_line(tmp_path):
    path = setting(tmp_path, "4.21", "phandles", "gic = " + "9" * 5000)
    with pytest.raises(LayoutError) as e:
        layouts.load_file(path)
    assert str(e.value) == f"{path}: a number of more than 4300 digits; layout values fit in 64 bits"


# --- one declaration per key; a version states what changes ---------------------------

@pytest.fixture()
def layout_folder(tmp_path, monkeypatch):
    """A folder named by XENDT_LAYOUT_PATH, read afresh (no start-up cache,
    no remembered versions) while the test runs and after."""
    monkeypatch.setenv("XENDT_LAYOUT_PATH", str(tmp_path))
    monkeypatch.setenv("XENDT_NO_CACHE", "1")
    forget = (layouts.versions, layouts.load, layouts._chain)
    for cached in forget:
        cached.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    for cached in forget:
        cached.cache_clear()


def synthetic(folder, extra: str = "") -> None:
    """4.99: 4.22's file renamed, plus `extra` lines."""
    text = (Path(layouts.layout_dir()) / "4.22.toml").read_text()
    text = text.replace('version = "4.22"', 'version = "4.99"').replace(
        'tag = "RELEASE-4.22.0"', 'tag = "RELEASE-4.99.0"')
    (folder / "4.99.toml").write_text(text + extra)


def test_a_new_key_is_one_schema_line_and_the_file_where_it_starts(layout_folder, monkeypatch):
    from xendt.xen import schema

    monkeypatch.setattr(schema, "KEYS", (*schema.KEYS,
                                         schema.Key("limits", "new-switch", "bool", field=None,
                                                    default=False)))
    synthetic(layout_folder, "[limits]\nnew-switch = true\n")
    assert layouts.load("4.99").setting("limits", "new-switch") is True
    assert layouts.load("4.22").setting("limits", "new-switch") is False
    assert layouts.load("4.14").setting("limits", "new-switch") is False


def test_a_key_a_version_does_not_set_is_the_previous_versions(layout_folder):
    # 4.22's file sets only what changed: [dt]'s tee and nr-spis-strict and [limits] not at all.
    synthetic(layout_folder)
    newest, previous = layouts.load("4.99"), layouts.load("4.22")
    assert (newest.fdt_max_size, newest.tee, newest.nr_spis_strict) == (
        previous.fdt_max_size, previous.tee, previous.nr_spis_strict) == (
        0x100000, ("none", "optee", "ffa"), True)
    assert newest.host == previous.host and newest.dom0 == previous.dom0


def test_a_key_the_oldest_file_does_not_set_is_refused(tmp_path):
    path = broken(tmp_path, "4.14", r"^nr-spis-strict = false\n", "")
    with pytest.raises(LayoutError) as e:
        layouts.load_file(path)
    assert str(e.value) == f"{path}: missing key 'nr-spis-strict' in [dt]"


def test_xl_takes_a_vcpus_below_1_as_1_from_4_22():
    # tools/xl/xl_parse.c parse_config_data: "if (vcpus < 1) vcpus = 1" arrives with
    # 4b71a86eaa, first in RELEASE-4.22.0; before, a negative count is refused.
    assert {v: layouts.load(v).setting("dt", "negative-vcpus") for v in layouts.versions()} == {
        "4.14": "refused", "4.15": "refused", "4.16": "refused", "4.17": "refused",
        "4.18": "refused", "4.19": "refused", "4.20": "refused", "4.21": "refused",
        "4.22": "one"}


def test_the_tee_values_are_those_some_versions_xl_accepts():
    from xendt.guest.validate import TEES

    assert set(TEES) == {tee for v in layouts.versions() for tee in layouts.load(v).tee}


def test_xen_stops_capping_grant_frames_at_gnttab_max_frames_in_4_18():
    # grant_table_init (xen/common/grant_table.c): b2ea81d2b9, first in RELEASE-4.18.0,
    # makes gnttab_max_frames a default instead of a bound.
    assert [v for v in layouts.versions()
            if layouts.load(v).setting("limits", "grant-frames-capped")] == [
        "4.14", "4.15", "4.16", "4.17"]
