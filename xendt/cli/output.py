"""Writing what a command produces: never a half-written file.

A regular file is replaced atomically (a finished temporary file renamed
over it); a symlink's target is what gets replaced; devices and pipes are
written directly; "-" is standard output.
"""

from __future__ import annotations

import os
import sys

from xendt.errors import XendtError


def output_path(path: str) -> str:
    """Where writing to `path` goes, checked before any work is done: "-",
    or the real path (a symlink's target, which gets replaced, not the
    link). XendtError when its folder does not exist."""
    if path == "-":
        return path
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise XendtError(f"cannot write {path}: no folder {os.path.dirname(path) or folder}")
    return real


def write(path: str, data: bytes, *, binary: bool) -> None:
    """Write `data` to `path` ("-" for stdout) without ever leaving a
    half-written file: a regular file is replaced atomically by renaming a
    finished temporary file over it. Devices and pipes are written directly."""
    if path == "-":
        if binary and sys.stdout.isatty():
            raise XendtError("refusing to write a binary DTB to a terminal; use -o FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        if os.path.exists(path) and not os.path.isfile(path):
            with open(path, "wb") as f:
                f.write(data)
            return
        import tempfile

        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".xendt-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o666 & ~_umask()
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise XendtError(f"cannot write {path}: {e.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
