"""Opening and reading the files xendt reads: one policy for every input.

Every file input (a DTB, an xl.cfg, a kernel, a ramdisk, a partial device
tree, a U-Boot script) is opened here. "-" is standard input. A character or
block device (/dev/zero, /dev/urandom, a tty, a disk) is refused by name
before anything is read, because it never ends or is not a file; a directory
or a missing file is one line. Each reader then reads only as far as it
needs, up to a cap of its own (below), so no input can make xendt hang or
take unbounded memory:

* a regular file is sized with fstat and read only as far as needed;
* a pipe (standard input, a FIFO, a process substitution) is read up to its
  cap and one byte more: more than the cap is one line.
"""

from __future__ import annotations

import itertools
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from xendt.errors import ConfigError, DtbError, XendtError
from xendt.ranges import Range

MiB = 1 << 20

#: xl.cfg files: xl itself has no limit (libxlu's lexer reads any file), but
#: a guest configuration is a few KiB; 1 MiB is far beyond any real one.
XL_CONFIG_MAX = MiB
#: A guest's partial device tree (device_tree=): libxl builds the whole guest
#: tree in at most FDT_MAX_SIZE = 1 MiB (tools/libs/light/libxl_arm.c @
#: RELEASE-4.14.0 … RELEASE-4.22.0), so a partial tree beyond it cannot fit.
GUEST_PARTIAL_DTB_MAX = MiB
#: A host DTB: Xen refuses a host tree over MAX_FDT_SIZE = SZ_2M at boot
#: (early_fdt_map; xen/include/asm-arm/setup.h and xen/arch/arm/mm.c @
#: RELEASE-4.14.0, xen/arch/arm/include/asm/setup.h and
#: xen/arch/arm/mmu/setup.c @ RELEASE-4.21.0).
HOST_DTB_MAX = 2 * MiB
#: dom0's own tree: Xen writes it in the host tree's totalsize + 144 bytes
#: (DOM0_FDT_EXTRA_SIZE, prepare_dtb_hwdom in xen/arch/arm/domain_build.c @
#: RELEASE-4.21.0); a dump from /proc/device-tree adds a `name` property to
#: every node, so twice the host limit is allowed.
DOM0_DTB_MAX = 2 * HOST_DTB_MAX
#: A dom0less domain's passthrough tree: Xen caps the domain's tree at SZ_2M
#: (prepare_dtb_domU, xen/common/device-tree/dom0less-build.c @ RELEASE-4.21.0;
#: xen/arch/arm/domain_build.c @ RELEASE-4.14.0).
DOMU_PARTIAL_DTB_MAX = 2 * MiB


@contextmanager
def open_input(path: str, what: str, kind: type[XendtError] = DtbError,
               label: str | None = None) -> Iterator[tuple[BinaryIO, str]]:
    """The open binary file at `path` ("-": standard input) and its name for
    messages; `kind` with one line, starting with `label` (default: the
    path), when it cannot be read as a `what`."""
    if path == "-":
        f = sys.stdin.buffer
        device = _device(f)
        if device:
            raise kind(f"{label or '<stdin>'}: standard input is {device},"
                       f" not {_a(what)} file")
        yield f, "<stdin>"
        return
    prefix = label or path
    if "\0" in path:  # open() would raise ValueError: no file has such a name
        shown = prefix.replace("\0", "\\0")
        raise kind(f"{shown}: cannot read: a file name has no NUL character")
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below, after the checks)
    except OSError as e:
        raise kind(f"{prefix}: cannot read: {e.strerror}") from None
    with f:
        device = _device(f)
        if device:
            raise kind(f"{prefix}: is {device.split(' (')[0]}, not {_a(what)} file")
        yield f, path


def _a(what: str) -> str:
    """`what` with its indefinite article ("an xl.cfg", "a kernel")."""
    return f"{'an' if what[0] in 'aeiox' else 'a'} {what}"


def _device(f: BinaryIO) -> str:
    """"a character device (/dev/zero)" or "a block device (…)" when `f` is
    one, else ""."""
    try:
        fd = f.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return ""  # not a real file (a test's stand-in): read it as a pipe
    if not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
        return ""
    kind = "a character device" if stat.S_ISCHR(mode) else "a block device"
    try:
        return f"{kind} ({os.readlink(f'/proc/self/fd/{fd}')})"
    except OSError:
        return kind


def regular_size(f: BinaryIO) -> int | None:
    """The size of `f` if it is a regular file (its size can be trusted),
    None for a pipe."""
    try:
        st = os.fstat(f.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def read_up_to(f: BinaryIO, size: int, head: bytes = b"") -> bytes:
    """`head` and then at most `size` bytes from `f`, fewer only at its end;
    OSError as is."""
    chunks, left = [head], size
    while left > 0:
        chunk = f.read(min(left, MiB))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_capped(path: str, what: str, cap: int, kind: type[XendtError],
                label: str | None = None, why: str = "") -> tuple[bytes, str]:
    """The whole file at `path` ("-": standard input) and its name, refused
    in one line (`kind`, starting with `label`) when it holds more than
    `cap` bytes: a regular file by its size, before reading; a pipe after
    reading `cap` + 1 bytes. `why` explains the cap in the message."""
    with open_input(path, what, kind, label) as (f, name):
        prefix = label or name
        size = regular_size(f)
        reason = f" ({why})" if why else ""
        if size is not None and size > cap:
            raise kind(f"{prefix}: {size} bytes, more than the {cap} bytes xendt reads"
                       f" for {_a(what)}{reason}")
        try:
            data = read_up_to(f, cap + 1)
        except OSError as e:
            raise kind(f"{prefix}: cannot read: {e.strerror}") from None
        if len(data) > cap:
            raise kind(f"{prefix}: more than the {cap} bytes xendt reads for {_a(what)}{reason}")
        return data, name


#: Layout files (XENDT_LAYOUT_PATH): xendt's own are about 10 KiB.
LAYOUT_MAX = MiB


def read_regular(path: str, what: str, cap: int, kind: type[XendtError]) -> bytes:
    """The whole regular file at `path`, for inputs that are only ever
    files (layouts): anything else (a FIFO, a device, a socket) is refused
    by its kind before a byte is read, and opened without blocking, so a
    FIFO without a writer cannot hang the open; more than `cap` bytes is
    one line."""
    if "\0" in path:
        raise kind(f"{path.replace(chr(0), '?')}: cannot read: a file name has no NUL character")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise kind(f"{path}: cannot read {what}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                     (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                     (stat.S_ISDIR, "a directory"))
            shown = next((name for test, name in kinds if test(mode)), "not a file")
            raise kind(f"{path}: is {shown}, not {_a(what)} file (a regular file)")
        try:
            data = read_up_to(f, cap + 1)
        except OSError as e:
            raise kind(f"{path}: cannot read {what}: {e.strerror}") from None
    if len(data) > cap:
        raise kind(f"{path}: more than the {cap} bytes xendt reads for {_a(what)} file")
    return data


def nesting(text: str, skip: str) -> int:
    """The deepest nesting of [ ] and { } in `text`, outside what the regex
    `skip` matches (its strings and comments): counted before a recursive
    parser sees the text."""
    import re
    from itertools import accumulate

    bare = re.sub(skip, "", text)
    steps = {"[": 1, "{": 1, "]": -1, "}": -1}
    return max(accumulate(steps[c] for c in re.sub(r"[^][{}]", "", bare)), default=0)


def parse_banks(text: str, what: str) -> tuple[Range, ...]:
    """"BASE:SIZE[,BASE:SIZE…]", numbers in C syntax (0x…), sizes may end
    in K, M or G; ConfigError naming `what` otherwise."""
    banks = []
    for item in text.split(","):
        base, sep, size = item.strip().partition(":")
        try:
            bank = Range(int(base, 0), _size(size))
        except ValueError:
            raise ConfigError(f"{what}: {item.strip()!r} is not BASE:SIZE (e.g. 0x40000000:512M)")\
                from None
        if not sep or bank.size <= 0 or bank.base < 0:
            raise ConfigError(f"{what}: {item.strip()!r} is not BASE:SIZE with a size above 0")
        if bank.end > 1 << 64:
            raise ConfigError(f"{what}: {item.strip()!r} ends at {bank.end:#x}, beyond 64 bits")
        banks.append(bank)
    ordered = sorted(banks, key=lambda r: r.base)
    for a, b in itertools.pairwise(ordered):
        if a.overlaps(b):
            raise ConfigError(f"{what}: banks {a} and {b} overlap")
    return tuple(ordered)


def _size(text: str) -> int:
    text = text.strip()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    return int(text[:-1] if scale > 1 else text, 0) * scale
