"""Output formats beyond the JSON documents (those are xendt.documents):

- hostout.py: host-regions' output formats, the /hypervisor node as DTS or DTB among them;
- picture.py: the guest address map drawn as SVG.
"""
