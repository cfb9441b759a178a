"""What the Xen hypervisor itself reads from a host's device tree and gives
its own domains:

- xen_dt.py: the host DT as Xen reads it, cells and addresses;
- bootinfo.py: the early scan's RAM, reserved and static (shared) memory;
- banks.py: NR_MEM_BANKS, how many banks that scan holds;
- setupmm.py: how arm64 Xen maps the host RAM (setup_mm);
- firmware.py: what firmware changes before Xen reads the host DT;
- iommu.py: whether Xen runs dom0 with an IOMMU, and its command line;
- refusals.py: hosts Xen does not boot, or builds no dom0 on;
- domains.py: dom0 and dom0less domains as the hole finders see them;
- validate.py: what the user says about dom0, checked against the host;
- rangeset.py, holes.py: Xen's rangesets and its hole finders;
- regions.py: the extended regions of /hypervisor (compute, HostRegions);
- fleet.py: one DT for a fleet of hosts, the regions valid on all;
- report.py: host-regions' table and JSON document, for one host or a fleet;
- libxl_facts.py: the host facts libxl takes from the hypervisor (GIC, timer).
"""
