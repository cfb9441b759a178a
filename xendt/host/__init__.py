"""What the Xen hypervisor itself reads from a host's device tree and gives
its own domains: Xen's reading of the tree (xen_dt.py), the early scan's
RAM and reserved memory (bootinfo.py), how setup_mm maps that RAM
(setupmm.py) and other boards Xen refuses (refusals.py), dom0 and dom0less domains
(domains.py), rangesets and hole finders (rangeset.py, holes.py), the
extended regions of /hypervisor (regions.py), and fleets (fleet.py)."""
