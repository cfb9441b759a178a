"""Benchmark `xendt check`, `show`, `host-regions` and a dom0less `build` on
device trees with many of one thing: memory banks, /reserved-memory nodes,
/memreserve/ entries, dom0less domains.

    python benchmarks/bench_scale.py [--runs 3] [--banks 20000] [--reserved 20000]
                                     [--memreserve 120000] [--domains 1000]

Each tree is made with libfdt: a board that is also a Xen 4.21 guest's tree
(a /hypervisor node, a GICv3, RAM), so every command reads it, with one part
grown to the given count. Xen 4.21 refuses the first three boards (more banks than NR_MEM_BANKS,
status 1, found before any region is computed); 4.18 keeps the first 256
RAM banks and ignores /memreserve/, so its rows time the whole computation.
Each command runs as a user runs it (a fresh
process, output to /dev/null); the script prints median wall times and the
blob's size. Exit status 1 (check's errors, Xen refusing the host) counts as
an answer; only 2 and above are failures. It asserts nothing: timings belong
here, not in the test suite.
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
from collections.abc import Callable
from typing import Any

GIC = 65000
RAM = 0x4000_0000


def board(extra: Callable[[Any], None], *, banks: int = 1, memreserve: int = 0,
          chosen: Callable[[Any], None] | None = None) -> bytes:
    """A board with `banks` RAM banks of 64 MiB each (one memory node),
    `memreserve` /memreserve/ entries of 4 KiB, `chosen` adding to /chosen
    and `extra` adding nodes to the root."""
    import libfdt

    sw = libfdt.FdtSw()
    for i in range(memreserve):
        sw.add_reservemap_entry(RAM + i * 0x2000, 0x1000)
    sw.finish_reservemap()
    with sw.add_node(""):
        sw.property_string("model", "XENVM-4.21")
        sw.property("compatible", b"xen,xenvm-4.21\0xen,xenvm\0")
        sw.property_u32("interrupt-parent", GIC)
        sw.property_u32("#address-cells", 2)
        sw.property_u32("#size-cells", 2)
        with sw.add_node("chosen"):
            sw.property_u32("#address-cells", 2)
            sw.property_u32("#size-cells", 2)
            if chosen is not None:
                chosen(sw)
        with sw.add_node("cpus"):
            sw.property_u32("#address-cells", 1)
            sw.property_u32("#size-cells", 0)
            with sw.add_node("cpu@0"):
                sw.property_string("device_type", "cpu")
                sw.property_string("compatible", "arm,cortex-a57")
                sw.property_u32("reg", 0)
                sw.property_string("enable-method", "psci")
        with sw.add_node("memory@40000000"):
            sw.property_string("device_type", "memory")
            sw.property("reg", b"".join(struct.pack(">QQ", RAM + i * 0x800_0000, 0x400_0000)
                                        for i in range(banks)))
        with sw.add_node("interrupt-controller@3001000"):
            sw.property_string("compatible", "arm,gic-v3")
            sw.property_u32("#interrupt-cells", 3)
            sw.property_u32("#address-cells", 0)
            sw.property("interrupt-controller", b"")
            sw.property("reg", struct.pack(">QQQQ", 0x300_1000, 0x1_0000, 0x302_0000, 0x100_0000))
            sw.property_u32("phandle", GIC)
        with sw.add_node("timer"):
            sw.property_string("compatible", "arm,armv8-timer")
            sw.property("interrupts", struct.pack(">12I", 1, 13, 0xF08, 1, 14, 0xF08,
                                                  1, 11, 0xF08, 1, 10, 0xF08))
        with sw.add_node("psci"):
            sw.property_string("compatible", "arm,psci-1.0")
            sw.property_string("method", "smc")
        with sw.add_node("hypervisor"):
            sw.property("compatible", b"xen,xen-4.21\0xen,xen\0")
            sw.property("reg", struct.pack(">QQQQ", 0x3800_0000, 0x100_0000,
                                           0x2_0000_0000, 0xFE_0000_0000))
            sw.property("interrupts", struct.pack(">III", 1, 15, 0xF08))
        extra(sw)
    return bytes(sw.as_fdt().as_bytearray())


def reserved_memory(count: int) -> Callable[[Any], None]:
    def add(sw: Any) -> None:
        with sw.add_node("reserved-memory"):
            sw.property_u32("#address-cells", 2)
            sw.property_u32("#size-cells", 2)
            sw.property("ranges", b"")
            for i in range(count):
                base = 0x1_0000_0000 + i * 0x2000
                with sw.add_node(f"buffer@{base:x}"):
                    sw.property("reg", struct.pack(">QQ", base, 0x1000))
                    sw.property("no-map", b"")
    return add


def domains(count: int) -> Callable[[Any], None]:
    def add(sw: Any) -> None:
        for i in range(count):
            with sw.add_node(f"domU{i}"):
                sw.property_string("compatible", "xen,domain")
                sw.property_u32("#address-cells", 2)
                sw.property_u32("#size-cells", 2)
                sw.property("memory", struct.pack(">II", 0, 0x4000))
                sw.property_u32("cpus", 1)
                kernel = 0x8000_0000 + i * 0x100_0000
                with sw.add_node(f"module@{kernel:x}"):
                    sw.property("compatible", b"multiboot,kernel\0multiboot,module\0")
                    sw.property("reg", struct.pack(">QQ", kernel, 0x80_0000))
                    sw.property_string("bootargs", "console=ttyAMA0")
    return add


def nothing(sw: Any) -> None:
    pass


def timed(cmd: list[str], runs: int) -> tuple[float, int]:
    """Median wall time of `cmd` over `runs` runs, and its exit status."""
    times, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        times.append(time.perf_counter() - start)
        code = done.returncode
        if code not in (0, 1):
            print(f"    {' '.join(cmd[1:])}: status {code}: {done.stderr.decode().strip()}")
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--banks", type=int, default=20000)
    parser.add_argument("--reserved", type=int, default=20000)
    parser.add_argument("--memreserve", type=int, default=120000)
    parser.add_argument("--domains", type=int, default=1000)
    args = parser.parse_args()

    xendt = shutil.which("xendt", path=os.path.dirname(sys.executable)) or "xendt"
    trees = {
        f"{args.banks} banks": board(nothing, banks=args.banks),
        f"{args.reserved} reserved-memory nodes": board(reserved_memory(args.reserved)),
        f"{args.memreserve} memreserve entries": board(nothing, memreserve=args.memreserve),
        f"{args.domains} dom0less domains": board(nothing, chosen=domains(args.domains)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, blob in trees.items():
            path = os.path.join(tmp, "board.dtb")
            with open(path, "wb") as f:
                f.write(blob)
            print(f"{label}: {len(blob)} bytes, median of {args.runs} runs")
            host = [xendt, "host-regions", "--host-dtb", path, "--xen", "4.21"]
            old = [xendt, "host-regions", "--host-dtb", path, "--xen", "4.18"]
            dom0_mem = ["--dom0-mem", "0x40000000:64M"]
            commands = {
                "check": [xendt, "check", path],
                "show": [xendt, "show", path],
                "host-regions --iommu": [*host, "--iommu"],
                "host-regions --no-iommu": [*host, "--no-iommu", *dom0_mem],
                "host-regions 4.18 --iommu": [*old, "--iommu"],
                "host-regions 4.18 --no-iommu": [*old, "--no-iommu", *dom0_mem],
            }
            if "domains" in label:
                commands["host-regions --domain domU0"] = [*host, "--iommu", "--domain", "domU0"]
                commands["build --domain all"] = [xendt, "build", "--host-dtb", path, "--xen",
                                                  "4.21", "--domain", "all", "--iommu",
                                                  "-o", os.path.join(tmp, "out") + "/"]
            for name, cmd in commands.items():
                seconds, code = timed(cmd, args.runs)
                print(f"  {name:30} {seconds * 1000:9.1f} ms   (status {code})")


if __name__ == "__main__":
    main()
