"""Writing what a command produces: never a half-written file.

A regular file is replaced atomically (a finished temporary file renamed
over it); a symlink's target is what gets replaced; devices and pipes are
written directly; "-" is standard output. While the temporary file exists,
SIGINT and SIGTERM first remove it, then take their usual course; an error
removes it too. Commands call output_path() before doing any work, so a
missing folder costs nothing. A command that writes one file per domain
takes a folder (-o DIR/, created when missing) and names each file after
the domain, which must be a plain file name (file_in).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType

from xendt.errors import StdoutError, XendtError

#: What a file named after a DT node may be called: the characters of a
#: node name (Devicetree Specification v0.4, 2.2.1 "Node Names"), never "."
#: or "..". Anything else (a "/", a NUL, an escape) is not a node name.
_FILE_NAME = r"[0-9A-Za-z,._+@-]+"  # compiled on first use (re's cache), not at start


def output_path(path: str) -> str:
    """Where writing to `path` goes, checked before any work is done: "-",
    or the real path (a symlink's target, which gets replaced, not the
    link). XendtError when its folder does not exist or `path` names a
    folder (these commands write one file)."""
    if path == "-":
        return path
    if not path:
        raise XendtError("cannot write '': give a file name, or - for standard output")
    if path.endswith(os.sep) or os.path.isdir(path):
        what = "is a folder" if os.path.isdir(path) else "names a folder (a trailing /)"
        raise XendtError(f"cannot write {path}: {what}; this command writes one file: -o FILE")
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise XendtError(f"cannot write {path}: no folder {os.path.dirname(path) or folder}")
    return real


def output_folder(path: str) -> str:
    """-o DIR/ for one file per domain, checked before any work is done:
    an existing folder, or one make_folder() creates below the nearest
    existing folder. XendtError when a file stands in the way."""
    real = os.path.realpath(path)
    above = real
    while not os.path.exists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise XendtError(f"cannot write into {path}: {above} is a file, not a folder")
    return real


def make_folder(folder: str) -> None:
    """Create the folder output_folder() accepted (and its missing parents)."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise XendtError(f"cannot create the folder {folder}: {e.strerror}") from None


def file_in(folder: str, name: str, suffix: str) -> str:
    """The file for the domain called `name` in `folder`: XendtError unless
    `name` is a plain file name, so that no name a DT gives writes outside
    `folder` or over another file."""
    if not re.fullmatch(_FILE_NAME, name) or name in (".", ".."):
        raise XendtError(f"domain {name!r}: not a device tree node name, so not a file name to"
                         f" write in {folder}/; build it alone with --domain NAME -o FILE")
    return os.path.join(folder, f"{name}.{suffix}")


def echo(text: str) -> None:
    """Print `text` (its own line ends) on standard output; StdoutError
    when it cannot be written (a full disk, /dev/full)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise StdoutError(f"cannot write standard output: {e.strerror}") from None


def write(path: str, data: bytes, *, binary: bool) -> None:
    """Write `data` to `path` ("-" for stdout) without ever leaving a
    half-written file: a regular file is replaced atomically by renaming a
    finished temporary file over it. Devices and pipes are written directly."""
    if path == "-":
        if binary and sys.stdout.isatty():
            raise XendtError("refusing to write a binary DTB to a terminal; use -o FILE")
        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise StdoutError(f"cannot write standard output: {e.strerror}") from None
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
    import signal  # here: only a file written through a temporary one needs it

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
    import signal

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
