"""Output formats: the one JSON writer (jsondoc.py), the JSON documents'
convention and schemas (documents.py), host-regions tables and /hypervisor
nodes (hostout.py), and the address map drawn as SVG (picture.py)."""
