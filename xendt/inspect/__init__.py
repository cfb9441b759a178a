"""xendt.inspect."""
