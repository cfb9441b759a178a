"""`python -m xendt`: the xendt command."""

from xendt.cli import main

main()
