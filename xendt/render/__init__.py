"""Output formats: the one JSON writer (jsondoc.py), the memory map as JSON
(jsonout.py), host-regions tables and /hypervisor nodes (hostout.py), and
the address map drawn as SVG (picture.py)."""
