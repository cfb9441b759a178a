"""Point releases as data: X.Y.Z is X.Y.0 plus the [[point]] entries of
layouts/X.Y.toml up to Z. Expected values come from the inventory of the
stable branches (commit ids cited; `git merge-base --is-ancestor COMMIT
RELEASE-X.Y.Z` in Xen's repository)."""

from __future__ import annotations

import pytest

from xendt.cli import main
from xendt.errors import ConfigError, LayoutError
from xendt.xen import layouts

NEWEST = {"4.14": 6, "4.15": 7, "4.16": 7, "4.17": 7, "4.18": 6, "4.19": 6, "4.20": 4,
          "4.21": 2, "4.22": 0}


def test_each_branch_knows_its_newest_tag():
    assert {v: layouts.load(v).newest_point for v in layouts.versions()} == NEWEST


def test_x_y_is_x_y_0_and_keeps_the_version_dts_carry():
    plain, full = layouts.load("4.19"), layouts.load("4.19.0")
    assert (plain.version, plain.release, full.release) == ("4.19", "4.19.0", "4.19.0")
    assert layouts.load("4.19.3").version == "4.19"


@pytest.mark.parametrize("release,value", [
    ("4.17.7", "buggy"), ("4.18.6", "buggy"), ("4.19.2", "buggy"), ("4.19.3", "fixed"),
    ("4.20.0", "buggy"), ("4.20.1", "fixed"), ("4.21.0", "fixed")])
def test_the_rangeset_fix_arrives_in_4_19_3_4_20_1_and_4_21_0(release, value):
    # c7e568308546 (RELEASE-4.19.3), 6b399ed19fd3 (RELEASE-4.20.1), e118fc98e7ae (4.21.0)
    assert layouts.load(release).host.rangeset_subtract == value


def test_where_a_fix_arrived_is_read_from_the_data():
    assert layouts.first_releases("host", "rangeset-subtract", "fixed") == ("4.19.3", "4.20.1",
                                                                           "4.21.0")
    assert layouts.first_releases("host", "memory-node-full", "ok") == ("4.20.4", "4.21.2", "4.22.0")


def test_4_16_2_boots_52_bit_cpus_with_a_48_bit_ipa():
    # fe02a5342d3e "xen/arm: p2m don't fall over on FEAT_LPA enabled hw"
    before, after = layouts.load("4.16.1"), layouts.load("4.16.2")
    assert (52 in before.pa_bits, before.ipa_start_bits) == (False, 64)
    assert (52 in after.pa_bits, after.ipa_start_bits) == (True, 48)


def test_each_point_names_its_commit_and_subject():
    point = layouts.load("4.19.3").points[-1]
    assert (point.release, point.commit, point.subject) == (
        "4.19.3", "c7e568308546", "xen/rangeset: fix incorrect subtraction")
    assert point.changes == (("host", "rangeset-subtract", "fixed"),)


def test_an_unknown_point_release_is_refused_listing_the_known_ones():
    with pytest.raises(ConfigError, match=r"^unknown Xen release '4\.19\.9': xendt knows 4\.19\.0,"
                                          r" 4\.19\.1, 4\.19\.2, 4\.19\.3, 4\.19\.4, 4\.19\.5,"
                                          r" 4\.19\.6$"):
        layouts.load("4.19.9")


def test_the_cli_refuses_an_unknown_release_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["host-regions", "--host-dtb", "x.dtb", "--xen", "4.22.1"])
    err = capsys.readouterr().err
    assert exit.value.code == 2
    assert err == "xendt: --xen: unknown Xen release '4.22.1': xendt knows 4.22.0\n"


def _changed(tmp_path, old: str, new: str):
    from pathlib import Path

    text = (Path(layouts.layout_dir()) / "4.19.toml").read_text()
    assert old in text
    path = tmp_path / "4.19.toml"
    path.write_text(text.replace(old, new))
    return path


def test_a_point_setting_a_key_the_x_y_0_layout_lacks_is_refused(tmp_path):
    path = _changed(tmp_path, 'set = { host = { rangeset-subtract = "fixed" } }',
                    'set = { host = { rangeset-subtracted = "fixed" } }')
    with pytest.raises(LayoutError, match=r"point 4\.19\.3 sets host\.rangeset-subtracted, which"
                                          r" the 4\.19\.0 layout does not have"):
        layouts.load_file(path, 3)


def test_a_point_beyond_the_newest_release_is_refused(tmp_path):
    path = _changed(tmp_path, 'release = "4.19.3"', 'release = "4.19.8"')
    with pytest.raises(LayoutError, match=r"\[\[point\]\] 2.release '4.19.8' is not one of 4.19.1"):
        layouts.load_file(path)
