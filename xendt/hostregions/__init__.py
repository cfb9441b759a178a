"""The extended regions Xen gives its domains in /hypervisor, from what it
reads of the host (xendt.host) and its dom0less domains (xendt.domu):

- domains.py: dom0 and dom0less domains as the hole finders see them;
- validate.py: what the user says about dom0, checked against the host;
- rangeset.py, holes.py: Xen's rangesets and its hole finders;
- regions.py: the extended regions of /hypervisor (compute, HostRegions);
- fleet.py: one DT for a fleet of hosts, the regions valid on all;
- report.py: host-regions' table and JSON document, for one host or a fleet.
"""
