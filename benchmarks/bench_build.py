"""Benchmark `xendt build`: cold start against `python3 -c "import click"`,
and guest DTBs built per second in one process.

    python benchmarks/bench_build.py [--runs 21] [--seconds 3]

Run it with the interpreter xendt is installed in. Prints medians and ratios;
asserts nothing (timings belong here, not in the test suite).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def cold(commands: list[list[str]], runs: int) -> list[float]:
    """Median wall time of each command over `runs` runs, after one warm-up.
    The commands take turns, so a burst of load elsewhere hits them alike."""
    times: list[list[float]] = [[] for _ in commands]
    for run in range(runs + 1):
        for cmd, series in zip(commands, times):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            if run:  # the first round only warms the caches
                series.append(time.perf_counter() - start)
    return [statistics.median(series) for series in times]


def per_second(seconds: float, guest, host) -> float:
    from xendt import build

    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            build(guest, host)
        count += 100
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    xendt = shutil.which("xendt", path=os.path.dirname(sys.executable)) or "xendt"
    build_cmd = [xendt, "build", "--pa-bits", "40", "--rng-seed", "none", "-o", os.devnull]
    base, ours = cold([[sys.executable, "-c", "import click"], build_cmd], args.runs)
    print(f"cold start, median of {args.runs}:")
    print(f"  python3 -c 'import click'      {base * 1000:7.1f} ms")
    print(f"  xendt build -o /dev/null       {ours * 1000:7.1f} ms   ratio {ours / base:.2f}x")

    from xendt import GuestConfig, Host, Kernel, VirtioDevice, VirtioDisk

    seed = bytes(128)
    cases = {
        "defaults, Xen 4.22": (GuestConfig(gic_version="v3"), Host(rng_seed=seed)),
        "1 GiB, 4 vCPUs, ramdisk, 4.19": (
            GuestConfig(memory_mib=1024, max_vcpus=4, gic_version="v3", cmdline="console=hvc0",
                        kernel=Kernel(size=38_928_896), ramdisk_size=12_345_678),
            Host(xen="4.19", rng_seed=seed)),
        "rich: vuart, optee, vPCI, 3 virtio, 16 vCPUs, 4.21": (
            GuestConfig(memory_mib=8192, max_vcpus=16, gic_version="v3", vuart=True, tee="optee",
                        pci_devices=1, disks=(VirtioDisk(backend_domid=1),),
                        virtio=(VirtioDevice(type="virtio,device22"),
                                VirtioDevice(type="virtio,device29", backend_domid=1))),
            Host(xen="4.21", rng_seed=seed)),
    }
    print(f"in-process builds per second ({args.seconds:.0f} s each):")
    for name, (guest, host) in cases.items():
        print(f"  {name:52} {per_second(args.seconds, guest, host):9,.0f}/s")


if __name__ == "__main__":
    main()
