"""Opening the files xendt reads: one policy for every input.

Every file input (a DTB, an xl.cfg, a kernel, a ramdisk, a U-Boot script)
is opened here. "-" is standard input. A character device (/dev/zero,
/dev/urandom, a tty) is refused by name before anything is read, because
it never ends; a directory or a missing file is one line. Each reader then
reads only as far as it needs, up to a cap of its own, so no input can make
xendt hang or take unbounded memory.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from xendt.errors import DtbError, XendtError


@contextmanager
def open_input(path: str, what: str, kind: type[XendtError] = DtbError
               ) -> Iterator[tuple[BinaryIO, str]]:
    """The open binary file at `path` ("-": standard input) and its name for
    messages; `kind` with one line when it cannot be read as a `what`."""
    if path == "-":
        yield sys.stdin.buffer, "<stdin>"
        return
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below, after the checks)
    except OSError as e:
        raise kind(f"{path}: cannot read: {e.strerror}") from None
    with f:
        mode = os.fstat(f.fileno()).st_mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            raise kind(f"{path}: is a {'character' if stat.S_ISCHR(mode) else 'block'} device,"
                       f" not a {what} file")
        yield f, path


def is_regular(f: BinaryIO) -> bool:
    """Whether `f` is a regular file (its size can be trusted), not a pipe."""
    try:
        return stat.S_ISREG(os.fstat(f.fileno()).st_mode)
    except (OSError, ValueError):
        return False
