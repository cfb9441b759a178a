"""Hosts for the hand-written dom0less cases: QEMU `virt` dumps with
/chosen/domU* nodes added by dtc (a second root block merges into the
first), and the DTS a built blob decodes to."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conftest import dtb_to_dts, dtc, dts_to_dtb
from xendt.dom0less.build import Dom0lessDT
from xendt.xen.context import resolve

QEMU = "qemu-system-aarch64"
#: name: (-machine options, -m). Every shape uses -cpu cortex-a57.
SHAPES = {
    "gicv3-4g": ("virt,virtualization=on,gic-version=3", "4G"),
    "gicv2-1g": ("virt,virtualization=on,gic-version=2", "1G"),
}
_DUMPS: dict[str, str] = {}


def qemu_dts(shape: str) -> str:
    """QEMU's `virt` DT for `shape`, as DTS text (dumped once per run)."""
    if shape not in _DUMPS:
        exe = shutil.which(QEMU)
        if exe is None:
            pytest.fail(f"{QEMU} not found: install Debian's qemu-system-arm (README's test"
                        f" command does)")
        machine, memory = SHAPES[shape]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "virt.dtb"
            run = subprocess.run([exe, "-display", "none", "-cpu", "cortex-a57", "-m", memory,
                                  "-machine", f"{machine},dumpdtb={out}"],
                                 check=False, capture_output=True, text=True, timeout=60)
            if not out.exists():
                pytest.fail(f"{QEMU} did not dump the {shape} DTB: {run.stderr.strip()}")
            _DUMPS[shape] = dtb_to_dts(out.read_bytes())
    return _DUMPS[shape]


def host(shape: str, chosen: str) -> bytes:
    """QEMU's `virt` DTB for `shape` with `chosen` (DTS node bodies) added
    under /chosen, whose children are in 1+1 cells."""
    extra = ("\n/ {\n\tchosen {\n\t\t#address-cells = <1>;\n\t\t#size-cells = <1>;\n"
             + chosen + "\n\t};\n};\n")
    return dts_to_dtb(qemu_dts(shape) + extra)


def dts(blob: bytes) -> str:
    """The blob as `dtc -I dtb -O dts` prints it."""
    return dtb_to_dts(blob)


def forced_dts(blob: bytes) -> str:
    """The DTS of a blob dtc refuses to check (phandle 0), printed anyway."""
    return dtc("-q", "-f", "-I", "dtb", "-O", "dts", "-", input=blob).stdout.decode()


def partial(source: str) -> bytes:
    return dts_to_dtb(source)


def build(host_dtb: bytes, domain: str, xen: str | None = None, **options: Any) -> Dom0lessDT:
    """xendt.dom0less.build with `xen` resolved, as the edge does."""
    from xendt.dom0less import build as built

    return built(host_dtb, domain, resolve(xen), **options)


def build_all(host_dtb: bytes, xen: str | None = None,
              **options: Any) -> tuple[tuple[Dom0lessDT, ...], tuple[str, ...]]:
    """xendt.dom0less.summary.build_all with `xen` resolved, as the edge does."""
    from xendt.dom0less import summary

    return summary.build_all(host_dtb, resolve(xen), **options)
