"""What the Xen hypervisor itself reads from a host's device tree:

- xen_dt.py: the host DT as Xen reads it, cells and addresses;
- bootinfo.py: the early scan's RAM, reserved and static (shared) memory;
- banks.py: NR_MEM_BANKS, how many banks that scan holds;
- setupmm.py: how arm64 Xen maps the host RAM (setup_mm);
- firmware.py: what firmware changes before Xen reads the host DT;
- iommu.py: whether Xen runs dom0 with an IOMMU, and its command line;
- refusals.py: hosts Xen does not boot, or builds no dom0 on;
- libxl_facts.py: the host facts libxl takes from the hypervisor (GIC, timer).

The dom0less domain model (xendt.domu) and the extended regions
(xendt.hostregions) build on these.
"""
