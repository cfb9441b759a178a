"""The ``fdt`` command of a U-Boot boot script (cmd/fdt.c), on the working DTB.

FdtCommands is the part of xendt.uboot.script's board model that runs
``fdt addr``, ``fdt resize``, ``fdt mknod``, ``fdt set``, ``fdt rm``, ``fdt
rsvmem`` and ``fdt bootcpu``. The working DTB in U-Boot's memory never grows
past xendt's bound for a DTB it reads (xendt.fdt.read.MAX_BLOB_SIZE): a script
that makes it larger is refused before xendt allocates it. Xen's own bound
(MAX_FDT_SIZE, xendt.inputs.HOST_DTB_MAX) is for the tree it receives, after
``booti`` has shrunk the working DTB to its contents.
"""

from __future__ import annotations

import libfdt

from xendt.errors import ConfigError, DtbError
from xendt.fdt.read import MAX_BLOB_SIZE
from xendt.inputs import HOST_DTB_MAX
from xendt.uboot.shell import SCRATCHPAD, hextoul, parse_prop, strtoul


class FdtCommands:
    """``fdt`` subcommands, mixed into the interpreter's board state.

    blob: the memory at the working DTB's address, None before ``fdt addr``:
      its first totalsize bytes are the DTB; bytes past it are kept (a later
      ``fdt resize`` brings them back into the DTB, as on the board).
    blob_addr: the address ``fdt addr`` selected; dtb_addr: where dtb_name
      was last loaded (None if not, or at an unknown address: dtb_loaded).
    scratch: ``fdt set``'s static buffer, which keeps bytes between commands.
    """

    host_dtb: bytes
    dtb_name: str | None
    blob: bytearray | None
    blob_addr: int | None
    dtb_addr: int | None
    dtb_loaded: bool
    scratch: bytearray

    def _fdt(self, argv: list[str]) -> None:
        if len(argv) < 2:
            raise ConfigError("fdt: usage: fdt <subcommand> ...")
        sub = argv[1]
        # do_fdt matches subcommands by these prefixes, in this order.
        if sub.startswith("ad"):
            self._fdt_addr(argv[2:])
            return
        if sub.startswith("mo"):
            raise ConfigError("fdt move: not supported")
        if self.blob is None:
            raise ConfigError(f"fdt {sub}: no working DTB (run 'fdt addr' first)")
        blob = self.blob
        if sub.startswith(("sys", "me", "boa", "cho", "che", "ap")) or sub[:1] == "g":
            raise ConfigError(f"fdt {sub}: not supported")
        if sub.startswith("mk"):
            self._need(argv, 4, "fdt mknod <path> <node>")
            self._check(f"fdt {sub}", libfdt.fdt_add_subnode(
                blob, self._node(sub, argv[2]), argv[3]), f"{argv[2]}/{argv[3]}")
        elif sub.startswith("se"):
            self._need(argv, 4, "fdt set <path> <prop> [<val>]")
            self._fdt_set(sub, argv)
        elif sub[:1] in ("p", "l") or sub[:1] == "h":
            return
        elif sub.startswith("rm"):
            self._need(argv, 3, "fdt rm <path> [<prop>]")
            node = self._node(sub, argv[2])
            if len(argv) > 3:
                self._check("fdt rm", libfdt.fdt_delprop(blob, node, argv[3]),
                            f"{argv[2]} property {argv[3]}")
            else:
                self._check("fdt rm", libfdt.fdt_del_node(blob, node), argv[2])
        elif sub.startswith("boo"):
            if len(argv) != 3:
                raise ConfigError("fdt bootcpu: usage: fdt bootcpu <id>")
            libfdt.fdt_set_boot_cpuid_phys(blob, hextoul(argv[2]) & 0xFFFFFFFF)
        elif sub.startswith("rs"):
            self._fdt_rsvmem(argv)
        elif sub.startswith("re"):
            self._fdt_resize(hextoul(argv[2]) & 0xFFFFFFFF if len(argv) > 2 else 0)
        else:
            raise ConfigError(f"fdt {sub}: unknown subcommand")

    @staticmethod
    def _need(argv: list[str], count: int, usage: str) -> None:
        if len(argv) < count:
            raise ConfigError(f"fdt {argv[1]}: usage: {usage}")

    def _check(self, what: str, err: int, item: str) -> int:
        if err == -libfdt.NOSPACE:
            raise ConfigError(f"{what}: no room left in the DTB for {item} "
                              "(FDT_ERR_NOSPACE); the script needs a larger 'fdt resize'")
        if err == -libfdt.EXISTS:
            raise ConfigError(f"{what}: {item} already exists")
        if err == -libfdt.NOTFOUND:
            raise ConfigError(f"{what}: {item} does not exist")
        if err < 0:
            raise ConfigError(f"{what}: {item}: {libfdt.fdt_strerror(err)}")
        return err

    def _node(self, sub: str, path: str) -> int:
        assert self.blob is not None
        return self._check(f"fdt {sub}", libfdt.fdt_path_offset(self.blob, path), path)

    def _fdt_addr(self, args: list[str]) -> None:
        while args and args[0].startswith("-"):
            if "c" in args[0]:
                raise ConfigError("fdt addr -c: U-Boot's own control DTB is not modelled")
            args = args[1:]
        if not args:
            return
        addr = hextoul(args[0])
        if self.dtb_name is not None and (not self.dtb_loaded or self.dtb_addr != addr):
            where = (f"at {self.dtb_addr:#x}" if self.dtb_addr is not None
                     else "at an unknown address" if self.dtb_loaded else "not loaded yet")
            raise ConfigError(f"fdt addr: {addr:#x} is not where {self.dtb_name!r} "
                              f"was loaded ({where})")
        if self.blob is not None and self.blob_addr != addr:
            raise ConfigError(f"fdt addr: {addr:#x} is not {self.blob_addr:#x}, "
                              "where the host DTB was selected before")
        if self.blob is None:
            self.blob = self._fresh_blob()
        self.blob_addr = addr
        if len(args) >= 2:
            length = hextoul(args[1])
            if length >= libfdt.fdt_totalsize(self.blob):
                self._reopen(length, "fdt addr")

    def _fresh_blob(self) -> bytearray:
        label = self.dtb_name or "the host DTB"
        data = bytearray(self.host_dtb)
        if len(data) < 40 or libfdt.fdt_check_header(data) < 0:
            raise DtbError(f"{label} is not a valid DTB (fdt addr would refuse it)")
        total = libfdt.fdt_totalsize(data)
        check_size(total, "fdt addr")
        if total > len(data):
            raise DtbError(f"{label} is truncated: {len(data)} of {total} bytes")
        return bytearray(data[:total])

    def _reopen(self, length: int, what: str) -> None:
        # fdt_open_into(blob, blob, len), in place: the blocks stay where
        # they are; the bytes past them are what memory held.
        check_size(length, what)
        blob = self.blob
        assert blob is not None
        if length > len(blob):
            blob.extend(bytes(length - len(blob)))
        self._check(what, libfdt.fdt_open_into(blob, blob, length), "the DTB")

    def dtb(self) -> bytes | None:
        """The working DTB (its totalsize bytes), None before ``fdt addr``."""
        if self.blob is None:
            return None
        return bytes(self.blob[:libfdt.fdt_totalsize(self.blob)])

    def _fdt_set(self, sub: str, argv: list[str]) -> None:
        assert self.blob is not None
        node = self._node(sub, argv[2])
        length = 0
        if len(argv) > 4:
            old, old_len = libfdt.fdt_getprop(self.blob, node, argv[3])
            if old_len > SCRATCHPAD:
                raise ConfigError(f"fdt set: {argv[2]} property {argv[3]} ({old_len} bytes) "
                                  f"does not fit U-Boot's {SCRATCHPAD}-byte buffer")
            if old is not None:
                self.scratch[:old_len] = old
            try:
                length = parse_prop(argv[4:], self.scratch)
            except ConfigError as e:
                raise ConfigError(f"fdt set: {argv[2]} {argv[3]}: {e}") from None
        self._check("fdt set", libfdt.fdt_setprop(
            self.blob, node, argv[3], bytes(self.scratch[:length]), length),
            f"{argv[2]} property {argv[3]}")

    def _fdt_rsvmem(self, argv: list[str]) -> None:
        assert self.blob is not None
        kind = argv[2][:1] if len(argv) > 2 else ""
        if kind == "p":
            return
        if kind == "a" and len(argv) >= 5:
            err = libfdt.fdt_add_mem_rsv(self.blob, strtoul(argv[3], 16)[0],
                                         strtoul(argv[4], 16)[0])
            self._check("fdt rsvmem add", err, "the reservation")
        elif kind == "d" and len(argv) >= 4:
            # cmd/fdt.c passes hextoul's unsigned long as libfdt's int n:
            # its low 32 bits, signed. fdt_del_mem_rsv (scripts/dtc/libfdt/
            # fdt_rw.c @ v2023.01) checks only n < count, so a negative n
            # would delete 16 bytes before the reservation map, in the header.
            index = ((hextoul(argv[3]) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
            if index < 0:
                raise ConfigError(f"fdt rsvmem delete: index {argv[3]} is {index} as libfdt's"
                                  " int; U-Boot would corrupt the DTB header (indexes are 0 to"
                                  " the number of reservations - 1)")
            err = libfdt.fdt_del_mem_rsv(self.blob, index)
            self._check("fdt rsvmem delete", err, f"reservation {argv[3]}")
        else:
            raise ConfigError("fdt rsvmem: usage: fdt rsvmem print|add <addr> <size>|"
                              "delete <index>")

    def _fdt_resize(self, extra: int) -> None:
        assert self.blob is not None and self.blob_addr is not None
        shrink_to_minimum(self.blob, self.blob_addr, extra, "fdt resize")


def check_size(size: int, what: str) -> None:
    """Refuse a working DTB larger than xendt holds in its model of memory;
    and, for the tree `booti` hands over, larger than Xen takes."""
    if what == "booti" and size > HOST_DTB_MAX:
        raise ConfigError(f"{what}: the DTB Xen receives would be {size:#x} bytes, more than Xen"
                          f" takes as the host DT ({HOST_DTB_MAX:#x} bytes, MAX_FDT_SIZE)")
    if size > MAX_BLOB_SIZE:
        raise ConfigError(f"{what}: a working DTB of {size:#x} bytes is more than xendt holds"
                          f" ({MAX_BLOB_SIZE:#x} bytes)")


def shrink_to_minimum(blob: bytearray, addr: int | None, extra: int, what: str) -> None:
    """fdt_shrink_to_minimum (common/fdt_support.c @ v2023.01) on blob, at
    addr (None: a page-aligned address where no reservation starts).

    It drops the reservation of the DTB's own address, sizes the DTB to its
    end of strings plus 5 reservation slots plus extra, rounded so it ends
    on a 4 KiB page boundary, and reserves the DTB again at that size if it
    was reserved before. blob is the memory at the DTB's address: it grows
    (with zeros) to hold the new size and never shrinks, as memory keeps the
    bytes past a smaller DTB."""
    reserved = False
    if addr is not None:
        for index in range(libfdt.fdt_num_mem_rsv(blob)):
            if libfdt.fdt_get_mem_rsv(blob, index)[1] == addr:
                _fail(what, libfdt.fdt_del_mem_rsv(blob, index))
                reserved = True
                break
    end = libfdt.fdt_off_dt_strings(blob) + libfdt.fdt_size_dt_strings(blob)
    size = (end + 5 * 16 + extra) & 0xFFFFFFFF
    low = (addr or 0) & 0xFFF
    size = (((size + low + 0xFFF) & ~0xFFF) - low) & 0xFFFFFFFF
    check_size(size, what)
    if size < end or libfdt.fdt_off_dt_struct(blob) + libfdt.fdt_size_dt_struct(blob) > end:
        raise ConfigError(f"{what}: the DTB's blocks are not in libfdt's order")
    if size > len(blob):
        blob.extend(bytes(size - len(blob)))
    libfdt.fdt_set_totalsize(blob, size)
    if reserved:
        _fail(what, libfdt.fdt_add_mem_rsv(blob, addr, size))


def _fail(what: str, err: int) -> None:
    if err < 0:
        raise ConfigError(f"{what}: the DTB's own reservation: {libfdt.fdt_strerror(err)}")
