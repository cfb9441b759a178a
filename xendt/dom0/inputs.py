"""What Xen reads from the host DT before it writes dom0's: its own command
line, dom0's boot modules and command line, the CPUs, the console UART.

- the boot modules: nodes under /chosen (depth 3 or less) compatible with
  "multiboot,module" (or "xen,multiboot-module"), kind from "multiboot,kernel" /
  "multiboot,ramdisk" (or the legacy "xen,linux-zimage" / "xen,linux-initrd"),
  else guessed by order, the first a kernel and the second a ramdisk
  (process_multiboot_node, ``xen/arch/arm/bootfdt.c`` @ RELEASE-4.17.0; the
  same rules in ``xen/common/device-tree/bootfdt.c`` @ RELEASE-4.20.0 and
  ``bootinfo-fdt.c`` @ RELEASE-4.21.0, RELEASE-4.22.0);
- dom0's command line: the kernel module's `bootargs` (kinfo->cmdline), which
  write_properties replaces with /chosen xen,dom0-bootargs, or takes from
  /chosen bootargs when there is neither (xendt.dom0.copy);
- dom0_max_vcpus= (else one vCPU per CPU Xen brought up: /cpus children with
  device_type "cpu", smp_init_cpus), dom0_max_vcpus in
  ``xen/arch/arm/domain_build.c`` @ RELEASE-4.17.0;
- the console: dtuart= or /chosen stdout-path, path or alias, when console=
  names dtuart (its default on Arm): dt_uart_init in
  ``xen/drivers/char/arm-uart.c`` @ RELEASE-4.17.0. Xen keeps that node.
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.errors import DtbError, XenFailure
from xendt.fdt.tree import Node, Tree
from xendt.host import iommu, refusals, xen_dt
from xendt.ranges import Range

_MODULE = ("multiboot,module", "xen,multiboot-module")
_KERNEL = ("multiboot,kernel", "xen,linux-zimage")
_RAMDISK = ("multiboot,ramdisk", "xen,linux-initrd")
_OTHER = ("xen,xsm-policy", "multiboot,device-tree")
#: BOOTMOD_MAX_CMDLINE (xen/arch/arm/include/asm/setup.h @ RELEASE-4.17.0).
MAX_CMDLINE = 1024
#: MAX_VIRT_CPUS (xen/arch/arm/include/asm/config.h @ RELEASE-4.17.0).
MAX_VIRT_CPUS = 128


@dataclass(frozen=True)
class Module:
    """A boot module of dom0: its node, where it is and its size (`reg`),
    and its `bootargs` (kernel only)."""

    path: str
    reg: Range
    bootargs: bytes | None = None


@dataclass(frozen=True)
class Inputs:
    """What Xen took from the host DT for dom0.

    cmdline:
      Xen's command line as followed (Cmdline: text, source, iommu=, ...).
    kernel, ramdisk:
      dom0's boot modules (ramdisk None without one).
    vcpus:
      dom0's vCPU count.
    console:
      the path of the UART Xen keeps for itself, or None.
    """

    cmdline: iommu.Cmdline
    kernel: Module
    ramdisk: Module | None
    vcpus: int
    console: str | None


def read(tree: Tree, cmdline: iommu.Cmdline, uarts: tuple[str, ...]) -> Inputs:
    """dom0's inputs from the host `tree`, with Xen's command line `cmdline`
    and the compatibles its serial drivers match (`uarts`)."""
    kernel, ramdisk = modules(tree)
    return Inputs(cmdline, kernel, ramdisk, vcpus(tree, cmdline.text),
                  console(tree, cmdline.text, uarts))


def option(text: str, name: str) -> str | None:
    """The value of Xen command-line option `name` (the last one given),
    None when absent."""
    found = None
    for word in text.split():
        key, sep, value = word.partition("=")
        if key == name:
            found = value if sep else ""
    return found


def modules(tree: Tree) -> tuple[Module, Module | None]:
    """dom0's kernel and ramdisk: the first kernel and ramdisk modules the
    early scan registers (at depth 3 or less under /chosen, in DT order,
    the order guess counting every module) outside xen,domain nodes."""
    chosen = tree.node("/chosen")
    kernel: Module | None = None
    ramdisk: Module | None = None
    guess = 0
    for node in tree.descendants(chosen) if chosen is not None else ():
        if node.depth > 3 or not any(node.is_compatible(c) for c in _MODULE):
            continue
        kind = _kind(node)
        if kind == "unknown":
            kind = ("kernel", "ramdisk")[guess] if guess < 2 else "other"
            guess += 1
        parent = tree.parent(node)
        if parent is not None and parent.is_compatible("xen,domain"):
            continue
        raw = node.get("bootargs")
        text = None if raw is None else raw.split(b"\0", 1)[0]
        if text is not None and len(text) > MAX_CMDLINE:
            parent_name = parent.name if parent is not None else ""
            raise XenFailure(f"{node.path} in {tree.file}: bootargs of {len(text)} bytes: Xen"
                             f" panics \"module {parent_name} command line too long\"")
        if kind == "kernel" and kernel is None:
            kernel = Module(node.path, _reg(tree, node), text)
        elif kind == "ramdisk" and ramdisk is None:
            ramdisk = Module(node.path, _reg(tree, node))
    if kernel is None:
        raise DtbError(f"{tree.file}: no dom0 kernel module under /chosen (compatible"
                       f" \"multiboot,kernel\", \"multiboot,module\"): Xen panics \"No"
                       f" Kernel Image\"")
    return kernel, ramdisk


def _kind(node: Node) -> str:
    if any(node.is_compatible(c) for c in _KERNEL):
        return "kernel"
    if any(node.is_compatible(c) for c in _RAMDISK):
        return "ramdisk"
    if any(node.is_compatible(c) for c in _OTHER):
        return "other"
    return "unknown"


def _reg(tree: Tree, node: Node) -> Range:
    reg = xen_dt.meminfo(tree, node, "reg", xen_dt.cells(tree, node))
    if not reg:
        raise DtbError(f"{node.path} in {tree.file}: missing or short 'reg' (Xen panics)")
    return reg[0]


def vcpus(tree: Tree, text: str) -> int:
    """dom0_max_vcpus=, or the CPUs of /cpus; at most MAX_VIRT_CPUS."""
    given = option(text, "dom0_max_vcpus") or "0"
    try:
        count = int(given, 0)
    except ValueError:  # simple_strtoll: the leading digits
        digits = given[:len(given) - len(given.lstrip("0123456789"))]
        count = int(digits) if digits else 0
    if count < 0:  # an unsigned int: above any limit
        count = MAX_VIRT_CPUS
    if count == 0:
        cpus = tree.node("/cpus")
        count = sum(1 for c in (cpus.children if cpus is not None else ())
                    if c.string("device_type") == "cpu") or 1
    return min(count, MAX_VIRT_CPUS)


def console(tree: Tree, text: str, uarts: tuple[str, ...]) -> str | None:
    """The node dt_uart_init takes: dtuart= (before any ':'), else
    /chosen stdout-path, a path or an /aliases name, when a serial driver
    matches it (device_init); None when console= does not name dtuart or
    no such node is found."""
    path = _console_path(tree, text)
    node = tree.node(path) if path else None
    if node is None or not any(node.is_compatible(c) for c in uarts):
        return None
    return path


def _console_path(tree: Tree, text: str) -> str | None:
    consoles = option(text, "console")
    if consoles is not None and "dtuart" not in consoles.split(","):
        return None
    given = (option(text, "dtuart") or "").split(":", 1)[0]
    if not given:
        return refusals.xen_console(tree)
    if given.startswith("/"):
        return given if tree.node(given) is not None else None
    aliases = tree.node("/aliases")
    return (aliases.string(given) if aliases is not None else None) or None
