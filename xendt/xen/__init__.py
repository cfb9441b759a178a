"""What xendt knows about each Xen version:

- layouts.py: the layout data files (layouts/*.toml), found, loaded and cached;
- schema.py: every key a layout file may hold, declared once;
- reader.py: a layout file's tables read into the dataclasses, validated;
- layout.py: Layout, one version's guest memory map, IRQs and switches;
- rules.py: the hypervisor's rules in a Layout (host DT reading, dom0less, dom0);
- points.py: point releases ([[point]] entries) applied to X.Y.0's facts;
- cache.py: loaded layouts pickled, so that a CLI start parses no TOML;
- address.py: the PA/IPA size value and the IPA a version derives from it;
- context.py: Xen, one resolved release, made at the edge and passed down.
"""
