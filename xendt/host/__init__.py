"""xendt.host."""
