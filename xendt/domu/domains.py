"""The dom0less domains of a host DT, read as Xen reads /chosen/domU* nodes:
the one model of a dom0less domain, which `build`, `host-regions --domain`
and `show` all use (xendt.hostregions.domains derives its hole-finding view from
it), with one set of refusals: what Xen fails on is a XenFailure, a value
Xen cannot even read a DtbError.

Xen learns a dom0less domain twice: the early FDT scan registers its
modules (process_multiboot_node: nodes compatible with "multiboot,module" at
depth 3 or less under /chosen, their `reg` in the parent's cells, and each
module's `bootargs` as a command line keyed by the *parent's* node name),
then create_domUs walks the children of /chosen compatible with
"xen,domain" in DT order and construct_domU/kernel_probe read the domain
node (``xen/arch/arm/bootfdt.c``, ``xen/arch/arm/domain_build.c`` @
RELEASE-4.14.0 … RELEASE-4.18.0, ``xen/arch/arm/dom0less-build.c`` @
RELEASE-4.19.0, RELEASE-4.20.0, ``xen/common/device-tree/dom0less-build.c``
and ``dom0less-bindings.c`` @ RELEASE-4.21.0, RELEASE-4.22.0).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from xendt.domu import facts as _facts
from xendt.errors import ConfigError, DtbError, XenFailure
from xendt.fdt.tree import Node, Tree
from xendt.host import xen_dt
from xendt.ranges import KiB, Range
from xendt.xen.context import Xen

DOMAIN_COMPATIBLE = "xen,domain"
SHM_COMPATIBLE = "xen,domain-shared-memory-v1"
#: The compatibles that make the early scan register a module.
MODULE_COMPATIBLES = ("multiboot,module", "xen,multiboot-module")
#: Module kinds kernel_probe looks for among a domain node's children.
MODULE_KINDS = ("kernel", "ramdisk", "device-tree")
#: The module kinds process_multiboot_node knows besides a kernel.
_KNOWN_KINDS = ("xen,linux-initrd", "multiboot,ramdisk", "xen,xsm-policy",
                "multiboot,device-tree")
#: DOMAIN_CAPS_HARDWARE, DOMAIN_CAPS_XENSTORE (xen/include/public/bootfdt.h
#: @ RELEASE-4.21.0).
CAPS_HARDWARE, CAPS_XENSTORE = 1 << 1, 1 << 2
#: PAGE_SIZE: `memory` is allocated in whole pages.
PAGE_SIZE = 0x1000
#: BOOTMOD_MAX_CMDLINE (xen/arch/arm/include/asm/setup.h @ RELEASE-4.17.0).
MAX_CMDLINE = 1024


@dataclass(frozen=True)
class Module:
    """A boot module of a domain.

    kind:
      "kernel", "ramdisk" or "device-tree".
    path:
      its node in the host DT.
    address, size:
      its `reg`: where the bootloader put it and its length.
    """

    kind: str
    path: str
    address: int
    size: int


@dataclass(frozen=True)
class SharedMemory:
    """A static shared memory node of the domain.

    path:
      the node (compatible "xen,domain-shared-memory-v1").
    shm_id:
      its xen,shm-id.
    host:
      the host range, or None where Xen allocates it (4.19+).
    guest:
      where the domain sees it.
    """

    path: str
    shm_id: str
    host: Range | None
    guest: Range


@dataclass(frozen=True)
class Dom0lessDomain:
    """A dom0less domain node.

    name, path:
      the node name (with unit address, if any) and its path.
    vcpus:
      `cpus`.
    memory:
      `memory`, in bytes (the property is in KiB).
    vpl011:
      whether the `vpl011` property is present.
    enhanced:
      the xen,enhanced string; "" for an empty value or one Xen cannot read
      as a string (both mean "enabled"); None without the property.
    direct_map:
      whether the `direct-map` property is present.
    static_mem:
      the xen,static-mem host banks, in DT order (empty ones kept).
    kernel, ramdisk, partial:
      the modules (the last of each kind wins, as in kernel_probe).
    bootargs:
      the command line Xen finds for the domain, or None.
    shm:
      its static shared memory nodes, in DT order.
    capabilities:
      the `capabilities` bits (4.21+), 0 without the property.
    features:
      the gated properties (xendt.domu.facts.features) the node uses.
    ignored:
      those of `features` this Xen does not read: it builds the domain as
      if they were absent.
    passthrough:
      the `passthrough` string (4.19+), None without it.
    sci_type:
      the xen,sci_type string, None without it.
    iommu_module:
      whether a node compatible with "multiboot,device-tree" follows the
      domain node anywhere in the tree: create_domUs asks
      dt_find_compatible_node(node, NULL, ...), which searches every later
      node, so a later domain's module counts too.
    """

    name: str
    path: str
    vcpus: int
    memory: int
    vpl011: bool
    enhanced: str | None
    direct_map: bool
    static_mem: tuple[Range, ...]
    kernel: Module | None
    ramdisk: Module | None
    partial: Module | None
    bootargs: str | None
    shm: tuple[SharedMemory, ...]
    capabilities: int
    features: tuple[str, ...]
    ignored: tuple[str, ...]
    passthrough: str | None = None
    sci_type: str | None = None
    iommu_module: bool = False

    @property
    def hardware(self) -> bool:
        """Whether `capabilities` makes it the hardware domain (4.21+)."""
        return bool(self.capabilities & CAPS_HARDWARE)


def domain_nodes(tree: Tree) -> tuple[Node, ...]:
    """The children of /chosen compatible with "xen,domain", in DT order."""
    chosen = tree.node("/chosen")
    if chosen is None:
        return ()
    return tree.cached("dom0less.domain_nodes", lambda: tuple(
        n for n in chosen.children if n.is_compatible(DOMAIN_COMPATIBLE)))


def names(tree: Tree) -> tuple[str, ...]:
    """The dom0less domains' node names, in the order Xen creates them."""
    return tuple(n.name for n in domain_nodes(tree))


def find(tree: Tree, name: str) -> Node:
    """The domain node called `name`; ConfigError naming the known ones,
    or when two nodes have that name (Xen builds each: xendt cannot tell
    them apart)."""
    nodes = domain_nodes(tree)
    found = [node for node in nodes if node.name == name]
    if len(found) > 1:
        raise ConfigError(f"{tree.file}: {len(found)} dom0less domains named {name!r} under"
                          f" /chosen: Xen builds each, xendt cannot tell them apart (rename one)")
    if found:
        return found[0]
    known = ", ".join(n.name for n in nodes) or "none"
    raise ConfigError(f"{tree.file}: no dom0less domain {name!r} under /chosen (compatible"
                      f" \"xen,domain\"); found: {known}")


def read(tree: Tree, name: str, xen: Xen) -> Dom0lessDomain:
    """The domain `name` as Xen `xen` (X.Y or X.Y.Z, resolved) reads it
    (construct_domU): a property it does not read is as good as absent.
    DtbError for a value Xen cannot read; XenFailure for one it fails on."""
    node = find(tree, name)
    features = _features(node)
    ignored = tuple(f for f in features if not _reads(xen, f))
    where = f"{node.path} in {tree.file}"
    vcpus = node.u32("cpus")
    if vcpus is None:
        raise DtbError(f"{where}: missing property 'cpus' (one cell); Xen panics")
    memory = _memory(node, where)
    static_mem: tuple[Range, ...] = ()
    if node.get("xen,static-mem") is not None and _reads(xen, "xen,static-mem"):
        static_mem = xen_dt.meminfo(tree, node, "xen,static-mem", _static_mem_cells(tree, node,
                                                                                     xen))
    direct_map = node.get("direct-map") is not None and "direct-map" not in ignored
    if direct_map and not static_mem:
        raise XenFailure(f"{node.path}: direct-map without xen,static-mem (Xen panics: \"direct-map"
                         f" is not valid for domain … without static allocation\")")
    modules = _modules(tree, node)
    later = itertools.dropwhile(lambda n: n is not node, tree.nodes())
    next(later, None)
    return Dom0lessDomain(
        name=node.name, path=node.path, vcpus=vcpus, memory=memory,
        vpl011=node.get("vpl011") is not None,
        enhanced=_enhanced(node),
        direct_map=direct_map,
        static_mem=static_mem,
        kernel=modules.get("kernel"), ramdisk=modules.get("ramdisk"),
        partial=modules.get("device-tree"),
        bootargs=_bootargs(tree, node),
        shm=_shm(tree, node, xen),
        capabilities=0 if "capabilities" in ignored else node.u32("capabilities") or 0,
        features=features, ignored=ignored,
        passthrough=None if "passthrough" in ignored else node.string("passthrough"),
        sci_type=node.string("xen,sci_type"),
        iommu_module=any(n.is_compatible("multiboot,device-tree") for n in later))


def _memory(node: Node, where: str) -> int:
    """construct_domU's dt_property_read_u64 of `memory` (KiB), in bytes:
    DtbError when it cannot be read, XenFailure unless it is a positive
    number of whole pages."""
    value = node.get("memory")
    if value is None or len(value) < 8:
        raise DtbError(f"expected property 'memory' on {where} to hold a 64-bit KiB count"
                       f" (2 cells), got {value!r}; Xen cannot build the domain")
    size = int.from_bytes(value[:8], "big") * KiB
    if size <= 0 or size % PAGE_SIZE:
        raise XenFailure(f"{node.path}: 'memory' must be a positive multiple of 4 KiB, got"
                         f" {size // KiB} KiB")
    return size


def ignored_warning(domain: Dom0lessDomain, feature: str, release: str) -> str:
    """What to tell the user about a property (or child) Xen `release` does
    not read: it builds the domain without it, so xendt does too."""
    what = (f"a child compatible with {feature[len('child:'):]!r}"
            if feature.startswith("child:") else f"property {feature!r}")
    return (f"{domain.name}: {what} is read from Xen {_facts.first_reader(feature, release)}"
            f" on; Xen {release} ignores it")


def has_xenstore_domain(tree: Tree, version: str) -> bool:
    """Whether Xen `version` has a domain for xenstore: dom0 (a module
    directly under /chosen) or, from 4.21, a domain node whose
    `capabilities` hold the xenstore bit."""
    chosen = tree.node("/chosen")
    if chosen is None:
        return False
    if any(c.is_compatible(m) for c in chosen.children for m in MODULE_COMPATIBLES):
        return True
    return _facts.supports(version, "capabilities") and any(
        (node.u32("capabilities") or 0) & CAPS_XENSTORE for node in domain_nodes(tree))


def has_dom0_kernel(tree: Tree) -> bool:
    """Whether the early scan registers a dom0 kernel: a module at depth 3
    or less under /chosen, not a xen,domain's, that is "multiboot,kernel"
    (or "xen,linux-zimage") or the first module of no known kind, which
    process_multiboot_node guesses is a kernel (bootfdt.c @
    RELEASE-4.14.0)."""
    chosen = tree.node("/chosen")
    if chosen is None:
        return False
    guessed = False
    stack = [(child, chosen) for child in reversed(chosen.children)]
    while stack:
        node, parent = stack.pop()
        if node.path.count("/") > 3:
            continue
        stack.extend((child, node) for child in reversed(node.children))
        if not any(node.is_compatible(c) for c in MODULE_COMPATIBLES):
            continue
        kernel = node.is_compatible("multiboot,kernel") or node.is_compatible("xen,linux-zimage")
        if not kernel and not any(node.is_compatible(c) for c in _KNOWN_KINDS):
            kernel, guessed = not guessed, True
        if kernel and not parent.is_compatible(DOMAIN_COMPATIBLE):
            return True
    return False



def _enhanced(node: Node) -> str | None:
    """dt_property_read_string of xen,enhanced: an empty value (-ENODATA)
    or one without a NUL in it (-EILSEQ) count as "enabled", i.e. ""."""
    value = node.get("xen,enhanced")
    if value is None:
        return None
    if not value or b"\0" not in value:
        return ""
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


def _reads(xen: Xen, feature: str) -> bool:
    """Whether Xen `xen` reads the domain-node property `feature` (or
    "child:<compatible>" subnode): its [dom0less] properties."""
    return feature in xen.dom0less.properties


def _static_mem_cells(tree: Tree, node: Node, xen: Xen) -> tuple[int, int]:
    """4.16 reads xen,static-mem with the node's own
    #xen,static-mem-address-cells/-size-cells (allocate_static_memory,
    domain_build.c @ RELEASE-4.16.0); 4.17+ with the parent's cells
    (parse_static_mem_prop, dt_n_addr_cells, @ RELEASE-4.17.0)."""
    if _reads(xen, "direct-map"):
        return xen_dt.cells(tree, node)
    own = []
    for prop in ("#xen,static-mem-address-cells", "#xen,static-mem-size-cells"):
        value = node.u32(prop)
        if value is None:
            raise DtbError(f"expected property {prop!r} on {node.path} in {tree.file} (Xen"
                           f" {xen.asked} reads xen,static-mem with it)")
        own.append(value)
    return own[0], own[1]


def _modules(tree: Tree, domain: Node) -> dict[str, Module]:
    """kernel_probe's loop over the domain's children: the last module of
    each kind wins; a device-tree module without `reg` is skipped. Only
    modules the early scan registered (compatible "multiboot,module") are
    found by address."""
    found: dict[str, Module] = {}
    for child in domain.children:
        kind = next((k for k in MODULE_KINDS if child.is_compatible(f"multiboot,{k}")), None)
        if kind is None:
            continue
        if child.get("reg") is None:
            if kind == "device-tree":
                continue
            raise DtbError(f"{child.path} in {tree.file}: missing 'reg' (Xen panics)")
        if not any(child.is_compatible(c) for c in MODULE_COMPATIBLES):
            raise DtbError(f"{child.path} in {tree.file}: compatible lacks \"multiboot,module\","
                           f" so Xen's early scan never registers it and cannot find the"
                           f" {kind}")
        reg = xen_dt.meminfo(tree, child, "reg", xen_dt.cells(tree, child))
        if not reg:
            raise DtbError(f"{child.path} in {tree.file}: empty 'reg'")
        found[kind] = Module(kind, child.path, reg[0].base, reg[0].size)
    return found


def _bootargs(tree: Tree, domain: Node) -> str | None:
    """The first module child with `bootargs` (process_multiboot_node keys
    it by fdt_get_name of the parent, the name with its unit address, while
    boot_cmdline_find_by_name looks up dt_node_name, the name without it:
    a domain node with a unit address gets no command line). The early
    scan registers every module's bootargs, and panics on one too long."""
    found = None
    for child in domain.children:
        if not any(child.is_compatible(c) for c in MODULE_COMPATIBLES):
            continue
        value = child.get("bootargs")
        if value is not None:
            text = value.split(b"\0", 1)[0]
            if len(text) > MAX_CMDLINE:  # add_boot_cmdline (setup.c @ RELEASE-4.17.0)
                raise XenFailure(f"{child.path} in {tree.file}: bootargs of {len(text)} bytes:"
                                 f" Xen panics \"module {domain.name} command line too long\"")
            if found is None:
                found = text.decode("utf-8", "surrogateescape")
    return None if "@" in domain.name else found


def _shm(tree: Tree, domain: Node, xen: Xen) -> tuple[SharedMemory, ...]:
    """process_shm: the domain's children compatible with
    "xen,domain-shared-memory-v1", xen,shared-mem = <pbase gbase size> in
    the node's cells, or (4.19+, static-shmem.c @ RELEASE-4.19.0) <gbase
    size> leaving the host address to Xen."""
    if not _reads(xen, "child:" + SHM_COMPATIBLE):
        return ()
    out = []
    for child in domain.children:
        if not child.is_compatible(SHM_COMPATIBLE):
            continue
        where = f"{child.path} in {tree.file}"
        shm_id = child.string("xen,shm-id")
        if not shm_id:
            raise DtbError(f"{where}: missing 'xen,shm-id' (Xen refuses the domain)")
        na, ns = xen_dt.cells(tree, child)
        value = child.get("xen,shared-mem") or b""
        cells = xen_dt.cells_of(value)
        if len(value) == 4 * (2 * na + ns):
            host = Range(xen_dt.read_number(cells[:na]), xen_dt.read_number(cells[2 * na:]))
            guest = Range(xen_dt.read_number(cells[na:2 * na]), host.size)
        elif len(value) == 4 * (na + ns) and _host_placed_shm(xen):
            host = None
            guest = Range(xen_dt.read_number(cells[:na]), xen_dt.read_number(cells[na:]))
        else:
            short = " or <gbase size>" if _host_placed_shm(xen) else ""
            raise DtbError(f"expected property 'xen,shared-mem' on {where} to hold <pbase gbase"
                           f" size>{short} in {na}+{ns} cells, got {len(value)} bytes")
        out.append(SharedMemory(child.path, shm_id, host, guest))
    return tuple(out)


def _features(node: Node) -> tuple[str, ...]:
    out = []
    for feature in _facts.features():
        if feature.startswith("child:"):
            compatible = feature[len("child:"):]
            if any(c.is_compatible(compatible) for c in node.children):
                out.append(feature)
        elif node.get(feature) is not None:
            out.append(feature)
    return tuple(out)


def _host_placed_shm(xen: Xen) -> bool:
    """Whether Xen `xen` lets xen,shared-mem leave the host address to it
    (<gbase size>): the layout's [host] static-shm = "separate"."""
    return xen.layout.host.static_shm == "separate"
