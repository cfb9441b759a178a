"""A new Xen version is one data file: a layout dropped in a folder named by
XENDT_LAYOUT_PATH is known to every command, becomes the default, and is
written into the guest's compatible strings, with no code touched."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, dtb_to_dts


@pytest.fixture()
def layout_path(tmp_path):
    text = (ROOT / "layouts" / "4.22.toml").read_text()
    text = text.replace('version = "4.22"', 'version = "4.99"').replace(
        'tag = "RELEASE-4.22.0"', 'tag = "RELEASE-4.99.0"')
    (tmp_path / "4.99.toml").write_text(text)
    return tmp_path


def xendt(*args: str, layouts) -> subprocess.CompletedProcess:
    env = {**os.environ, "XENDT_LAYOUT_PATH": str(layouts)}
    return subprocess.run([sys.executable, "-m", "xendt.cli", *args], capture_output=True,
                          env=env, cwd=ROOT, timeout=60)


def test_a_synthetic_4_99_layout_builds_a_guest(layout_path):
    run = xendt("build", "--xen", "4.99", "--rng-seed", "none", "-o", "-", layouts=layout_path)
    assert run.returncode == 0, run.stderr
    dts = dtb_to_dts(run.stdout)
    assert '\tcompatible = "xen,xenvm-4.99\\0xen,xenvm";\n' in dts
    assert '\t\tcompatible = "xen,xen-4.99\\0xen,xen";\n' in dts


def test_the_newest_layout_is_the_default(layout_path):
    run = xendt("build", "--rng-seed", "none", "--format", "json", "-o", "-", layouts=layout_path)
    assert run.returncode == 0, run.stderr
    assert b'"xen": "4.99"' in run.stdout


def test_help_lists_the_new_version(layout_path):
    run = xendt("build", "--help", layouts=layout_path)
    assert b"Known: 4.14 ... 4.99." in run.stdout


def test_without_the_folder_the_version_is_unknown(tmp_path):
    run = xendt("build", "--xen", "4.99", "-o", "-", layouts=tmp_path)
    assert (run.returncode, run.stdout) == (2, b"")
    assert run.stderr.decode() == ("xendt: --xen: unknown Xen version '4.99'; xendt knows 4.14,"
                                   " 4.15, 4.16, 4.17, 4.18, 4.19, 4.20, 4.21, 4.22\n")
