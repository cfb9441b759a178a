"""The boot modules Xen's early FDT scan keeps, and the ones it drops.

process_multiboot_node registers every node under /chosen, at depth 3 or
less, compatible with "multiboot,module" or "xen,multiboot-module", in DT
order, through add_boot_module (``xen/arch/arm/bootfdt.c`` and
``setup.c`` @ RELEASE-4.14.0 … RELEASE-4.19.0, ``xen/common/device-tree/
bootfdt.c``/``bootinfo-fdt.c`` and ``bootinfo.c`` @ RELEASE-4.20.0 …
RELEASE-4.22.0). Before the scan start_xen has added Xen's own image and
the FDT (HostRules.early_modules). add_boot_module drops a module, with a
message and nothing else (its caller ignores the NULL):

- when MAX_MODULES (HostRules.max_modules) are registered: "Ignoring %s
  boot module at %PRIpaddr-%PRIpaddr (too many)", every version;
- 4.18+ (4f6a291582 "xen/arm: Extend the memory overlap check to include
  bootmodules"; HostRules.module_overlap), when it overlaps a module
  already registered: "Region: [%#PRIpaddr, %#PRIpaddr) overlapping with
  mod[%u]: [%#PRIpaddr, %#PRIpaddr)". The check comes before the search for
  the same kind at the same address, so a module two domains share is
  dropped the second time but still found.

kernel_probe then finds a domain's modules by kind and address
(boot_module_find_by_addr_and_kind): a kernel no longer there is "Missing
kernel boot module?" and create_domUs panics; a ramdisk or partial DT no
longer there is silently left out. Xen's own image and the FDT occupy
addresses xendt does not know, so a module over them is not caught here,
nor one over reserved memory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from xendt.domu import domains
from xendt.errors import XenFailure
from xendt.fdt.tree import Node, Tree
from xendt.host import xen_dt
from xendt.xen.rules import HostRules

#: -ENOENT, what kernel_probe returns for a missing kernel.
ENOENT = -2
#: boot_module_kind_as_string for the kinds a domain's modules have.
KIND_NAMES = {"kernel": "Kernel", "ramdisk": "Ramdisk", "device-tree": "DTB"}
#: fdt_node_to_kind's compatibles (bootfdt.c @ RELEASE-4.22.0; inline in
#: process_multiboot_node before): anything else is a guess. Before 4.21 a
#: multiboot,microcode node is guessed too; only the kinds of a domain's own
#: modules (always named) decide a build, so that is not modelled.
_KINDS = (("kernel", ("xen,linux-zimage", "multiboot,kernel")),
          ("ramdisk", ("xen,linux-initrd", "multiboot,ramdisk")),
          ("xsm", ("xen,xsm-policy",)), ("device-tree", ("multiboot,device-tree",)),
          ("microcode", ("multiboot,microcode",)))


@dataclass(frozen=True)
class BootModule:
    """One module as add_boot_module sees it: its kind, node and `reg`."""

    kind: str
    path: str
    base: int
    size: int


@dataclass(frozen=True)
class Scan:
    """What the early scan leaves: the modules registered (with their
    index in bootinfo.modules) and those dropped, each with Xen's line."""

    kept: tuple[tuple[int, BootModule], ...]
    dropped: tuple[tuple[BootModule, str], ...]

    def finds(self, kind: str, base: int) -> bool:
        """boot_module_find_by_addr_and_kind."""
        return any(m.kind == kind and m.base == base for _, m in self.kept)


def scan(tree: Tree, rules: HostRules) -> Scan:
    """add_boot_module over the host DT's modules, in DT order."""
    kept: list[tuple[int, BootModule]] = []
    dropped: list[tuple[BootModule, str]] = []
    count = rules.early_modules
    for module in _modules(tree):
        if count == rules.max_modules:
            dropped.append((module, f"\"Ignoring {KIND_NAMES.get(module.kind, module.kind)} boot"
                                    f" module at {_paddr(module.base)}-"
                                    f"{_paddr(module.base + module.size)} (too many)\""))
            continue
        if rules.module_overlap == "dropped":
            clash = next(((i, m) for i, m in kept if _overlap(module, m)), None)
            if clash is not None:
                i, m = clash
                dropped.append((module, f"\"Region: [{_paddr(module.base, True)},"
                                        f" {_paddr(module.base + module.size, True)})"
                                        f" overlapping with mod[{i}]: [{_paddr(m.base, True)},"
                                        f" {_paddr(m.base + m.size, True)})\""))
                continue
        if any(m.kind == module.kind and m.base == module.base for _, m in kept):
            continue  # the same module again: registered once
        kept.append((count, module))
        count += 1
    return Scan(tuple(kept), tuple(dropped))


def keep(tree: Tree, dom: domains.Dom0lessDomain, rules: HostRules, version: str,
         warnings: list[str]) -> tuple[domains.Dom0lessDomain, set[str]]:
    """The domain as kernel_probe finds it after the scan: a dropped kernel
    is a XenFailure (Xen panics), a dropped ramdisk or partial DT is left
    out with a warning. Returns the domain and the kinds left out."""
    result = scan(tree, rules)
    gone: set[str] = set()
    for module in (dom.kernel, dom.ramdisk, dom.partial):
        if module is None or result.finds(module.kind, module.address):
            continue
        why = next((line for m, line in result.dropped
                    if m.kind == module.kind and m.base == module.address), "")
        if module.kind == "kernel":
            panic = rules.domu_panic.format(name=dom.name.split("@")[0], rc=ENOENT)
            raise XenFailure(f"{module.path}: Xen {version}'s early scan drops the kernel module"
                             f" ({why}): kernel_probe prints \"Missing kernel boot module?\", then"
                             f" panic \"{panic}\"")
        gone.add(module.kind)
        what = "ramdisk" if module.kind == "ramdisk" else "partial device tree"
        warnings.append(f"{dom.name}: Xen {version}'s early scan drops the {what} module"
                        f" {module.path} ({why}): the domain is built without it")
    if gone:
        dom = replace(dom, ramdisk=None if "ramdisk" in gone else dom.ramdisk,
                      partial=None if "device-tree" in gone else dom.partial)
    return dom, gone


def _modules(tree: Tree) -> list[BootModule]:
    """process_multiboot_node's nodes (depth 1 to 3, a path starting with
    "/chosen"), their kinds (the first two unknown ones taken as kernel
    then ramdisk) and the first `reg` entry."""
    out: list[BootModule] = []
    guesses = iter(("kernel", "ramdisk"))
    for node in _shallow(tree):
        if not any(node.is_compatible(c) for c in domains.MODULE_COMPATIBLES):
            continue
        reg = xen_dt.meminfo(tree, node, "reg", xen_dt.cells(tree, node)) \
            if node.get("reg") is not None else ()
        if not reg:
            continue  # Xen panics on a module without reg: domains.read says so
        kind = _kind(node) or next(guesses, "unknown")
        out.append(BootModule(kind, node.path, reg[0].base, reg[0].size))
    return out


def _shallow(tree: Tree) -> list[Node]:
    """The nodes at depth 1 to 3 under a top-level node whose name starts
    with "chosen" (strncmp of the path's first 7 bytes), in DT order. The
    depth is counted while walking: a node name may hold a "/"."""
    out: list[Node] = []
    for top in tree.root.children:
        if not top.blob_name.startswith("chosen"):
            continue
        out.append(top)
        for child in top.children:
            out.append(child)
            out.extend(child.children)
    return out


def _kind(node: Node) -> str | None:
    return next((kind for kind, compatibles in _KINDS
                 if any(node.is_compatible(c) for c in compatibles)), None)


def _overlap(a: BootModule, b: BootModule) -> bool:
    """bootmodules_overlap_check: [start, start + size) against each."""
    return not (a.base + a.size <= b.base or a.base >= b.base + b.size)


def _paddr(value: int, alternate: bool = False) -> str:
    """printk's %PRIpaddr (arm64: %016lx), or %#PRIpaddr (0x, within 16)."""
    if not alternate:
        return f"{value:016x}"
    return f"{value:#016x}" if value else "0" * 16
