"""Writing what a command produces: never a half-written file.

A regular file is replaced atomically (a finished temporary file renamed
over it); a symlink's target is what gets replaced; devices and pipes are
written directly; "-" is standard output. While the temporary file exists,
SIGINT and SIGTERM first remove it, then take their usual course; an error
removes it too. Commands call output_path() before doing any work, so a
missing folder costs nothing.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType

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
        with _signals_removing() as temporary:
            with _held():  # a signal cannot fall between creating and recording it
                fd, tmp = tempfile.mkstemp(dir=directory, prefix=".xendt-", suffix=".tmp")
                temporary.append(tmp)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o666 & ~_umask()
                os.chmod(tmp, mode)
                with _held():
                    os.replace(tmp, path)
                    temporary.clear()
            except BaseException:
                _remove(temporary)
                raise
    except OSError as e:
        raise XendtError(f"cannot write {path}: {e.strerror}") from None


@contextmanager
def _signals_removing() -> Iterator[list[str]]:
    """A list to hold the temporary file's name; until the block ends, SIGINT
    and SIGTERM remove the file named there, then act as they would have
    (the previous handler runs, or the default kills the process)."""
    temporary: list[str] = []
    previous: dict[signal.Signals, object] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        _remove(temporary)
        old = previous[signal.Signals(signum)]
        signal.signal(signum, old)  # type: ignore[arg-type]
        if callable(old):
            old(signum, frame)
        else:
            os.kill(os.getpid(), signum)

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: signals go elsewhere
        pass
    try:
        yield temporary
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)  # type: ignore[arg-type]


@contextmanager
def _held() -> Iterator[None]:
    """SIGINT and SIGTERM held back (delivered at the end of the block)."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove(temporary: list[str]) -> None:
    for name in temporary:
        with suppress(OSError):
            os.unlink(name)
    temporary.clear()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
