"""The one exception hierarchy of xendt.

Every error a user can cause (a bad option value, a malformed xl.cfg, a
corrupt DTB, a layout file that does not hold together) is an XendtError
whose message is one line naming the input, the item and the reason. The CLI
prints it as ``xendt: <message>`` and exits with status 2; anything else that
escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class XendtError(Exception):
    """Base class: a problem with xendt's input, explained in one line."""


class StdoutError(XendtError):
    """Standard output cannot be written (a full disk, /dev/full)."""


class LayoutError(XendtError):
    """A layout data file under layouts/ is missing, malformed or inconsistent."""


class ConfigError(XendtError):
    """A guest configuration value is invalid or impossible for the chosen Xen."""


class XlConfigSyntaxError(ConfigError):
    """An xl.cfg file does not parse; the message names file, line and column."""


class ImageError(ConfigError):
    """A kernel, ramdisk or partial device tree file is missing or unusable."""


class DtbError(XendtError):
    """A device tree blob is truncated, corrupt or otherwise unreadable."""


class BuildError(XendtError):
    """libxl (or libxenguest) would refuse to build this guest."""


class Undecodable(DtbError):
    """A value of a readable tree does not mean what its name says (a `reg`
    of the wrong length, a dangling phandle ...). Raised by the decoders;
    callers turn it into a note or a finding naming the node and property."""


class XenFailure(BuildError):
    """The Xen hypervisor itself fails on these inputs (it panics or does
    not build the domain); the message is Xen's, and the CLI exits 1."""


class FieldError(ConfigError):
    """A value of the guest model (GuestConfig, Host, Kernel ...) outside
    what it can hold. `owner` is the class, `field` its field and `problem`
    the reason, so that each route can say where the value came from (a
    JSON path, a flag) around the same words."""

    def __init__(self, owner: str, field: str, problem: str) -> None:
        super().__init__(f"{owner}.{field}: {problem}")
        self.owner, self.field, self.problem = owner, field, problem

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # pickles whole (e.g. across processes)
        return type(self), (self.owner, self.field, self.problem)


class FieldTypeError(FieldError, TypeError):
    """A FieldError for a value of the wrong Python type: Python callers
    may catch it as the TypeError it also is."""
