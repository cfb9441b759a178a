"""Output formats beyond the JSON documents (those are xendt.documents):

- hostout.py: host-regions tables, JSON and /hypervisor nodes, for one host or a fleet;
- picture.py: the guest address map drawn as SVG.
"""
