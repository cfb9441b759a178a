"""xendt.xen."""
