"""disk= entries, in xl's disk spec syntax: parse_disk().

libxlu reads a disk spec with a flex lexer of its own,
tools/libs/util/libxlu_disk_l.l (tools/libxl/ in 4.14), whose rule actions
fill in a libxl_device_disk; libxlu_disk.c (xlu_disk_parse) runs it and
checks the result. parse_disk() replays that lexer rule for rule, with
flex's longest-match choice, so it accepts and refuses what xl does, with
libxlu's own messages ("vdev respecified", "unknown deprecated disk
prefix" …). The key=value settings xendt needs arrived over time:
specification= in libxlu_disk_l.l @ RELEASE-4.17.0, grant_usage= in
libxlu_disk_l.l @ RELEASE-4.19.0; which Xen accepts them is the builder's
check, not this module's.

Only a specification=virtio disk shapes an Arm guest's device tree (a
virtio-mmio node); every other disk is checked and dropped.
"""

from __future__ import annotations

import functools
import re

from xendt.errors import ConfigError
from xendt.guest.model import VirtioDisk
from xendt.guest.xlcfg.devices import _domid

# The disk spec lexer (libxlu_disk_l.l): flex picks, at each position, the
# rule with the longest match, counting trailing context (the part after
# "/" in flex, the third column here); ties go to the earlier rule.
_DISK_RULE_SOURCES = [
    (r"[ \t\n]+", r"(?:[^ \t\n].*)?", "space"),
    (r"format=[^,]*,?", None, "format"),
    (r"cdrom,?", None, "cdrom"),
    (r"devtype=cdrom,?", None, "cdrom"),
    (r"devtype=disk,?", None, "disk"),
    (r"devtype=[^,]*,?", None, "bad-devtype"),
    (r"access=[^,]*,?", None, "access"),
    (r"backend=[^,]*,?", None, "backend"),
    (r"backendtype=[^,]*,?", None, "backendtype"),
    (r"specification=[^,]*,?", None, "specification"),
    (r"vdev=[^,]*,?", None, "vdev"),
    (r"script=[^,]*,?", None, "script"),
    (r"direct-io-safe,?", None, "flag"),
    (r"discard,?", None, "flag"),
    (r"no-discard,?", None, "flag"),
    (r"colo,?", None, "flag"),
    (r"no-colo,?", None, "flag"),
    (r"colo-host=[^,]*,?", None, "colo-host"),
    (r"colo-port=[^,]*,?", None, "colo-port"),
    (r"colo-export=[^,]*,?", None, "colo-export"),
    (r"active-disk=[^,]*,?", None, "active-disk"),
    (r"hidden-disk=[^,]*,?", None, "hidden-disk"),
    (r"trusted,?", None, "flag"),
    (r"untrusted,?", None, "flag"),
    (r"grant_usage=1,?", None, "grant-usage-1"),
    (r"grant_usage=0,?", None, "grant-usage-0"),
    (r"target=.*", None, "target"),
    (r"[a-z][-a-z0-9]*=[^,],?", None, "unknown-parameter"),
    (r"(?:raw|qcow2?|vhd):", r".*", "prefix-format"),
    (r"(?:iscsi|e?nbd|drbd):", r".*", "prefix-script"),
    (r"tapdisk:", r".*", "prefix"),
    (r"tap2?:", r".*", "prefix"),
    (r"aio:", r".*", "prefix"),
    (r"ioemu:", r".*", "prefix"),
    (r"file:", r".*", "prefix"),
    (r"phy:", r".*", "prefix"),
    (r"[a-z][a-z0-9]*:", r"(?:[^a-z0-9].*)?", "unknown-prefix"),
    (r"[^=,]*,", None, "positional"),
    (r"[^=,]+,?", None, "positional"),
    (r".", None, "bad-syntax"),
]


@functools.cache
def _disk_rules() -> list[tuple[re.Pattern[str], re.Pattern[str] | None, str]]:
    """The disk lexer rules, compiled on first use (keeps import time low)."""
    return [(re.compile(head), re.compile(trail) if trail is not None else None, action)
            for head, trail, action in _DISK_RULE_SOURCES]


_DISK_FORMATS = ("raw", "qcow", "qcow2", "vhd", "empty", "qed")
_DISK_BACKENDS = ("phy", "tap", "qdisk", "standalone")
_DISK_STRINGS = ("colo-host", "colo-export", "active-disk", "hidden-disk", "script")


class _DiskSpec:
    """The state libxlu's disk lexer builds up (a libxl_device_disk)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.target: str | None = None
        self.format: str | None = None
        self.vdev: str | None = None
        self.backend: str | None = None
        self.backendtype: str | None = None
        self.specification: str | None = None
        self.grant_usage: bool | None = None
        self.is_cdrom = False
        self.access_set = False
        self.had_prefix = False
        self.strings: dict[str, str] = {}

    def error(self, message: str, near: str | None = None) -> ConfigError:
        where = f": {near!r}" if near is not None else ""
        return ConfigError(f"disk spec {self.spec!r}: {message}{where}")

    def save(self, field: str, value: str) -> None:
        """SAVESTRING: a second non-empty value is an error."""
        old = self.strings.get(field) if field in _DISK_STRINGS else getattr(self, field)
        if old:
            raise self.error(f"{field} respecified", value)
        if field in _DISK_STRINGS:
            self.strings[field] = value
        else:
            setattr(self, field, value)

    def set_enum(self, field: str, value: str, choices: tuple[str, ...], shown: str) -> None:
        """DSET: an unknown value, or a different value than before, is an error."""
        if value not in choices:
            raise self.error(f"unknown value for {shown}", value)
        old = getattr(self, field)
        if old is not None and old != value:
            raise self.error(f"{shown} respecified", value)
        setattr(self, field, value)

    def set_format(self, value: str) -> None:
        self.set_enum("format", value or "raw", _DISK_FORMATS, "format")

    def set_access(self, value: str) -> None:
        if value not in ("r", "ro", "rw", "w", ""):
            raise self.error("unknown value for access", value)

    def vdev_and_devtype(self, text: str) -> bool:
        """The deprecated positional ``vdev:cdrom`` / ``vdev:disk``."""
        vdev, colon, devtype = text.rpartition(":")
        if not colon:
            return False
        self.save("vdev", vdev)
        if devtype == "cdrom":
            self.is_cdrom = True
        elif devtype == "disk":
            self.is_cdrom = False
        else:
            raise self.error("unknown deprecated type", devtype)
        return True

    def positional(self, text: str) -> None:
        if self.target is None:
            self.save("target", text)
        elif not self.had_prefix and self.format is None:
            if self.target == "" and self.vdev_and_devtype(text):
                self.format = "empty"
            else:
                self.set_format(text)
        elif self.vdev is None:
            if not self.vdev_and_devtype(text):
                self.save("vdev", text)
        elif not self.access_set:
            self.access_set = True
            self.set_access(text)
        else:
            raise self.error("too many positional parameters", text)

    def act(self, action: str, text: str) -> None:
        stripped = text.removesuffix(",")
        value = stripped.partition("=")[2]
        if action in ("space", "flag"):
            return
        if action == "format":
            self.set_format(value)
        elif action == "cdrom":
            self.is_cdrom = True
        elif action == "disk":
            self.is_cdrom = False
        elif action == "bad-devtype":
            raise self.error("unknown value for type", text)
        elif action == "access":
            self.set_access(value)
        elif action in ("backend", "vdev") or action in _DISK_STRINGS:
            self.save(action, value)
        elif action == "backendtype":
            self.set_enum("backendtype", value, _DISK_BACKENDS, "backendtype")
        elif action == "specification":
            self.set_enum("specification", value, ("xen", "virtio"), "specification")
        elif action == "colo-port":
            if _atoi(value) == 0:
                raise self.error("unknown value for colo_port", value)
        elif action in ("grant-usage-0", "grant-usage-1"):
            self.grant_usage = action == "grant-usage-1"
        elif action == "target":
            self.save("target", value)
        elif action == "unknown-parameter":
            raise self.error("unknown parameter", text)
        elif action == "prefix-format":
            self.had_prefix = True
            self.set_format(text[:-1])
        elif action == "prefix-script":
            self.had_prefix = True
            self.save("script", f"block-{text[:-1]}")
        elif action == "prefix":
            self.had_prefix = True
        elif action == "unknown-prefix":
            raise self.error("unknown deprecated disk prefix", text)
        else:
            assert action == "positional", action
            self.positional(stripped)


def _atoi(text: str) -> int:
    """C atoi (strtol base 10, garbage after the digits ignored)."""
    m = re.match(r"[ \t\n\v\f\r]*([+-]?)0*([0-9]+)", text)
    if m is None:
        return 0
    if len(m.group(2)) > 19:  # beyond a long: strtol saturates, (int) LONG_MAX is -1, LONG_MIN 0
        return 0 if m.group(1) == "-" else -1
    return -int(m.group(2)) if m.group(1) == "-" else int(m.group(2))


def parse_disk(spec: str) -> VirtioDisk | None:
    """A disk= entry in xl's disk syntax (libxlu_disk_l.l, libxlu_disk.c):
    positional ``target,format,vdev,access`` (and the deprecated ``phy:``-style
    prefixes and ``vdev:cdrom``), ``key=value`` settings, ``target=`` taking
    the rest of the string.

    Returns a VirtioDisk for a ``specification=virtio`` disk (backend= must
    be a domain ID; grant_usage None unless given), None for any other disk.
    ConfigError quoting the spec for anything xl would refuse.
    """
    disk = _DiskSpec(spec)
    pos = 0
    while pos < len(spec):
        best = None
        for head, trail, action in _disk_rules():
            m = head.match(spec, pos)
            if m is None:
                continue
            length = m.end() - pos
            if trail is not None:
                t = trail.match(spec, m.end())
                length += t.end() - m.end() if t else 0
            if best is None or length > best[0]:
                best = (length, m, action)
        assert best is not None  # "." matches anything but \n, and \n is "space"
        _, m, action = best
        if action == "bad-syntax":
            raise disk.error("bad disk syntax", spec[pos:])
        disk.act(action, m.group())
        pos = m.end()
    if disk.is_cdrom and not disk.target:
        disk.format = "empty"
    if disk.vdev is None:
        raise disk.error("no vdev specified")
    if disk.target is None and not disk.is_cdrom:
        raise disk.error("no target specified (and device not removable)")
    if disk.specification != "virtio":
        return None
    return VirtioDisk(vdev=disk.vdev, backend_domid=_domid(disk.backend, f"disk spec {spec!r}"),
                      grant_usage=disk.grant_usage)

