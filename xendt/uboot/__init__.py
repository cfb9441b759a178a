"""U-Boot, as far as it prepares the host DT Xen receives (`host-dt`, and
`build --uboot-script` for dom0less boards):

- script.py: apply_script, a boot script's commands run on a host DTB;
- shell.py: U-Boot's command-line syntax (cli_hush.c) and its number parsing;
- fdt_command.py: the ``fdt`` command (cmd/fdt.c) on the working DTB;
- booti.py: what ``booti`` does to the DTB after the script, before Xen runs.
"""
