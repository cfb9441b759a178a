"""xendt.guest."""
