"""Any device tree read back:

- linux.py: addresses and interrupts as Linux reads them;
- addressmap.py: the guest address map, named from a layout;
- values.py: property values by what they mean;
- origin.py: who built a tree, and why two builders' trees differ;
- show.py: `xendt show`;
- findings.py: what `xendt check` reports;
- check.py, check_hypervisor.py: `xendt check`'s rules (the /hypervisor ones apart);
- diff.py: `xendt diff`, by meaning;
- dom0why.py: why dom0's tree differs from the host's.
"""
