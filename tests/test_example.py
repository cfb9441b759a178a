"""The API example in examples/ runs and writes a DTB that dtc decodes."""

from __future__ import annotations

import struct
import subprocess
import sys

from conftest import ROOT, dtb_to_dts, dts_node
from conftest_host import qemu  # noqa: F401  (fixture)


def test_example_builds_a_guest_from_code(tmp_path):
    out = tmp_path / "guest.dtb"
    run = subprocess.run([sys.executable, str(ROOT / "examples/build_guest.py"), "--xen", "4.21",
                          "-o", str(out)], capture_output=True, text=True, check=True)
    assert "extended region  [0x80000000, 0x100000000)" in run.stdout
    assert "ramdisk          [0x48000000, 0x48800000)" in run.stdout
    text = dtb_to_dts(out.read_bytes())
    assert dts_node(text, "/chosen") == (
        "\tchosen {\n"
        '\t\tbootargs = "console=hvc0 root=/dev/xvda";\n'
        "\t\tlinux,initrd-start = <0x00 0x48000000>;\n"
        "\t\tlinux,initrd-end = <0x00 0x48800000>;\n"
        "\t\trng-seed = <" + " ".join(["0x00"] * 32) + ">;\n"
        "\t};\n")


def test_example_builds_a_guest_from_an_xl_config(tmp_path):
    kernel = tmp_path / "Image"
    kernel.write_bytes(struct.pack("<IIQQQQQQ4sI", 0, 0, 0, 4096, 0, 0, 0, 0, b"ARM\x64", 0) + bytes(4032))
    cfg = tmp_path / "guest.cfg"
    cfg.write_text(f'kernel = "{kernel}"\nmemory = 2048\nvcpus = 4\ngic_version = "v2"\n')
    out = tmp_path / "guest.dtb"
    run = subprocess.run([sys.executable, str(ROOT / "examples/build_guest.py"), str(cfg), "-o", str(out)],
                         capture_output=True, text=True, check=True)
    assert "kernel           [0x40000000, 0x40001000)" in run.stdout
    cpus = dts_node(dtb_to_dts(out.read_bytes()), "/cpus")
    assert [line.strip() for line in cpus.splitlines() if "cpu@" in line] == [
        "cpu@0 {", "cpu@1 {", "cpu@2 {", "cpu@3 {"]


def test_inspection_example_maps_checks_and_compares_libxl_blobs(tmp_path):
    """On two of libxl's own blobs (golden/): the map of the first (a 4.21
    guest with 1 GiB and a vUART on a 36-bit host: regions up to 2^36), no
    finding, and the difference in vCPUs, regions and virtio devices."""
    a = ROOT / "golden/4.21/mem1024-v2-vcpu4-pa36-vuart.dtb"
    b = ROOT / "golden/4.21/mem1024-v2-vcpu2-pa40-vuart-vdisk-virtio.dtb"
    run = subprocess.run([sys.executable, str(ROOT / "examples/inspect_dtb.py"), str(a), str(b),
                          "--pa-bits", "36"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:10] == [
        f'{a}: Xen 4.21 (/hypervisor compatible "xen,xen-4.21")',
        "  0x000003001000 0x000000001000  GICv2 distributor",
        "  0x000003002000 0x000000002000  GICv2 CPU interface",
        "  0x000022000000 0x000000001000  vpl011 UART (SBSA)",
        "  0x000038000000 0x000001000000  grant table",
        "  0x000040000000 0x000040000000  RAM",
        "  0x000080000000 0x000080000000  extended region 1",
        "  0x000200000000 0x000e00000000  extended region 2",
        "  0 errors, 0 warnings",
        f"--- {a}",
    ]
    assert "- /cpus/cpu@3" in lines
    assert "    - extended region 2 0x200000000 +56 GiB in ram1" in lines
    assert "    + extended region 2 0x200000000 +1016 GiB in ram1" in lines


def test_inspection_example_gives_dom0s_regions_on_a_qemu_board(qemu):
    """QEMU virt, 2 GiB, GICv3, Xen 4.19 with an IOMMU: the holes of the
    virt memory map (see tests/test_host_regions.py for their derivation),
    4.19 cutting 2 MiB off each region whose end is 2 MiB aligned."""
    guest = ROOT / "golden/4.21/mem1024-v2-vcpu4-pa36-vuart.dtb"
    run = subprocess.run([sys.executable, str(ROOT / "examples/inspect_dtb.py"), str(guest),
                          "--pa-bits", "36", "--board", str(qemu["gicv3-2g"]), "--xen", "4.19"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-4:] == [
        f"{qemu['gicv3-2g']}: Xen 4.19 gives dom0 (find_memory_holes):",
        "  extended region [0xa200000, 0xfe00000)",
        "  extended region [0xc0000000, 0x400fe00000)",
        "  extended region [0x4020000000, 0x7fffe00000)",
    ]
