"""Host device trees for the host-region tests.

- QEMU's `virt` machine, dumped by Debian's qemu-system-arm
  (`-machine virt,dumpdtb=FILE`) in several shapes. README's test command
  installs it; without it these tests fail, they are not skipped.
- A hand-written two-bank board with reserved memory, a PCIe host bridge,
  an SMMU and three dom0less domains, compiled with dtc.

Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import dts_to_dtb

QEMU = "qemu-system-aarch64"

#: name: (-machine options, -m). Every shape uses -cpu cortex-a57 (44-bit PA).
QEMU_SHAPES = {
    "gicv2-1g": ("virt,gic-version=2", "1G"),
    "gicv2-virt-1g": ("virt,gic-version=2,virtualization=on", "1G"),
    "gicv3-2g": ("virt,gic-version=3", "2G"),
    "gicv3-virt-4g": ("virt,gic-version=3,virtualization=on", "4G"),
    "lowmem-3g": ("virt,gic-version=3,highmem=off", "3G"),
    "smmuv3-512m": ("virt,gic-version=3,iommu=smmuv3", "512M"),
}


def qemu_dump(directory: Path, name: str) -> Path:
    """QEMU's device tree for shape `name`, written to directory/name.dtb."""
    exe = shutil.which(QEMU)
    if exe is None:
        pytest.fail(f"{QEMU} not found: install Debian's qemu-system-arm (README's test command"
                    f" does); the host-region tests need QEMU's virt machine DTBs")
    machine, memory = QEMU_SHAPES[name]
    out = directory / f"{name}.dtb"
    run = subprocess.run([exe, "-display", "none", "-cpu", "cortex-a57", "-m", memory,
                          "-machine", f"{machine},dumpdtb={out}"],
                         capture_output=True, text=True, timeout=60)
    if not out.exists():
        pytest.fail(f"{QEMU} did not dump the {name} DTB: {run.stderr.strip()}")
    return out


@pytest.fixture(scope="session")
def qemu(tmp_path_factory) -> dict[str, Path]:
    """Every QEMU shape's DTB, by shape name."""
    directory = tmp_path_factory.mktemp("qemu")
    return {name: qemu_dump(directory, name) for name in QEMU_SHAPES}


# The board. Every address below is used by the expectations in
# tests/test_host_regions.py; change them together.
BOARD_DTS = """
/dts-v1/;
/memreserve/ 0xe0000000 0x100000;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    interrupt-parent = <&gic>;

    memory@80000000 {                 /* 2 GiB at 2 GiB */
        device_type = "memory";
        reg = <0x0 0x80000000 0x0 0x80000000>;
    };
    memory@880000000 {                /* 6 GiB at 34 GiB */
        device_type = "memory";
        reg = <0x8 0x80000000 0x1 0x80000000>;
    };
    reserved-memory {
        #address-cells = <2>;
        #size-cells = <2>;
        ranges;
        dsp@a0000000 { reg = <0x0 0xa0000000 0x0 0x1000000>; };      /* 16 MiB */
        optee@bc000000 { reg = <0x0 0xbc000000 0x0 0x4000000>; no-map; };  /* 64 MiB */
    };
    soc {
        compatible = "simple-bus";
        #address-cells = <1>;
        #size-cells = <1>;
        ranges = <0x0 0x0 0x0 0x40000000>;
        serial@1c090000 { compatible = "arm,pl011"; reg = <0x1c090000 0x1000>; };
        iommu@2b400000 { compatible = "arm,mmu-500"; reg = <0x2b400000 0x100000>; #iommu-cells = <1>; };
        gic: interrupt-controller@2f000000 {
            compatible = "arm,gic-v3";
            interrupt-controller;
            #interrupt-cells = <3>;
            reg = <0x2f000000 0x10000 0x2f100000 0x200000>;
        };
    };
    pcie@40000000 {
        compatible = "pci-host-ecam-generic";
        device_type = "pci";
        #address-cells = <3>;
        #size-cells = <2>;
        reg = <0x0 0x40000000 0x0 0x10000000>;                            /* ECAM */
        ranges = <0x01000000 0x0 0x0        0x0 0x5f800000  0x0 0x800000    /* I/O */
                  0x02000000 0x0 0x60000000 0x0 0x60000000  0x0 0x10000000  /* 32-bit */
                  0x43000000 0x40 0x0       0x40 0x0        0x2 0x0>;       /* 64-bit */
    };
    timer {
        compatible = "arm,armv8-timer";
        interrupts = <1 13 0xf08>, <1 14 0xf08>, <1 11 0xf08>, <1 10 0xf08>;
    };
    chosen {
        #address-cells = <2>;
        #size-cells = <2>;
        domU1 {                       /* 512 MiB, shares 32 MiB with the host */
            compatible = "xen,domain";
            #address-cells = <1>;
            #size-cells = <1>;
            memory = <0x0 0x80000>;
            cpus = <1>;
            xen,enhanced = "enabled";
            shm@a1000000 {
                compatible = "xen,domain-shared-memory-v1";
                xen,shm-id = "ring0";
                role = "owner";
                xen,shared-mem = <0xa1000000 0x81000000 0x2000000>;
            };
        };
        domU2 {                       /* not enhanced: no /hypervisor node */
            compatible = "xen,domain";
            memory = <0x0 0x100000>;
            cpus = <1>;
        };
        domU3 {                       /* direct-mapped 256 MiB at 36 GiB */
            compatible = "xen,domain";
            memory = <0x0 0x40000>;
            cpus = <1>;
            #xen,static-mem-address-cells = <2>;
            #xen,static-mem-size-cells = <2>;
            xen,static-mem = <0x9 0x0 0x0 0x10000000>;
            direct-map;
            xen,enhanced;
        };
    };
};
"""

#: A passthrough DT for domU1: the UART mapped at guest 0x90000000 (2 MiB).
PASSTHROUGH_DTS = """
/dts-v1/;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    passthrough {
        compatible = "simple-bus";
        ranges;
        #address-cells = <2>;
        #size-cells = <2>;
        serial@90000000 {
            compatible = "arm,pl011";
            reg = <0x0 0x90000000 0x0 0x1000>;
            xen,reg = <0x0 0x1c000000 0x0 0x200000 0x0 0x90000000>;
            xen,path = "/soc/serial@1c090000";
        };
    };
};
"""


@pytest.fixture(scope="session")
def board(tmp_path_factory) -> Path:
    """The hand-written board as a DTB file."""
    path = tmp_path_factory.mktemp("board") / "board.dtb"
    path.write_bytes(dts_to_dtb(BOARD_DTS))
    return path


@pytest.fixture(scope="session")
def passthrough(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("passthrough") / "passthrough.dtb"
    path.write_bytes(dts_to_dtb(PASSTHROUGH_DTS))
    return path
