"""What firmware changes before Xen reads the host DT.

Board DTBs often have no RAM: the firmware writes it in.

- U-Boot (fdt_fixup_memory_banks, common/fdt_support.c): finds the first
  root child named "memory" or "memory@…" (libfdt's name match), or adds
  /memory; sets device_type = "memory" and reg to its banks in the root's
  cells. `--host-ram` without `--uefi` is that: the node then counts as RAM
  and as a reg in find_memory_holes, like any memory node.
- Xen's EFI loader (xen/arch/arm/efi/efi-boot.h): RAM is the EFI memory
  map's (efi_process_memory_map_bootinfo: conventional, loader and boot
  services memory, from 4.15.4/4.16.3/4.17.0 without EFI_MEMORY_RUNTIME
  descriptors); fdt_add_uefi_nodes deletes every /memreserve/ entry (every
  version) and, 4.14 … 4.16, every node with device_type "memory"; from
  4.17 such nodes stay in the DT but the early scan skips them as RAM.
  `--uefi --host-ram` gives the map's RAM; a bank ending in ":runtime" is
  an EFI_MEMORY_RUNTIME descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import libfdt

from xendt.errors import ConfigError
from xendt.fdt.tree import Tree
from xendt.host import xen_dt
from xendt.inputs import parse_banks
from xendt.ranges import Range
from xendt.xen.rules import HostRules


@dataclass(frozen=True)
class Firmware:
    """How the host boots Xen.

    host_ram:
      RAM banks firmware reports (U-Boot's /memory, or the EFI map's RAM).
    runtime:
      EFI RAM descriptors with EFI_MEMORY_RUNTIME (with uefi only).
    uefi:
      whether Xen boots as an EFI application.
    """

    host_ram: tuple[Range, ...] = ()
    runtime: tuple[Range, ...] = ()
    uefi: bool = False

    @property
    def given(self) -> bool:
        return bool(self.host_ram or self.runtime or self.uefi)


def parse(text: str | None, uefi: bool) -> Firmware:
    """--host-ram "BASE:SIZE[:runtime][,…]" and --uefi."""
    if not text:
        if uefi:
            raise ConfigError("--uefi: give the EFI memory map's RAM with --host-ram BASE:SIZE[,…]")
        return Firmware()
    plain: list[str] = []
    runtime: list[str] = []
    for item in (i.strip() for i in text.split(",")):
        if item.endswith(":runtime"):
            if not uefi:
                raise ConfigError(f"--host-ram: {item!r}: ':runtime' marks an EFI descriptor;"
                                  f" it needs --uefi")
            runtime.append(item[:-len(":runtime")])
        else:
            plain.append(item)
    banks = parse_banks(",".join(plain + runtime), "--host-ram")
    marked = set(parse_banks(",".join(runtime), "--host-ram")) if runtime else set()
    return Firmware(tuple(b for b in banks if b not in marked),
                    tuple(sorted(marked, key=lambda r: r.base)), uefi)


def prepare(data: bytes, name: str, firmware: Firmware, rules: HostRules) -> Tree:
    """The host DT as Xen sees it after the firmware: U-Boot's /memory
    written in (--host-ram), or under UEFI the memory nodes deleted (4.14 …
    4.16, HostRules.efi_memory_nodes)."""
    if firmware.uefi and rules.efi_memory_nodes == "deleted":
        data = _delete_memory_nodes(data)
    elif firmware.host_ram and not firmware.uefi:
        data = _uboot_memory(data, firmware.host_ram)
    return xen_dt.read_host(data, name)


def efi_rules(rules: HostRules, firmware: Firmware) -> HostRules:
    """Under UEFI no /memreserve/ entry is left for the early scan."""
    if not firmware.uefi:
        return rules
    return replace(rules, memreserve=False, memreserve_overlap="no-conflict")


def efi_ram(rules: HostRules, firmware: Firmware) -> tuple[Range, ...] | None:
    """The RAM banks of an EFI boot (None when not booting from EFI)."""
    if not firmware.uefi:
        return None
    ram = firmware.host_ram + (firmware.runtime if rules.efi_runtime_ram else ())
    return tuple(sorted(ram, key=lambda r: r.base))


def _fdt(data: bytes, room: int) -> libfdt.Fdt:
    fdt = libfdt.Fdt(bytearray(data) + bytearray(room))
    fdt.resize(len(data) + room)
    return fdt


def _uboot_memory(data: bytes, banks: tuple[Range, ...]) -> bytes:
    fdt = _fdt(data, 64 + 16 * len(banks))
    node = fdt.subnode_offset(0, "memory", libfdt.QUIET_NOTFOUND)
    if node < 0:
        node = fdt.add_subnode(0, "memory")
    address = _u32(fdt, "#address-cells", 2)
    size = _u32(fdt, "#size-cells", 1)
    _fits(banks, address, size)
    fdt.setprop_str(node, "device_type", "memory")
    reg = b"".join(v.to_bytes(4 * n, "big") for b in banks for v, n in ((b.base, address),
                                                                      (b.size, size)))
    fdt.setprop(node, "reg", reg)
    fdt.pack()
    return bytes(fdt.as_bytearray())


def _fits(banks: tuple[Range, ...], address: int, size: int) -> None:
    """U-Boot writes each bank in the root's cells (one or two): a base or
    size they cannot hold is refused rather than cut short."""
    for cells, what in ((address, "#address-cells"), (size, "#size-cells")):
        if cells not in (1, 2):
            raise ConfigError(f"--host-ram: the host DT's root has {what} = <{cells}>; U-Boot"
                              f" writes /memory in 1 or 2 cells")
    for bank in banks:
        for value, cells, what in ((bank.base, address, "#address-cells"),
                                   (bank.size, size, "#size-cells")):
            if value >> (32 * cells):
                raise ConfigError(f"--host-ram {bank.base:#x}:{bank.size:#x}: {value:#x} does not"
                                  f" fit the host DT's {what} = <{cells}> (U-Boot writes /memory"
                                  f" in the root's cells)")


def _u32(fdt: libfdt.Fdt, prop: str, default: int) -> int:
    value = fdt.getprop(0, prop, libfdt.QUIET_NOTFOUND)
    return int.from_bytes(bytes(value)[:4], "big") if not isinstance(value, int) else default


def _delete_memory_nodes(data: bytes) -> bytes:
    """fdt_add_uefi_nodes (efi-boot.h @ RELEASE-4.16.0): every node whose
    device_type is exactly "memory", at any depth, is deleted."""
    from xendt.fdt.read import parse

    doomed = [n.path for n in parse(data, "").nodes() if n.get("device_type") == b"memory\0"]
    fdt = _fdt(data, 0)
    for path in reversed(doomed):  # children before parents
        offset = fdt.path_offset(path, libfdt.QUIET_NOTFOUND)
        if offset >= 0:
            fdt.del_node(offset)
    fdt.pack()
    return bytes(fdt.as_bytearray())
