"""What xendt knows about each Xen version: the layout data files
(layouts.py loads layouts/*.toml into layout.py's dataclasses) and the
address size a version derives from the host's (address.py)."""
