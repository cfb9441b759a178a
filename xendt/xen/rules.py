"""The rule classes of a layout (xendt.xen.layout.Layout): how one Xen
version's hypervisor reads a host DT (HostRules, the [host] table, with its
IOMMU drivers, the [iommu] table), builds a dom0less domU's DT
(Dom0lessRules, [dom0less]) and rewrites the host DT for dom0 (Dom0Rules,
[dom0]). Loaded and validated by xendt.xen.layouts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostRules:
    """How one Xen version's hypervisor reads a host DT and computes the
    extended regions it gives dom0 and dom0less domains itself; the [host]
    table of a layout file. See xendt.hostregions.regions for what each rule does.

    dom0_regions:
      whether dom0 gets extended regions at all (4.16+).
    domu_holes:
      how an ordinary dom0less domU gets them: "none" (no /hypervisor node
      before 4.17), "banks" (the bank tails), "banks-then-shm" (bank tails,
      re-filtered without static shared memory when the domain has some)
      or "rangeset" (bank tails minus shared memory and xen,reg).
    max, min_size, align:
      at most `max` regions (NR_MEM_BANKS), each at least `min_size`, start
      rounded up and size rounded down to `align`.
    rangeset_unit:
      "byte" or "page": what Xen's rangesets count (page frames from 4.18).
    end_bug:
      whether add_ext_regions takes a range's last page start for its last
      byte, so a region with a 2 MiB-aligned end comes out 2 MiB short.
    memory_nodes:
      which nodes hold host RAM: "name" (memory, memory@…, at any depth) or
      "name-depth-1-device-type" (top level, device_type = "memory").
    status_check:
      whether memory and reserved-memory nodes with a status other than
      "okay" are skipped.
    memreserve:
      whether /memreserve/ entries count as reserved memory.
    static_mem:
      "none", "own-cells" (#xen,static-mem-*-cells of the domain node) or
      "parent-cells" (/chosen's cells): how xen,static-mem banks are read.
    static_heap:
      whether /chosen xen,static-heap banks are reserved memory.
    static_shm:
      "none", "reserved" (host banks are reserved memory) or "separate"
      (a domain's own banks leave its holes, every host bank leaves free RAM).
    xen_reg:
      whether a dom0less domain's xen,reg ranges leave its regions.
    enhanced:
      the xen,enhanced strings that give a dom0less domain a /hypervisor
      node (an empty property does too, from 4.17).
    passthrough_iommu:
      whether passthrough = "enabled" gives a dom0less domain the IOMMU
      (4.19+), not only a partial device tree module.
    hardware_domain:
      whether a dom0less domain whose `capabilities` hold the hardware bit
      is the hardware domain, built from the host DT like dom0 (4.21+).
    scan_error:
      what an error of early_scan_node does (a memory node without reg,
      -ENOENT): "ends-scan" (the nodes after it are never read) or "panic"
      (boot_fdt_info: "Early FDT parsing failed").

    The keys below are what point releases change (xendt.xen.points); each
    names the behaviour, never a version.

    rangeset_subtract:
      "buggy": rangeset_remove_range of a range starting in a gap widens the
      range before the gap up to it (xen/common/rangeset.c before "xen/
      rangeset: fix incorrect subtraction"); "fixed".
    empty_memory_bank:
      "abort-scan" (a zero-size /memory reg ends the early scan) or "skip".
    unsorted_ram_banks:
      "panic" (a RAM bank below the first one) or "sorted".
    ram_mapping:
      how arm64 setup_mm maps RAM banks, in the order boot_fdt_info leaves
      them: "xenheap" (per bank, setup_xenheap_mappings rewrites whole
      1 GiB entries, so a bank overlapping one already mapped maps again,
      then init_boot_pages) or "directmap" (populate_boot_allocator for
      every bank first, then setup_directmap_mappings per bank, whose
      map_pages_to_xen refuses a page already mapped).
    efi_runtime_ram:
      UEFI boot: whether EFI_MEMORY_RUNTIME RAM descriptors are host RAM.
    efi_memory_nodes:
      UEFI boot: "deleted" (fdt_add_uefi_nodes removes device_type "memory"
      nodes) or "kept-not-ram" (kept in the DT, not RAM).
    efi_dt_bootargs:
      UEFI boot: whether /chosen xen,xen-bootargs is Xen's command line
      when xen.cfg has no options=.
    reserved_overlap:
      "ignored" or "panic": reserved regions overlapping each other
      (check_reserved_regions_overlap, 4.18+).
    memreserve_overlap:
      "no-conflict" (/memreserve/ is not reserved_mem), "panic" (any region
      overlapping an entry) or "allow-inside" (only partial overlap panics).
    memory_node_full:
      "bug" (make_memory_node's BUG_ON when reg[] is exactly full) or "ok".
    bank_overflow:
      what more than NR_MEM_BANKS (`max`) RAM banks, static memory or heap
      do: "stop-scan" (the early scan ends there, Xen boots) or "panic"
      (4.19+); see xendt.host.banks.
    deep_nodes:
      "hang" (a node deeper than 16 loops the early scan forever) or "skip".
    passthrough_cells:
      "unchecked" or "1-2": a partial DT's cells for xen,reg.
    sci_type:
      "none", "ignored-if-absent" or "refused-if-absent": xen,sci_type when
      the build lacks the driver.
    dom0_panic:
      the panic when dom0 cannot be built ({rc}: the error code).
    domu_panic:
      create_domUs' panic when a dom0less domain cannot be built ({name}:
      its node name without unit address; {rc}: the error code).
    max_modules:
      MAX_MODULES: the boot modules bootinfo holds.
    early_modules:
      the modules start_xen registers before the FDT scan (Xen, the FDT).
    module_overlap:
      "unchecked" or "dropped": add_boot_module drops a module overlapping
      one already registered (4.18+).
    load_panics:
      kernel_load, initrd_load and dtb_load's panics when the copy into
      the domain's memory fails, by what is copied ({domain}: the domain;
      {left}: the bytes not copied).
    """

    dom0_regions: bool
    domu_holes: str
    max: int
    min_size: int
    align: int
    rangeset_unit: str
    end_bug: bool
    memory_nodes: str
    status_check: bool
    memreserve: bool
    static_mem: str
    static_heap: bool
    static_shm: str
    xen_reg: bool
    enhanced: tuple[str, ...]
    passthrough_iommu: bool
    hardware_domain: bool
    scan_error: str
    rangeset_subtract: str
    empty_memory_bank: str
    unsorted_ram_banks: str
    ram_mapping: str
    efi_runtime_ram: bool
    efi_memory_nodes: str
    efi_dt_bootargs: bool
    reserved_overlap: str
    memreserve_overlap: str
    memory_node_full: str
    bank_overflow: str
    deep_nodes: str
    passthrough_cells: str
    sci_type: str
    dom0_panic: str
    domu_panic: str
    max_modules: int
    early_modules: int
    module_overlap: str
    load_panics: tuple[str, ...]


@dataclass(frozen=True)
class IommuDriver:
    """One IOMMU driver of xen/drivers/passthrough (the [iommu] table).

    kconfig:
      its Kconfig symbol ("ARM_SMMU").
    default:
      whether a default build has it.
    gate:
      the Kconfig condition hiding it ("EXPERT"), "" if none.
    compatibles:
      the compatibles its DT match table probes.
    """

    kconfig: str
    default: bool
    gate: str
    compatibles: tuple[str, ...]


@dataclass(frozen=True)
class Dom0lessRules:
    """What one Xen version's prepare_dtb_domU and its helpers do when the
    hypervisor builds a dom0less domU's device tree; the [dom0less] table of
    a layout file (see xendt.dom0less for what each rule does).

    order:
      the nodes written between the root cells and fdt_finish: "chosen",
      "psci", "cpus", "memory", "reserved-memory", "passthrough" (the
      partial DT's /aliases and /passthrough), "gic", "timer", "vpl011",
      "hypervisor".
    dtb_size:
      DOMU_DTB_SIZE, the fdt_create buffer.
    dtb_size_adds_module:
      whether the partial DT module's size is added to the buffer.
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
      the xen,enhanced strings that give a /hypervisor node (an empty
      value always does where the property is known).
    enhanced_needs_xenstore:
      the xen,enhanced values that need a xenstore domain.
    static_mem_split_bug:
      whether a xen,static-mem bank crossing guest RAM0 -> RAM1 is counted
      short (Xen then panics).
    max_partial_phandle:
      the partial DT's highest phandle must stay below this (0: no check).
    zimage_window_check:
      whether a zImage larger than its 128 MiB load window is refused.
    uimage_first:
      whether kernel_probe tries a uImage header before the others.
    properties:
      the domain-node properties (and "child:<compatible>" subnodes)
      beyond the basic ones that this version reads: an older Xen ignores
      them (xendt builds without them and warns, naming the first version
      that reads one).
    gic_node_name, vpl011_node_name:
      the vGIC and vpl011 node names where Xen writes a constant (the
      stringified base macro), or "" where it prints the node's base.
    dom0_required:
      whether Xen builds dom0 before the dom0less domains whatever the host
      DT says, so that a boot without a dom0 kernel panics.
    """

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
    max_partial_phandle: int
    zimage_window_check: bool
    uimage_first: bool
    properties: tuple[str, ...]
    gic_node_name: str
    vpl011_node_name: str
    dom0_required: bool


@dataclass(frozen=True)
class Dom0Rules:
    """What one Xen version's prepare_dtb_hwdom and its helpers do when the
    hypervisor rewrites the host DT for dom0; the [dom0] table of a layout
    file (see xendt.dom0 for what each rule does).

    skip_compatibles:
      handle_node's skip_matches compatibles: the node and its subtree are
      left out.
    chosen_drop:
      the /chosen properties write_properties leaves out.
    gic_name:
      the GIC node's name: "interrupt-controller", or "host" (the host
      node's own name).
    iommu_map_master:
      whether a node whose iommu-map names a Xen IOMMU also loses its
      IOMMU properties (not only one whose iommus does).
    memory_first:
      which reserved bank names the second /memory node: "any" (the first),
      "not-static-domain" or "default" (the first of type MEMBANK_DEFAULT).
    memory_skip:
      the reserved bank kinds left out of that node's reg: "static-domain",
      "fdt-resvmem".
    fdt_extra_size:
      DOM0_FDT_EXTRA_SIZE without its NR_MEM_BANKS term; the fdt_create
      buffer is the host totalsize plus this.
    fdt_extra_per_bank:
      bytes DOM0_FDT_EXTRA_SIZE adds per NR_MEM_BANKS (0 before 4.22).
    dom0_mem_default:
      dom0's RAM in bytes without dom0_mem= (create_dom0).
    heap_max_order:
      the buddy allocator's MAX_ORDER (CONFIG_PAGEALLOC_MAX_ORDER).
    page_info_size:
      sizeof(struct page_info): the frame table's bytes per page.
    frame_table_rounded:
      whether the frame table's allocation is rounded up to its mapping
      size and 32 MiB-aligned (setup_frametable_mappings), rather than
      page-rounded and aligned to 32 or 2 MiB by size (init_frametable_chunk).
    blacklists:
      the platform blacklists of a default arm64 build: (the platform's
      root compatibles, the compatibles of the nodes dom0 does not get).
    uart_compatibles:
      what the serial drivers of a default arm64 build match: the console
      node Xen keeps must be one of them.
    """

    skip_compatibles: tuple[str, ...]
    chosen_drop: tuple[str, ...]
    gic_name: str
    iommu_map_master: bool
    memory_first: str
    memory_skip: tuple[str, ...]
    fdt_extra_size: int
    fdt_extra_per_bank: int
    dom0_mem_default: int
    heap_max_order: int
    page_info_size: int
    frame_table_rounded: bool
    blacklists: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    uart_compatibles: tuple[str, ...] = ()
