"""`python -m xendt.cli`: the xendt command."""

from xendt.cli import main

main()
