"""What U-Boot's ``booti`` does to the DTB after the script, before Xen runs.

``booti <kernel> - <fdt>`` hands Xen the DTB at <fdt>, but first edits it
(U-Boot v2023.01, the version of the reference captures in
tests/data/reference-uboot):

- boot_relocate_fdt (boot/image-fdt.c): the DTB gets CONFIG_SYS_FDT_PAD
  (0x3000, lib/Kconfig) more bytes, in place when ``fdt_high`` is all ones
  (ImageBuilder sets it so), else copied (fdt_open_into) to a 4 KiB-aligned
  block lmb allocates;
- image_setup_libfdt (boot/image-fdt.c): fdt_root writes ``serial#`` as the
  root's ``serial-number``; fdt_chosen (common/fdt_support.c) writes
  ``bootargs`` into /chosen and then ``u-boot,version`` (PLAIN_VERSION, what
  the banner prints after "U-Boot "); arch_fixup_fdt
  (arch/arm/lib/bootm-fdt.c) rewrites the memory node (fdt_fixup_memory_banks:
  ``device_type``, and ``reg`` from U-Boot's DRAM banks, taken here to be
  the ones the node lists, as on QEMU where U-Boot reads them from this very
  DT); fdt_fixup_ethernet writes MAC addresses for /aliases ethernet*
  entries (refused: xendt does not know them); fdt_shrink_to_minimum then
  sets ``totalsize`` to the end of the strings block plus 5 reservation
  slots, rounded so the DTB ends on a 4 KiB page.

The board's environment is taken to hold no ``bootargs`` or ``serial#``
unless the script sets them (QEMU's U-Boot has neither). Board hooks a
defconfig may enable (ft_board_setup, ft_system_setup, OP-TEE nodes, pstore)
are not modelled; QEMU's qemu_arm64_defconfig enables none of them. Newer
U-Boot adds more in fdt_chosen (a random ``kaslr-seed`` with DM_RNG,
``smbios3-entrypoint``; boot/fdt_support.c @ v2026.07): not modelled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import libfdt

from xendt.errors import ConfigError
from xendt.uboot.fdt_command import FdtCommands, shrink_to_minimum
from xendt.uboot.shell import ULONG_MASK, hextoul

#: CONFIG_SYS_FDT_PAD's default (lib/Kconfig @ v2023.01), what
#: boot_relocate_fdt adds to the DTB before image_setup_libfdt edits it.
SYS_FDT_PAD = 0x3000


def booti_edits(board: FdtCommands, argv: list[str], env: Mapping[str, str],
                known: Callable[[str, str], str], version: str) -> bytes:
    """The DTB Xen receives from ``argv`` (the boot command), given the
    script's environment env; known(text, what) refuses an unknown value."""
    cmd = argv[0]
    if cmd != "booti":
        raise ConfigError(f"{cmd}: what it does to the DTB is not modelled (booti is)")
    if len(argv) < 4:
        raise ConfigError(f"{cmd}: no DT address: Xen would get no device tree")
    if known(argv[2], cmd) != "-":
        raise ConfigError(f"{cmd}: an initrd ({argv[2]}) is not modelled: give '-'")
    addr = hextoul(known(argv[3], cmd))
    blob = _boot_blob(board, addr, cmd)
    serial, bootargs = env.get("serial#"), env.get("bootargs")
    texts = (version, None if serial is None else known(serial, cmd),
             None if bootargs is None else known(bootargs, cmd))
    fdt_high = env.get("fdt_high")
    if fdt_high is not None and "\x00" not in fdt_high:
        return _edited(blob, addr if hextoul(fdt_high) == ULONG_MASK else None, *texts)
    # The board's own fdt_high decides whether the DTB moves; often it makes
    # no difference (a DTB on a page, no bytes of an earlier DTB after it).
    kept, moved = _edited(blob, addr, *texts), _edited(blob, None, *texts)
    if kept != moved:
        raise ConfigError("booti: fdt_high is not set by the script, and whether U-Boot moves"
                          " the DTB (the board's fdt_high) changes what Xen gets")
    return kept


def _edited(blob: bytearray, addr: int | None, version: str, serial: str | None,
            bootargs: str | None) -> bytes:
    """boot_relocate_fdt and image_setup_libfdt on blob: in place at addr,
    or (None) copied to a fresh page-aligned block."""
    total = libfdt.fdt_totalsize(blob)
    length = total + SYS_FDT_PAD
    if addr is not None:  # memory past the DTB becomes its free space
        work = bytearray(blob) + bytes(max(length - len(blob), 0))
        libfdt.fdt_set_totalsize(work, length)
    else:  # a fresh block (its bytes unknown to xendt: taken as zeros)
        work = bytearray(length)
        _check(libfdt.fdt_open_into(bytearray(blob[:total]), work, length), "boot_relocate_fdt",
               "the DTB")
    if serial is not None:
        _setprop(work, 0, "serial-number", serial, "fdt_root")
    chosen = libfdt.fdt_subnode_offset(work, 0, "chosen")
    if chosen == -libfdt.NOTFOUND:
        chosen = libfdt.fdt_add_subnode(work, 0, "chosen")
    _check(chosen, "fdt_chosen", "/chosen")
    if bootargs is not None:
        _setprop(work, chosen, "bootargs", bootargs, "fdt_chosen")
    _setprop(work, chosen, "u-boot,version", version, "fdt_chosen")
    _memory(work)
    _no_ethernet_aliases(work)
    shrink_to_minimum(work, addr, 0, "booti")
    return bytes(work[:libfdt.fdt_totalsize(work)])


def _boot_blob(board: FdtCommands, addr: int, cmd: str) -> bytearray:
    """The DTB at addr: the working one, or the host DTB loaded there."""
    if board.blob is not None:
        if board.blob_addr != addr:
            raise ConfigError(f"{cmd}: {addr:#x} is not {board.blob_addr:#x}, where the"
                              " script edited the host DTB")
        return board.blob
    if board.dtb_name is not None and (not board.dtb_loaded or board.dtb_addr != addr):
        raise ConfigError(f"{cmd}: {addr:#x} is not where {board.dtb_name!r} was loaded")
    return board._fresh_blob()


def _memory(blob: bytearray) -> None:
    node = libfdt.fdt_subnode_offset(blob, 0, "memory")
    if node == -libfdt.NOTFOUND:
        raise ConfigError("booti: the DT has no memory node: U-Boot would add one with its"
                          " DRAM banks, which xendt does not know")
    _check(node, "arch_fixup_fdt", "the memory node")
    _setprop(blob, node, "device_type", "memory", "arch_fixup_fdt")


def _no_ethernet_aliases(blob: bytearray) -> None:
    aliases = libfdt.fdt_path_offset(blob, "/aliases")
    if aliases < 0:
        return
    offset = libfdt.fdt_first_property_offset(blob, aliases)
    while offset >= 0:
        name = libfdt.fdt_get_property_by_offset(blob, offset)[0]
        if name.startswith("ethernet"):
            raise ConfigError(f"booti: /aliases {name}: U-Boot writes the board's MAC address"
                              " into that device (fdt_fixup_ethernet), which xendt does not know")
        offset = libfdt.fdt_next_property_offset(blob, offset)


def _setprop(blob: bytearray, node: int, name: str, text: str, where: str) -> None:
    value = text.encode() + b"\0"
    _check(libfdt.fdt_setprop(blob, node, name, value, len(value)), where, name)


def _check(err: int, where: str, item: str) -> int:
    if err < 0:
        raise ConfigError(f"booti: {where}: {item}: {libfdt.fdt_strerror(err)}"
                          " (U-Boot stops the boot)")
    return err
