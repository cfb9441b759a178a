"""The dom0less domains of a host DT, read as Xen reads /chosen/domU* nodes.

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

from dataclasses import dataclass

from xendt.dom0less import facts as _facts
from xendt.errors import ConfigError, DtbError
from xendt.fdt.tree import Node, Tree
from xendt.host import xen_dt
from xendt.ranges import KiB, Range

DOMAIN_COMPATIBLE = "xen,domain"
SHM_COMPATIBLE = "xen,domain-shared-memory-v1"
#: The compatibles that make the early scan register a module.
MODULE_COMPATIBLES = ("multiboot,module", "xen,multiboot-module")
#: Module kinds kernel_probe looks for among a domain node's children.
MODULE_KINDS = ("kernel", "ramdisk", "device-tree")
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
class Domain:
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
      the keys of xendt.dom0less.facts.FEATURES the node uses.
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
    """The domain node called `name`; ConfigError naming the known ones."""
    nodes = domain_nodes(tree)
    by_name = tree.cached("dom0less.domains_by_name",
                          lambda: {n.name: n for n in reversed(nodes)})  # the first of a name
    if name in by_name:
        return by_name[name]
    known = ", ".join(n.name for n in nodes) or "none"
    raise ConfigError(f"{tree.file}: no dom0less domain {name!r} under /chosen (compatible"
                      f" \"xen,domain\"); found: {known}")


def read(tree: Tree, name: str, version: str) -> Domain:
    """The domain `name` as Xen `version` reads it."""
    node = find(tree, name)
    features = _features(node)
    _refuse_unread(node, features, version)
    where = f"{node.path} in {tree.file}"
    vcpus = _u32(node, "cpus")
    if vcpus is None:
        raise DtbError(f"{where}: missing property 'cpus' (one cell); Xen panics")
    memory = node.get("memory")
    if memory is None or len(memory) < 8:
        raise DtbError(f"expected property 'memory' on {where} to hold a 64-bit KiB count"
                       f" (2 cells), got {memory!r}; Xen cannot build the domain")
    static_mem: tuple[Range, ...] = ()
    if node.get("xen,static-mem") is not None and _facts.supports(version, "xen,static-mem"):
        static_mem = xen_dt.meminfo(tree, node, "xen,static-mem", _static_mem_cells(tree, node,
                                                                                     version))
    modules = _modules(tree, node)
    return Domain(
        name=node.name, path=node.path, vcpus=vcpus,
        memory=int.from_bytes(memory[:8], "big") * KiB,
        vpl011=node.get("vpl011") is not None,
        enhanced=_enhanced(node),
        direct_map=node.get("direct-map") is not None,
        static_mem=static_mem,
        kernel=modules.get("kernel"), ramdisk=modules.get("ramdisk"),
        partial=modules.get("device-tree"),
        bootargs=_bootargs(tree, node),
        shm=_shm(tree, node, version),
        capabilities=_u32(node, "capabilities") or 0,
        features=features)


def _refuse_unread(node: Node, features: tuple[str, ...], version: str) -> None:
    """One line for the first property (or child) `version` does not read:
    that Xen would silently build something else."""
    for feature in features:
        if not _facts.supports(version, feature):
            what = (f"a child compatible with {feature[len('child:'):]!r}"
                    if feature.startswith("child:") else f"property {feature!r}")
            raise ConfigError(f"{node.path}: {what} needs Xen {_facts.first_version(feature)}"
                              f" or later (Xen {version} ignores it)")


def _u32(node: Node, prop: str) -> int | None:
    """dt_property_read_u32: the first cell, None when absent or shorter."""
    value = node.get(prop)
    return int.from_bytes(value[:4], "big") if value is not None and len(value) >= 4 else None


def _enhanced(node: Node) -> str | None:
    """dt_property_read_string of xen,enhanced: an empty value (-ENODATA)
    or one without a NUL in it (-EILSEQ) count as "enabled", i.e. ""."""
    value = node.get("xen,enhanced")
    if value is None:
        return None
    if not value or b"\0" not in value:
        return ""
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


def _static_mem_cells(tree: Tree, node: Node, version: str) -> tuple[int, int]:
    """4.16 reads xen,static-mem with the node's own
    #xen,static-mem-address-cells/-size-cells (allocate_static_memory,
    domain_build.c @ RELEASE-4.16.0); 4.17+ with the parent's cells
    (parse_static_mem_prop, dt_n_addr_cells, @ RELEASE-4.17.0)."""
    if _facts.supports(version, "direct-map"):
        return xen_dt.cells(tree, node)
    own = []
    for prop in ("#xen,static-mem-address-cells", "#xen,static-mem-size-cells"):
        value = _u32(node, prop)
        if value is None:
            raise DtbError(f"expected property {prop!r} on {node.path} in {tree.file} (Xen"
                           f" {version} reads xen,static-mem with it)")
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
    a domain node with a unit address gets no command line)."""
    if "@" in domain.name:
        return None
    for child in domain.children:
        if not any(child.is_compatible(c) for c in MODULE_COMPATIBLES):
            continue
        value = child.get("bootargs")
        if value is not None:
            text = value.split(b"\0", 1)[0]
            if len(text) > MAX_CMDLINE:
                raise DtbError(f"{child.path} in {tree.file}: bootargs is {len(text)} bytes,"
                               f" over Xen's {MAX_CMDLINE} (Xen panics)")
            return text.decode("utf-8", "surrogateescape")
    return None


def _shm(tree: Tree, domain: Node, version: str) -> tuple[SharedMemory, ...]:
    """process_shm: the domain's children compatible with
    "xen,domain-shared-memory-v1", xen,shared-mem = <pbase gbase size> in
    the node's cells, or (4.19+, static-shmem.c @ RELEASE-4.19.0) <gbase
    size> leaving the host address to Xen."""
    if not _facts.supports(version, "child:" + SHM_COMPATIBLE):
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
        elif len(value) == 4 * (na + ns) and _host_placed_shm(version):
            host = None
            guest = Range(xen_dt.read_number(cells[:na]), xen_dt.read_number(cells[na:]))
        else:
            short = " or <gbase size>" if _host_placed_shm(version) else ""
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


def _host_placed_shm(version: str) -> bool:
    """Whether Xen `version` lets xen,shared-mem leave the host address to
    it (<gbase size>): the layout's [host] static-shm = "separate"."""
    from xendt.xen import layouts

    return layouts.load(version).host.static_shm == "separate"
