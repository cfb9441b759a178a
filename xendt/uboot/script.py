"""Apply a U-Boot boot script's ``fdt`` edits to a host DTB, offline.

Dom0less boards get their ``/chosen`` modules and ``/chosen/domU*`` nodes
from a boot script (boot.source / boot.cmd), usually one written by Xen's
ImageBuilder (scripts/uboot-script-gen): it loads Xen, kernels and the host
DTB, then runs ``fdt addr``, ``fdt resize``, ``fdt mknod``, ``fdt set`` and
``fdt rm`` on that DTB before ``booti``. apply_script runs those commands as
U-Boot v2026.07 does and returns the DTB as the script leaves it at
``booti``; given U-Boot's version, it also makes ``booti``'s own edits and
returns the DTB Xen receives (xendt.uboot.booti, U-Boot v2023.01).

What is modelled (U-Boot v2026.07 unless stated):

- the shell: see xendt.uboot.shell (common/cli_hush.c);
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
  neither touch the DTB nor set variables are skipped;
- the ``fdt`` commands themselves: xendt.uboot.fdt_command.

A variable the script never sets is taken to hold an unknown board value:
using it where the result depends on it (an ``fdt`` argument, a load
address...) is refused, as is every command that would fail on the board,
every construct xendt does not model, and every libfdt error. The DTB never
grows by itself: as on the board, libfdt works inside the size the DTB has
after ``fdt addr``/``fdt resize`` (memory xendt does not know reads as zero
bytes here). Every unit of work has a bound (MAX_* below), refused in one
line that names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from xendt.errors import ConfigError
from xendt.uboot.fdt_command import FdtCommands
from xendt.uboot.shell import (
    SCRATCHPAD,
    ULONG_MASK,
    Command,
    TooLong,
    expand,
    hextoul,
    parse_script,
    strtoul,
)

# Bounds on the work a script can ask for. U-Boot's own where it has one;
# otherwise xendt's, far above any real boot script (ImageBuilder writes
# about 20 short commands a domain) and small enough that the worst script
# runs in about a second.
MAX_SCRIPT_BYTES = 1 << 20
#: xendt's: a line holds at most this many characters; `fdt set` takes at
#: most SCRATCHPAD (1 KiB) of value, so a real line is far shorter.
MAX_LINE_CHARS = 16 * SCRATCHPAD
MAX_LINES = 1 << 16
#: xendt's: commands run, in all (a script has no loops: `if`/`for`/`while`
#: are refused, so this also bounds what a script can ask for).
MAX_COMMANDS = 10_000
#: xendt's: one command's text once hush has pasted its variables in (so
#: also a variable's length), and the pasted text of all commands together.
#: hush itself has no bound but its malloc arena (CONFIG_SYS_MALLOC_LEN, 16
#: MiB in configs/qemu_arm64_defconfig): when that runs out, xmalloc prints
#: "ERROR : xmalloc failed" and spins forever (common/cli_hush.c @ v2023.01).
MAX_EXPANSION = MAX_LINE_CHARS
MAX_EXPANSION_TOTAL = MAX_SCRIPT_BYTES
#: U-Boot's: the environment's hash table is created with
#: CONFIG_ENV_MAX_ENTRIES = 512 entries (env/Kconfig, himport_r in
#: lib/hashtable.c @ v2023.01) and is full before a script adds that many, as
#: the board's own variables are in it too. hush's local variables get the
#: same bound (xendt's).
MAX_VARIABLES = 512

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
                 dtb_name: str | None = None, uboot_version: str | None = None,
                 loads: list[tuple[str, int]] | None = None) -> bytes:
    """The DTB after running script_text (named name in messages) on host_dtb.

    files maps a file name the script loads to its size in bytes; dtb_name is
    the name the script loads host_dtb from (when given, ``fdt addr`` must
    point where that file was loaded). Without uboot_version: the DTB as the
    script leaves it when it boots (or ends). With it (U-Boot's
    PLAIN_VERSION): the DTB Xen receives, after the edits the script's
    ``booti`` makes (xendt.uboot.booti). Raises ConfigError, one line
    naming name:line, for anything U-Boot would refuse or xendt cannot know.
    A `loads` list receives, in order, each whole load of a file of `files`
    at a known address: (its name in `files`, the address)."""
    if len(script_text.encode()) > MAX_SCRIPT_BYTES:
        raise ConfigError(f"{name}: script is larger than {MAX_SCRIPT_BYTES} bytes")
    lines = script_text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline ending the last line starts no line
    if len(lines) > MAX_LINES:
        raise ConfigError(f"{name}: script has more than {MAX_LINES} lines (xendt's bound)")
    for number, text in enumerate(lines, 1):
        if len(text) > MAX_LINE_CHARS:
            raise ConfigError(f"{name}:{number}: line is longer than {MAX_LINE_CHARS}"
                              " characters (xendt's bound)")
        bad = next((c for c in text if c < " " and c != "\t"), None)
        if bad is not None:
            raise ConfigError(f"{name}:{number}: control character {bad!r}")
    try:
        commands = parse_script(script_text)
    except ConfigError as e:
        raise ConfigError(f"{name}: {_shown(e)}") from None
    board = _Board(host_dtb, name, dict(files or {}), dtb_name)
    for count, command in enumerate(commands):
        try:
            if count == MAX_COMMANDS:
                raise ConfigError(f"more than {MAX_COMMANDS} commands (xendt's bound)")
            if not board.run(command):
                break
        except ConfigError as e:
            raise ConfigError(f"{name}:{command.line}: {_shown(e)}") from None
    if loads is not None:
        loads.extend(board.loads)
    if uboot_version is None:
        return board.dtb() or bytes(host_dtb)
    if board.boot is None:
        raise ConfigError(f"{name}: the script never boots (no booti), so U-Boot hands Xen"
                          " no DT")
    from xendt.uboot.booti import booti_edits

    try:
        return booti_edits(board, board.boot.argv, board.env, board._known, uboot_version)
    except ConfigError as e:
        raise ConfigError(f"{name}:{board.boot.line}: {_shown(e)}") from None


def _shown(error: Exception) -> str:
    """The message on one line: script words it quotes may hold a newline
    (a backslash-continued line)."""
    return str(error).replace("\n", "\\n")


@dataclass(frozen=True)
class _Boot:
    """The boot command the script ended with: its line and argv."""

    line: int
    argv: list[str]


class _Board(FdtCommands):
    """The state a script changes: variables, loads, the working DTB.

    env / local: U-Boot environment and hush local variables; values may hold
      unknown-value markers (\\x00N\\x01, N indexing unknown).
    blob: the memory at the working DTB's address (FdtCommands).
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
        self.expanded = 0
        self.boot: _Boot | None = None
        #: Whole loads of a file of `files` at a known address (name, address).
        self.loads: list[tuple[str, int]] = []

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
                    self._assign(var, value)
            elif rest[0] == "+":
                value = ""
        return value

    def _set(self, var: str, value: str) -> None:
        if var not in self.env and len(self.env) == MAX_VARIABLES:
            raise ConfigError(f"{var}: more than {MAX_VARIABLES} variables: U-Boot's environment"
                              " is full (CONFIG_ENV_MAX_ENTRIES)")
        self.env[var] = value

    def _assign(self, var: str, value: str) -> None:
        if var not in self.local and len(self.local) == MAX_VARIABLES:
            raise ConfigError(f"{var}: more than {MAX_VARIABLES} local variables (xendt's bound)")
        self.expanded += len(value)
        self.local[var] = value

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
        room = min(MAX_EXPANSION, MAX_EXPANSION_TOTAL - self.expanded)
        try:
            argv = expand(command, self._lookup, self._assign, room)
        except TooLong:
            if room == MAX_EXPANSION:
                raise ConfigError(f"the command expands to more than {MAX_EXPANSION}"
                                  " characters (xendt's bound)") from None
            raise ConfigError(f"the script's commands expand to more than"
                              f" {MAX_EXPANSION_TOTAL} characters in all (xendt's bound)") from None
        if command.var_refs:
            self.expanded += sum(len(a) + 1 for a in argv)
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
            self.boot = _Boot(command.line, argv)
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
            self._set(var, " ".join(args[1:]))

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
            self._set(var, marked.group(0))
            return
        a = hextoul(values[0])
        if len(argv) == 3:
            self._set(var, f"{a:x}")
            return
        op, b = argv[3], hextoul(values[1])
        if len(op) != 1 or op not in "|&+^-*/%":
            raise ConfigError(f"setexpr: invalid operator {op!r}")
        if op in "/%" and b == 0:
            raise ConfigError("setexpr: division by zero")
        result = {"|": a | b, "&": a & b, "+": a + b, "^": a ^ b, "-": a - b,
                  "*": a * b, "/": a // b if b else 0, "%": a % b if b else 0}[op]
        self._set(var, f"{result & ULONG_MASK:x}")

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
        given = None
        if unknown_name:
            filesize = unknown_name.group(0)
        else:
            given = filename if filename in self.files else None
            if given is None and ":" in filename and cmd in _NET_LOADS:
                tail = filename.split(":", 1)[1]
                given = tail if tail in self.files else None
            size = self.files.get(given) if given is not None else None
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
        self._set("filesize", filesize)
        if addr is None:
            return
        known_addr = None if _UNKNOWN.search(addr) else hextoul(addr)
        self._set("fileaddr", addr if known_addr is None else f"{known_addr:x}")
        if given is not None and known_addr is not None and pos == 0:
            self.loads.append((given, known_addr))
        if filename == self.dtb_name:
            # A reload brings the file's original bytes back.
            self.dtb_addr, self.dtb_loaded = known_addr, True
            if known_addr is not None and known_addr == self.blob_addr:
                self.blob = None
