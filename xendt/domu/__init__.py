"""The one model of a host's dom0less domains, read as Xen reads them,
shared by the extended regions (xendt.hostregions) and the dom0less build
(xendt.dom0less):

- domains.py: the one model of /chosen/domU* nodes, read as Xen reads them;
- bootmodules.py: the boot modules Xen's early scan keeps, and those it drops;
- facts.py: each version's dom0less rules and the features it reads;
- memory.py: a domU's RAM banks as Xen allocates them.
"""
