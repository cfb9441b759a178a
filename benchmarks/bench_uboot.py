"""Benchmark the U-Boot script interpreter: the real ImageBuilder scripts of
tests/data/reference-uboot, and the worst scripts each bound allows (each
run up to the bound it stops at, or to its end).

    python benchmarks/bench_uboot.py [--runs 5]

Run it with the interpreter xendt is installed in. Prints the median time of
each script in one process; asserts nothing (timings belong here).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import time
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference-uboot"
HOST_DTS = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>; chosen { };
    memory@40000000 { device_type = "memory"; reg = <0 0x40000000 0 0x40000000>; }; };
"""


def hostile() -> dict[str, str]:
    """Scripts that push one bound each (see xendt.uboot.script)."""
    return {
        "10000 resizes to 2 MiB and back": "fdt addr 0x1000\n"
        + "fdt resize 0x1ff000\nfdt resize 0\n" * 5000,
        "10000 fdt addr LEN of 2 MiB": "fdt addr 0x1000 0x200000\n" * 10000,
        "10000 fdt set/rm in a 2 MiB DTB": "fdt addr 0x1000 0x200000\n"
        + "fdt set /chosen p <1 2 3>\nfdt rm /chosen p\n" * 5000,
        "5000 nodes, each then set": "fdt addr 0x1000 0x200000\n"
        + "".join(f"fdt mknod /chosen d{i}\n" for i in range(2500))
        + "".join(f"fdt set /chosen/d{i} p <{i}>\n" for i in range(2500)),
        "doubling a variable": "setenv a x\n" + "setenv a ${a}${a}\n" * 200,
        "a line of 4000 references": "setenv a " + "x" * 8000 + "\necho " + "${a}" * 4000 + "\n",
        "expansions adding up to 1 MiB": "setenv a " + "x" * 16000 + "\n" + "echo ${a}\n" * 100,
        "1 MiB of comments": ("#" + "x" * 1000 + "\n") * 1040,
    }


def reference() -> dict[str, tuple[str, dict[str, int]]]:
    out = {}
    for case in sorted(p for p in REFERENCE.iterdir() if (p / "boot.source").exists()):
        with open(case / "files.tsv", newline="") as f:
            sizes = {row["name"]: int(row["bytes"]) for row in csv.DictReader(f, delimiter="\t")}
        out[case.name] = ((case / "boot.source").read_text(), sizes)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from xendt.errors import XendtError
    from xendt.uboot.script import apply_script

    host = subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-"], input=HOST_DTS.encode(),
                          capture_output=True, check=True).stdout
    board = (REFERENCE / "inputs" / "virt-gicv3.dtb").read_bytes()
    jobs = {name: (board, text, sizes, "virt-gicv3.dtb")
            for name, (text, sizes) in reference().items()}
    jobs.update({name: (host, text, {}, None) for name, text in hostile().items()})
    for name, (dtb, text, sizes, dtb_name) in jobs.items():
        times, outcome = [], ""
        for _ in range(args.runs):
            start = time.perf_counter()
            try:
                apply_script(dtb, text, "boot.source", sizes, dtb_name, uboot_version="bench")
                outcome = "booted" if dtb_name else "ran"
            except XendtError as e:
                outcome = str(e).split(": ", 1)[1][:70]
            times.append(time.perf_counter() - start)
        print(f"{statistics.median(times) * 1000:9.1f} ms  {name}: {outcome}")


if __name__ == "__main__":
    main()
