"""xendt.fdt."""
