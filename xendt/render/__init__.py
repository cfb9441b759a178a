"""xendt.render."""
