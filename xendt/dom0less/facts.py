"""Per-version facts of the device tree Xen builds for a dom0less domU.

One dict, keyed like a future ``[dom0less]`` table of layouts/*.toml (see
/work/scratch/dom0less/INTEGRATION.md), each value citing the Xen source it
was read from. `facts(version)` returns the values of the newest entry at or
before that version, so a key only appears where its value changes.

Node order names what prepare_dtb_domU writes between the root cells and
fdt_finish: "chosen", "psci", "cpus", "memory", "reserved-memory",
"passthrough" (the partial DT's /aliases and /passthrough, copied by
domain_handle_dtb_bootmodule), "gic", "timer", "vpl011", "hypervisor".
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.errors import ConfigError


@dataclass(frozen=True)
class Facts:
    """What one Xen version's prepare_dtb_domU and its helpers do.

    version:
      "X.Y".
    order:
      the nodes in the order written (see the module docstring).
    dtb_size:
      DOMU_DTB_SIZE, the fdt_create buffer.
    dtb_size_adds_module:
      whether the partial DT module's size is added to the buffer (capped
      at 2 MiB).
    zero_ram1_bank:
      whether a domU whose RAM fits bank 0 still gets a zero-size second
      bank in its /memory reg.
    initrd_from_kernel:
      whether /chosen gets the initrd placeholders whenever the kernel
      module has a size (so <0 0> without a ramdisk).
    shm_in_memory:
      whether static shared memory is also listed in /memory reg.
    gic_phandle_zero:
      whether a partial DT /gic node without a phandle sets phandle 0.
    redistributor_regions:
      whether the GICv3 node has #redistributor-regions.
    enhanced:
      the xen,enhanced strings that give a /hypervisor node (an empty value
      always does where the property is known).
    enhanced_needs_xenstore:
      the xen,enhanced values that need a xenstore domain (dom0).
    static_mem_split_bug:
      whether a xen,static-mem bank crossing guest RAM0 → RAM1 is counted
      short (Xen then panics: memory does not match).
    max_partial_phandle:
      the partial DT's highest phandle must stay below this (None: no check).
    zimage_window_check:
      whether a zImage larger than its 128 MiB load window is refused.
    uimage_first:
      whether kernel_probe tries a uImage header before the others.
    features:
      domain-node properties (and child compatibles) this version reads,
      for refusing a host DT that asks older Xen for them.
    """

    version: str
    order: tuple[str, ...]
    dtb_size: int
    dtb_size_adds_module: bool
    zero_ram1_bank: bool
    initrd_from_kernel: bool
    shm_in_memory: bool
    gic_phandle_zero: bool
    redistributor_regions: bool
    enhanced: tuple[str, ...]
    enhanced_needs_xenstore: tuple[str, ...]
    static_mem_split_bug: bool
    max_partial_phandle: int | None
    zimage_window_check: bool
    uimage_first: bool


#: Domain-node properties (or "child:<compatible>") and the first version
#: whose create_domUs/construct_domU reads them.
FEATURES: dict[str, str] = {
    # allocate_static_memory, xen/arch/arm/domain_build.c @ RELEASE-4.16.0
    "xen,static-mem": "4.16",
    # create_domUs, xen/arch/arm/domain_build.c @ RELEASE-4.17.0
    "direct-map": "4.17",
    "xen,enhanced": "4.17",
    "domain-cpupool": "4.17",
    "xen,domain-p2m-mem-mb": "4.17",
    "child:xen,domain-shared-memory-v1": "4.17",
    "child:xen,evtchn-v1": "4.17",
    # create_domUs, xen/arch/arm/domain_build.c @ RELEASE-4.18.0
    "sve": "4.18",
    "max_grant_version": "4.18",
    "max_grant_frames": "4.18",
    "max_maptrack_frames": "4.18",
    # create_domUs, xen/arch/arm/dom0less-build.c @ RELEASE-4.19.0
    "passthrough": "4.19",
    # xen/arch/arm/dom0less-build.c @ RELEASE-4.20.0
    "llc-colors": "4.20",
    # parse_dom0less_node, xen/common/device-tree/dom0less-bindings.c @ RELEASE-4.21.0
    "capabilities": "4.21",
    "trap-unmapped-accesses": "4.21",
    "child:xen,vcpu": "4.21",
}

_ORDER_4_14 = ("chosen", "psci", "cpus", "memory", "passthrough", "gic", "timer", "vpl011")
_ORDER_4_17 = ("chosen", "psci", "cpus", "memory", "reserved-memory", "passthrough", "gic",
               "timer", "vpl011", "hypervisor")
_ORDER_4_21 = ("chosen", "cpus", "memory", "reserved-memory", "passthrough", "gic", "timer",
               "hypervisor", "psci", "vpl011")
_ORDER_4_22 = ("chosen", "passthrough", "cpus", "memory", "reserved-memory", "gic", "timer",
               "hypervisor", "psci", "vpl011")

#: The changes, by the version they first appear in.
_CHANGES: dict[str, dict[str, object]] = {
    "4.14": {
        # prepare_dtb_domU, xen/arch/arm/domain_build.c @ RELEASE-4.14.0
        "order": _ORDER_4_14,
        "dtb_size": 4096,
        "dtb_size_adds_module": False,
        # allocate_bank_memory records a bank of size 0 (domain_build.c @
        # RELEASE-4.14.0); fixed by d8e1ed865a "xen/arm: allocate_bank_memory:
        # don't create memory banks of size zero", first in RELEASE-4.16.0.
        "zero_ram1_bank": True,
        # make_chosen_node tests kinfo->kernel_bootmodule (domain_build.c @
        # RELEASE-4.14.0 … RELEASE-4.17.7); fixed by ac547f0bed "xen/arm: Fix
        # initrd placeholders generation in make_chosen_node()" in 4.18.
        "initrd_from_kernel": True,
        "shm_in_memory": False,
        # domain_handle_dtb_bootmodule takes fdt_get_phandle() as is; fixed
        # by 081683ea57 "xen/arm: dom0less: cope with missing /gic phandle".
        "gic_phandle_zero": True,
        "redistributor_regions": False,
        "enhanced": (),
        "enhanced_needs_xenstore": (),
        # allocate_static_memory adds the bank's remainder only (RELEASE-4.16.0
        # … RELEASE-4.21.2); fixed by d6a6ea77e1 "static-memory: Fix incorrect
        # tot_size calculation" in 4.22.
        "static_mem_split_bug": True,
        "max_partial_phandle": None,
        "zimage_window_check": False,
        "uimage_first": False,
    },
    "4.16": {"zero_ram1_bank": False},
    "4.17": {
        # prepare_dtb_domU, domain_build.c @ RELEASE-4.17.0: c7fe72607a
        # (reserved-memory for static shm), 2a2447757b (domU /hypervisor).
        "order": _ORDER_4_17,
        # construct_domU, domain_build.c @ RELEASE-4.17.0 (4a6d155a84).
        "enhanced": ("enabled", "no-xenstore"),
        "enhanced_needs_xenstore": ("enabled",),
    },
    "4.18": {
        # d27d274ffa "xen/arm: Account for domU dtb bootmodule size separately"
        "dtb_size_adds_module": True,
        "initrd_from_kernel": False,
        # kernel_probe, xen/arch/arm/kernel.c @ RELEASE-4.18.0
        "uimage_first": True,
    },
    # 7846f7699f "xen/arm: List static shared memory regions as /memory nodes"
    "4.19": {"shm_in_memory": True},
    "4.20": {
        "gic_phandle_zero": False,
        # 3679ed232e "xen/arm: dom0less: Add #redistributor-regions property
        # to GICv3 node"
        "redistributor_regions": True,
    },
    "4.21": {
        # prepare_dtb_domU and make_arch_nodes,
        # xen/common/device-tree/dom0less-build.c @ RELEASE-4.21.0 (43afe6f030)
        "order": _ORDER_4_21,
        # construct_domU @ RELEASE-4.21.0: "legacy" (DOM0LESS_ENHANCED_LEGACY)
        "enhanced": ("enabled", "no-xenstore", "legacy"),
        "enhanced_needs_xenstore": ("enabled", "legacy"),
    },
    "4.22": {
        # a010efd323 "xen/dom0less: introduce next_phandle in struct
        # kernel_info": the partial DT is copied before /cpus, and its
        # highest phandle + 1 must stay below GUEST_PHANDLE_GIC.
        "order": _ORDER_4_22,
        "max_partial_phandle": 65000,
        # e80f4da85b "xen/dom0less: Calculate guest DTB size based on
        # MAX_VIRT_CPUS": 2048 + 128 * 128
        "dtb_size": 2048 + 128 * 128,
        "static_mem_split_bug": False,
        # kernel_zimage_place_in_bank, xen/arch/arm/kernel.c @ RELEASE-4.22.0
        "zimage_window_check": True,
    },
}

FIRST = "4.14"
LAST = "4.22"


def _key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def facts(version: str) -> Facts:
    """The Facts of Xen `version` ("X.Y" or "X.Y.Z"; point releases of one
    branch build the same domU DTs, see the module docstring of build)."""
    try:
        key = _key(version)
    except ValueError:
        raise ConfigError(f"Xen version {version!r}: expected X.Y or X.Y.Z") from None
    if not _key(FIRST) <= key <= _key(LAST):
        raise ConfigError(f"Xen version {version!r}: dom0less DTs are known for {FIRST} to {LAST}")
    values: dict[str, object] = {}
    for changed, change in sorted(_CHANGES.items(), key=lambda item: _key(item[0])):
        if _key(changed) <= key:
            values.update(change)
    return Facts(version=f"{key[0]}.{key[1]}", **values)  # type: ignore[arg-type]


def first_version(feature: str) -> str:
    """The first version that reads `feature` (a key of FEATURES)."""
    return FEATURES[feature]


def supports(version: str, feature: str) -> bool:
    return _key(version) >= _key(FEATURES[feature])
