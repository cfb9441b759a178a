"""The API example in examples/ runs and writes a DTB that dtc decodes."""

from __future__ import annotations

import struct
import subprocess
import sys

from conftest import ROOT, dtb_to_dts


def test_example_builds_a_guest_from_code(tmp_path):
    out = tmp_path / "guest.dtb"
    run = subprocess.run([sys.executable, str(ROOT / "examples/build_guest.py"), "--xen", "4.21",
                          "-o", str(out)], capture_output=True, text=True, check=True)
    assert "extended region  [0x80000000, 0x100000000)" in run.stdout
    assert "ramdisk          [0x48000000, 0x48800000)" in run.stdout
    text = dtb_to_dts(out.read_bytes())
    assert 'bootargs = "console=hvc0 root=/dev/xvda";' in text
    assert "linux,initrd-start = <0x00 0x48000000>;" in text


def test_example_builds_a_guest_from_an_xl_config(tmp_path):
    kernel = tmp_path / "Image"
    kernel.write_bytes(struct.pack("<IIQQQQQQ4sI", 0, 0, 0, 4096, 0, 0, 0, 0, b"ARM\x64", 0) + bytes(4032))
    cfg = tmp_path / "guest.cfg"
    cfg.write_text(f'kernel = "{kernel}"\nmemory = 2048\nvcpus = 4\ngic_version = "v2"\n')
    out = tmp_path / "guest.dtb"
    run = subprocess.run([sys.executable, str(ROOT / "examples/build_guest.py"), str(cfg), "-o", str(out)],
                         capture_output=True, text=True, check=True)
    assert "kernel           [0x40000000, 0x40001000)" in run.stdout
    assert "cpu@3 {" in dtb_to_dts(out.read_bytes())
