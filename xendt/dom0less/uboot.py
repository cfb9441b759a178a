"""Apply a U-Boot boot script's ``fdt`` edits to a host DTB, offline.

Dom0less boards get their ``/chosen`` modules and ``/chosen/domU*`` nodes
from a boot script (boot.source / boot.cmd), usually one written by Xen's
ImageBuilder (scripts/uboot-script-gen): it loads Xen, kernels and the host
DTB, then runs ``fdt addr``, ``fdt resize``, ``fdt mknod``, ``fdt set`` and
``fdt rm`` on that DTB before ``booti``. apply_script runs those commands as
U-Boot v2026.07 does and returns the DTB Xen would receive.

What is modelled (U-Boot v2026.07 unless stated):

- the shell: see xendt.dom0less.uboot_syntax (common/cli_hush.c);
- ``setenv`` / ``env set`` (cmd/nvedit.c), ``setexpr`` with one value or
  ``a op b`` for ``| & + ^ - * / %`` (cmd/setexpr.c; results in hex without
  "0x", env_set_hex in env/common.c);
- loads: ``load``/``fatload``/``ext2load``/``ext4load`` (fs/fs.c do_load),
  ``tftpboot``/``tftpb``/``dhcp``/``nfs`` (cmd/net.c parse_args), ``size``:
  they set ``fileaddr`` and ``filesize`` (hex, no "0x"); a file's size comes
  from ``files`` (name as the script writes it) or, for dtb_name, the host DTB;
- ``fdt addr <addr> [len]``, ``fdt resize [extra]`` (fdt_shrink_to_minimum in
  boot/fdt_support.c: page-aligned size, and the DTB's own /memreserve/ entry
  moved to the new size), ``fdt mknod``, ``fdt set`` (fdt_parse_prop),
  ``fdt rm``, ``fdt rsvmem add|delete``, ``fdt bootcpu`` (cmd/fdt.c);
- boot commands (``booti``, ``bootm``...) end the script; commands that
  neither touch the DTB nor set variables are skipped.

A variable the script never sets is taken to hold an unknown board value:
using it where the result depends on it (an ``fdt`` argument, a load
address...) is refused, as is every command that would fail on the board,
every construct xendt does not model, and every libfdt error. The DTB never
grows by itself: as on the board, libfdt works inside the size the DTB has
after ``fdt addr``/``fdt resize`` (free space reads as zero bytes here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import libfdt

from xendt.dom0less.uboot_syntax import (
    SCRATCHPAD,
    ULONG_MASK,
    Command,
    expand,
    hextoul,
    parse_prop,
    parse_script,
    strtoul,
)
from xendt.errors import ConfigError, DtbError

MAX_SCRIPT_BYTES = 1 << 20
# No board DTB comes near this; a larger `fdt resize` or `fdt addr` length is
# a typo, refused before xendt allocates it.
MAX_DTB_BYTES = 64 << 20

_UNKNOWN = re.compile("\x00([0-9]+)\x01")
_FS_LOADS = frozenset({"load", "fatload", "ext2load", "ext4load"})
_NET_LOADS = frozenset({"tftpboot", "tftpb", "dhcp", "nfs"})
_BOOTS = frozenset({"booti", "bootm", "bootz", "bootefi", "go", "boot", "reset"})
# Commands with no effect on the DTB or on variables (cmd/*.c).
_INERT = frozenset({"echo", "printenv", "mmc", "usb", "scsi", "sata", "nvme", "pci",
                    "dcache", "icache", "sleep", "fpga", "version", "bdinfo", "ls",
                    "md", "dm", "part", "virtio", "ide", "coninfo"})


def apply_script(host_dtb: bytes, script_text: str, name: str,
                 files: Mapping[str, int] | None = None,
                 dtb_name: str | None = None) -> bytes:
    """The DTB after running script_text (named name in messages) on host_dtb.

    files maps a file name the script loads to its size in bytes; dtb_name is
    the name the script loads host_dtb from (when given, ``fdt addr`` must
    point where that file was loaded). Raises ConfigError, one line naming
    name:line, for anything U-Boot would refuse or xendt cannot know."""
    if len(script_text.encode()) > MAX_SCRIPT_BYTES:
        raise ConfigError(f"{name}: script is larger than {MAX_SCRIPT_BYTES} bytes")
    for number, text in enumerate(script_text.split("\n"), 1):
        bad = next((c for c in text if c < " " and c != "\t"), None)
        if bad is not None:
            raise ConfigError(f"{name}:{number}: control character {bad!r}")
    try:
        commands = parse_script(script_text)
    except ConfigError as e:
        raise ConfigError(f"{name}: {e}") from None
    board = _Board(host_dtb, name, dict(files or {}), dtb_name)
    for command in commands:
        try:
            if not board.run(command):
                break
        except ConfigError as e:
            raise ConfigError(f"{name}:{command.line}: {e}") from None
    return bytes(board.blob) if board.blob is not None else bytes(host_dtb)


class _Board:
    """The state a script changes: variables, loads, the working DTB.

    env / local: U-Boot environment and hush local variables; values may hold
      unknown-value markers (\\x00N\\x01, N indexing unknown).
    blob: the working DTB (exactly totalsize bytes), None before ``fdt addr``.
    blob_addr: the address ``fdt addr`` selected; dtb_addr: where dtb_name
      was last loaded (None if not, or at an unknown address: dtb_loaded).
    scratch: ``fdt set``'s static buffer, which keeps bytes between commands.
    """

    def __init__(self, host_dtb: bytes, name: str, files: dict[str, int],
                 dtb_name: str | None) -> None:
        self.host_dtb = host_dtb
        self.name = name
        self.files = files
        self.dtb_name = dtb_name
        self.env: dict[str, str] = {}
        self.local: dict[str, str] = {}
        self.unknown: list[str] = []
        self.blob: bytearray | None = None
        self.blob_addr: int | None = None
        self.dtb_addr: int | None = None
        self.dtb_loaded = False
        self.scratch = bytearray(SCRATCHPAD)
        self.line = 0

    # -- variables ---------------------------------------------------------

    def _mark(self, reason: str) -> str:
        self.unknown.append(reason)
        return f"\x00{len(self.unknown) - 1}\x01"

    def _lookup(self, ref: str) -> str:
        if ref == "?":
            return "0"  # every command that ran succeeded, or xendt refused
        var, sep, rest = ref.partition(":")
        value = self.env.get(var, self.local.get(var))
        if value is None:
            return self._mark(f"${{{var}}} is not set by the script")
        if sep and rest[:1] in ("-", "=", "+"):
            # lookup_param: ":-"/":=" use the text when empty, ":=" also
            # assigns it; ":+" gives the text when empty and "" otherwise.
            if value == "":
                value = rest[1:]
                if rest[0] == "=":
                    self.local[var] = value
            elif rest[0] == "+":
                value = ""
        return value

    def _known(self, text: str, what: str = "") -> str:
        found = _UNKNOWN.search(text)
        if found:
            reason = self.unknown[int(found.group(1))]
            raise ConfigError(f"{what}: {reason}" if what else reason)
        return text

    # -- commands ------------------------------------------------------------

    def run(self, command: Command) -> bool:
        """Run one command; False once it boots (nothing after it runs)."""
        self.line = command.line
        argv = expand(command, self._lookup, self.local.__setitem__)
        if not argv:
            return True
        cmd = self._known(argv[0])
        if cmd == "fdt":
            what = " ".join(argv[:2])
            self._fdt([self._known(a, what) for a in argv])
        elif cmd == "setenv" or (cmd == "env" and argv[1:2] == ["set"]):
            self._setenv(argv[1:] if cmd == "setenv" else argv[2:])
        elif cmd.split(".")[0] == "setexpr":
            self._setexpr(argv)
        elif cmd in _FS_LOADS or cmd == "size":
            self._fs_load(argv)
        elif cmd in _NET_LOADS:
            self._net_load(argv)
        elif cmd in _BOOTS:
            return False
        elif cmd not in _INERT:
            raise ConfigError(f"{cmd}: unknown command (xendt cannot tell what it changes)")
        return True

    def _setenv(self, args: list[str]) -> None:
        while args and args[0].startswith("-"):
            args = args[1:]
        if not args:
            raise ConfigError("setenv: usage: setenv name [value ...]")
        var = self._known(args[0])
        if "=" in var:
            raise ConfigError(f"setenv: illegal character '=' in variable name {var!r}")
        if len(args) == 1:
            self.env.pop(var, None)
        else:
            self.env[var] = " ".join(args[1:])

    def _setexpr(self, argv: list[str]) -> None:
        if argv[0].endswith(".s"):
            raise ConfigError("setexpr.s: string expressions are not supported")
        if len(argv) < 3 or len(argv) == 4 or len(argv) > 6:
            raise ConfigError("setexpr: usage: setexpr name value [op value]")
        var = self._known(argv[1])
        if argv[2] in ("fmt", "sub", "gsub"):
            raise ConfigError(f"setexpr {argv[2]}: not supported")
        if len(argv) == 6:
            raise ConfigError("setexpr: usage: setexpr name value [op value]")
        values = argv[2::2]
        if any(v.startswith("*") for v in values):
            raise ConfigError("setexpr: '*' reads board memory, which xendt does not have")
        marked = next((m for m in map(_UNKNOWN.search, values) if m), None)
        if marked:
            self.env[var] = marked.group(0)
            return
        a = hextoul(values[0])
        if len(argv) == 3:
            self.env[var] = f"{a:x}"
            return
        op, b = argv[3], hextoul(values[1])
        if len(op) != 1 or op not in "|&+^-*/%":
            raise ConfigError(f"setexpr: invalid operator {op!r}")
        if op in "/%" and b == 0:
            raise ConfigError("setexpr: division by zero")
        result = {"|": a | b, "&": a & b, "+": a + b, "^": a ^ b, "-": a - b,
                  "*": a * b, "/": a // b if b else 0, "%": a % b if b else 0}[op]
        self.env[var] = f"{result & ULONG_MASK:x}"

    def _fs_load(self, argv: list[str]) -> None:
        cmd = argv[0]
        if cmd == "size":
            if len(argv) != 4:
                raise ConfigError("size: usage: size <interface> <dev[:part]> <filename>")
            self._loaded(cmd, argv[3], None, 0, 0)
            return
        if not 2 <= len(argv) <= 7:
            raise ConfigError(f"{cmd}: usage: {cmd} <interface> [<dev[:part]> "
                              "[<addr> [<filename> [bytes [pos]]]]]")
        if len(argv) >= 4:
            addr = argv[3]
            used = strtoul(addr, 16)[1]
            if not _UNKNOWN.search(addr) and (used == 0 or used != len(addr)):
                raise ConfigError(f"{cmd}: {addr!r} is not a hex address")
        else:
            addr = self._lookup("loadaddr")
        filename = argv[4] if len(argv) >= 5 else self._lookup("bootfile")
        nbytes = hextoul(self._known(argv[5])) if len(argv) >= 6 else 0
        pos = hextoul(self._known(argv[6])) if len(argv) >= 7 else 0
        self._loaded(cmd, filename, addr, nbytes, pos)

    def _net_load(self, argv: list[str]) -> None:
        cmd = argv[0]
        addr, filename = self._lookup("loadaddr"), self._lookup("bootfile")
        if len(argv) == 2:
            # parse_args: a lone argument is the address if it is all hex.
            if not _UNKNOWN.search(argv[1]) and strtoul(argv[1], 16)[1] == len(argv[1]):
                addr = argv[1]
            else:
                filename = argv[1]
        elif len(argv) == 3:
            addr, filename = argv[1], argv[2]
        elif len(argv) > 3:
            raise ConfigError(f"{cmd}: usage: {cmd} [loadAddress] [[hostIPaddr:]bootfilename]")
        self._loaded(cmd, filename, addr, 0, 0)

    def _loaded(self, cmd: str, filename: str, addr: str | None, nbytes: int,
                pos: int) -> None:
        unknown_name = _UNKNOWN.search(filename)
        if unknown_name:
            filesize = unknown_name.group(0)
        else:
            size = self.files.get(filename)
            if size is None and ":" in filename and cmd in _NET_LOADS:
                size = self.files.get(filename.split(":", 1)[1])
            if size is None and filename == self.dtb_name:
                size = len(self.host_dtb)
            if size is None:
                filesize = self._mark(f"${{filesize}} is unknown: no size was given for "
                                      f"{filename!r} (loaded on line {self.line})")
            else:
                if pos > size:
                    raise ConfigError(f"{cmd}: position {pos:#x} is beyond the end of "
                                      f"{filename!r} ({size} bytes)")
                length = size - pos if not nbytes else min(nbytes, size - pos)
                filesize = f"{length:x}"
        self.env["filesize"] = filesize
        if addr is None:
            return
        known_addr = None if _UNKNOWN.search(addr) else hextoul(addr)
        self.env["fileaddr"] = addr if known_addr is None else f"{known_addr:x}"
        if filename == self.dtb_name:
            # A reload brings the file's original bytes back.
            self.dtb_addr, self.dtb_loaded = known_addr, True
            if known_addr is not None and known_addr == self.blob_addr:
                self.blob = None

    # -- fdt -----------------------------------------------------------------

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
            if length >= len(self.blob):
                self._reopen(length, "fdt addr")

    def _fresh_blob(self) -> bytearray:
        label = self.dtb_name or "the host DTB"
        data = bytearray(self.host_dtb)
        if len(data) < 40 or libfdt.fdt_check_header(data) < 0:
            raise DtbError(f"{label} is not a valid DTB (fdt addr would refuse it)")
        total = libfdt.fdt_totalsize(data)
        if total > len(data):
            raise DtbError(f"{label} is truncated: {len(data)} of {total} bytes")
        return bytearray(data[:total])

    def _reopen(self, length: int, what: str) -> None:
        if length > MAX_DTB_BYTES:
            raise ConfigError(f"{what}: {length:#x} bytes is more than xendt's "
                              f"{MAX_DTB_BYTES:#x}-byte limit for a DTB")
        new = bytearray(length)
        self._check(what, libfdt.fdt_open_into(self.blob, new, length), "the DTB")
        self.blob = new

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
            err = libfdt.fdt_del_mem_rsv(self.blob, hextoul(argv[3]) & 0xFFFFFFFF)
            self._check("fdt rsvmem delete", err, f"reservation {argv[3]}")
        else:
            raise ConfigError("fdt rsvmem: usage: fdt rsvmem print|add <addr> <size>|"
                              "delete <index>")

    def _fdt_resize(self, extra: int) -> None:
        # fdt_shrink_to_minimum: drop the reservation of the DTB's own
        # address, size the DTB to its end of strings plus 5 reservation
        # slots plus extra, rounded so it ends on a 4 KiB page boundary, and
        # reserve the DTB again at that size if it was reserved before.
        blob, addr = self.blob, self.blob_addr
        assert blob is not None and addr is not None
        reserved = False
        for index in range(libfdt.fdt_num_mem_rsv(blob)):
            if libfdt.fdt_get_mem_rsv(blob, index)[1] == addr:
                self._check("fdt resize", libfdt.fdt_del_mem_rsv(blob, index), "reservation")
                reserved = True
                break
        end = libfdt.fdt_off_dt_strings(blob) + libfdt.fdt_size_dt_strings(blob)
        size = (end + 5 * 16 + extra) & 0xFFFFFFFF
        low = addr & 0xFFF
        size = (((size + low + 0xFFF) & ~0xFFF) - low) & 0xFFFFFFFF
        if size > MAX_DTB_BYTES:
            raise ConfigError(f"fdt resize: {size:#x} bytes is more than xendt's "
                              f"{MAX_DTB_BYTES:#x}-byte limit for a DTB")
        if size < end or libfdt.fdt_off_dt_struct(blob) + libfdt.fdt_size_dt_struct(blob) > end:
            raise ConfigError("fdt resize: the DTB's blocks are not in libfdt's order")
        if size > len(blob):
            blob.extend(bytes(size - len(blob)))
        else:
            del blob[size:]
        libfdt.fdt_set_totalsize(blob, size)
        if reserved:
            self._check("fdt resize", libfdt.fdt_add_mem_rsv(blob, addr, size), "reservation")
