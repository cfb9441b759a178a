"""MAX_MODULES: the boot modules Xen registers, and the dom0less kernel it
then cannot find.

bootinfo.modules holds MAX_MODULES entries (32 in every version, the
layout's [host] max-modules; xen/include/asm-arm/setup.h @ RELEASE-4.14.0 …
xen/include/xen/bootinfo.h @ RELEASE-4.22.0). start_xen registers Xen's own
image first, boot_fdt_info the host DTB next, and the early scan then every
module node (compatible "multiboot,module" or "xen,multiboot-module", at
most 3 levels deep, under /chosen) in DT order. add_boot_module
(xen/arch/arm/setup.c @ RELEASE-4.14.0 … RELEASE-4.19.0,
xen/common/device-tree/bootinfo.c @ RELEASE-4.21.0) returns an existing
module of the same kind and address, and once the array is full prints
"Ignoring ... boot module ... (too many)" and registers nothing. A dom0less
domain whose kernel module was ignored fails in kernel_probe ("Missing
kernel boot module?") and Xen panics.

xendt tells module kinds apart by compatible ("multiboot,kernel",
"xen,linux-zimage", ...); a module of no known kind counts as one of its own
(Xen guesses kernel, then ramdisk, for those; only duplicates of the same
kind and address are affected). The 4.19+ refusal of a module over reserved
memory (check_reserved_regions_overlap) is not applied here.
"""

from __future__ import annotations

from xendt.fdt.tree import Node, Tree
from xendt.host import xen_dt

#: Xen's own image and the host DTB, registered before the scan.
BEFORE_SCAN = 2
_KINDS = (("kernel", ("multiboot,kernel", "xen,linux-zimage")),
          ("ramdisk", ("multiboot,ramdisk", "xen,linux-initrd")),
          ("xsm", ("xen,xsm-policy",)), ("device-tree", ("multiboot,device-tree",)))
_MODULE = ("multiboot,module", "xen,multiboot-module")


def registered(tree: Tree, limit: int) -> tuple[frozenset[tuple[str, int]], int]:
    """The (kind, address) of every module Xen registers with `limit`
    (MAX_MODULES) slots, and how many it ignores."""
    return tree.cached(("host.modules", limit), lambda: _scan(tree, limit))


def _scan(tree: Tree, limit: int) -> tuple[frozenset[tuple[str, int]], int]:
    chosen = tree.node("/chosen")
    found: dict[tuple[str, int], None] = {}
    ignored = 0
    for node in tree.descendants(chosen) if chosen is not None else ():
        if node.depth > 3 or not any(node.is_compatible(c) for c in _MODULE):
            continue
        key = (kind(node), _address(tree, node))
        if len(found) + BEFORE_SCAN >= limit:
            ignored += 1
        else:
            found.setdefault(key)
    return frozenset(found), ignored


def kind(node: Node) -> str:
    """The module's kind as its compatible says, or its node path."""
    return next((k for k, names in _KINDS if any(node.is_compatible(n) for n in names)),
                node.path)


def _address(tree: Tree, node: Node) -> int:
    reg = xen_dt.meminfo(tree, node, "reg", xen_dt.cells(tree, node))
    return reg[0].base if reg else -1


def ignored_kernel(tree: Tree, domain: Node, limit: int) -> str:
    """Why Xen finds no kernel for dom0less `domain` because MAX_MODULES
    (`limit`) ran out, or ""."""
    kept, ignored = registered(tree, limit)
    if not ignored:
        return ""
    for child in domain.children:
        if child.is_compatible("multiboot,kernel") and child.get("reg") is not None:
            address = _address(tree, child)
            if ("kernel", address) not in kept:
                return (f"its kernel module at {address:#x} is one of the {ignored} boot modules"
                        f" past Xen's {limit} (MAX_MODULES, with Xen itself and the DTB):"
                        f" \"Ignoring Kernel boot module ... (too many)\", then"
                        f" \"Missing kernel boot module?\" and panic \"Could not set up domain"
                        f" {domain.name}\"")
    return ""
