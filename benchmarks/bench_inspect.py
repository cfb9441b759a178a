"""Benchmark `xendt show` and `xendt diff` against `dtc -I dtb -O dts` on a
large device tree.

    python benchmarks/bench_inspect.py [--devices 20000] [--runs 5] [--dtb FILE]

A guest DTB is at most 1 MiB (libxl's FDT_MAX_SIZE) and real ones are a few
KiB, so the script makes a larger one with libfdt: a Xen guest's root nodes
plus a /passthrough bus of --devices passthrough devices, each with reg,
interrupts, a clocks phandle reference and string properties (about 190
bytes of blob per device). --dtb FILE times an existing blob instead.

Each command runs as a user runs it (a fresh process, output to /dev/null);
the script prints median wall times and the ratios to dtc. It asserts
nothing: timings belong here, not in the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def big_dtb(devices: int) -> bytes:
    """A guest-shaped tree with `devices` passthrough devices."""
    import libfdt

    gic = 65000
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    with sw.add_node(""):
        sw.property_string("model", "XENVM-4.21")
        sw.property("compatible", b"xen,xenvm-4.21\0xen,xenvm\0")
        sw.property_u32("interrupt-parent", gic)
        sw.property_u32("#address-cells", 2)
        sw.property_u32("#size-cells", 2)
        with sw.add_node("memory@40000000"):
            sw.property_string("device_type", "memory")
            sw.property("reg", struct.pack(">QQ", 0x4000_0000, 0x4000_0000))
        with sw.add_node("interrupt-controller@3001000"):
            sw.property_string("compatible", "arm,gic-v3")
            sw.property_u32("#interrupt-cells", 3)
            sw.property_u32("#address-cells", 0)
            sw.property("interrupt-controller", b"")
            sw.property("reg", struct.pack(">QQQQ", 0x300_1000, 0x1_0000, 0x302_0000, 0x100_0000))
            sw.property_u32("#clock-cells", 1)
            sw.property_u32("phandle", gic)
        with sw.add_node("hypervisor"):
            sw.property("compatible", b"xen,xen-4.21\0xen,xen\0")
            sw.property("reg", struct.pack(">QQQQ", 0x3800_0000, 0x100_0000,
                                           0x2_0000_0000, 0xFE_0000_0000))
            sw.property("interrupts", struct.pack(">III", 1, 15, 0xF08))
        with sw.add_node("passthrough"):
            sw.property_string("compatible", "simple-bus")
            sw.property("ranges", b"")
            sw.property_u32("#address-cells", 2)
            sw.property_u32("#size-cells", 2)
            for i in range(devices):
                base = 0x1_0000_0000 + i * 0x1000
                with sw.add_node(f"dev@{base:x}"):
                    sw.property("compatible", f"vendor,dev{i % 50}\0simple-device\0".encode())
                    sw.property("reg", struct.pack(">QQ", base, 0x1000))
                    sw.property("interrupts", struct.pack(">III", 0, i % 900, 4))
                    sw.property("clocks", struct.pack(">II", gic, i % 8))
                    sw.property_string("status", "okay")
    return bytes(sw.as_fdt().as_bytearray())


def timed(cmd: list[str], runs: int) -> float:
    """Median wall time of `cmd` over `runs` runs, after one warm-up."""
    times = []
    for run in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if done.returncode not in (0, 1):
            sys.exit(f"{' '.join(cmd)} failed: {done.stderr.decode().strip()}")
        if run:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dtb", help="time this blob instead of a made-up one")
    args = parser.parse_args()

    dtc = shutil.which("dtc") or sys.exit("dtc not found: install device-tree-compiler")
    xendt = shutil.which("xendt", path=os.path.dirname(sys.executable)) or "xendt"
    with tempfile.TemporaryDirectory() as tmp:
        path = args.dtb
        if path is None:
            path = os.path.join(tmp, "big.dtb")
            with open(path, "wb") as f:
                f.write(big_dtb(args.devices))
        size = os.path.getsize(path)
        print(f"{path}: {size} bytes ({size / 2**20:.2f} MiB), median of {args.runs} runs")
        base = timed([dtc, "-q", "-I", "dtb", "-O", "dts", path], args.runs)
        rows = [
            ("dtc -I dtb -O dts FILE", base),
            ("xendt show FILE", timed([xendt, "show", path], args.runs)),
            ("xendt show --format json FILE", timed([xendt, "show", "--format", "json", path],
                                                    args.runs)),
            ("xendt diff FILE FILE", timed([xendt, "diff", path, path], args.runs)),
            ("xendt check FILE", timed([xendt, "check", path], args.runs)),
        ]
    for name, seconds in rows:
        print(f"  {name:32} {seconds * 1000:9.1f} ms   {seconds / base:6.1f}x dtc")


if __name__ == "__main__":
    main()
