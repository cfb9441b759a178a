"""xl.cfg files as xl reads them, and the guest configuration they describe.

Two layers:

* parse() and load() read the xl.cfg syntax exactly as libxlu accepts it
  (tools/libs/util/libxlu_cfg_l.l, libxlu_cfg_y.y, libxlu_cfg.c) into an
  XlConfig, a read-only mapping from setting name to value.
* guest_config() interprets the settings that decide an Arm guest's device
  tree as tools/xl/xl_parse.c and libxl do, giving a model.GuestConfig and
  xl-style warnings. The spec-string parsers it uses (parse_disk,
  parse_virtio, parse_iomem, parse_pci, kernel_cmdline) are public too.

The syntax, as libxlu has it in every Xen from 4.14 to master:

* settings ``name = value`` or ``name += value``, ended by a newline or
  ``;``; the last one may end at the end of the file. Names are
  ``[a-z][._0-9a-z]*``. A later setting of a name replaces an earlier one;
  ``+=`` appends to the earlier value (string to string, list to list).
* values: ``"…"`` or ``'…'`` strings on one line, with the escapes
  ``\\" \\' \\\\ \\a \\b \\f \\n \\r \\t \\v``; bare numbers
  ``[0-9][0-9a-fx]*``; lists ``[ v, v, … ]`` that may span lines, nest, and
  end with a comma.
* ``#`` comments run to the end of the line. libxlu's lexer needs that
  newline: a comment on a last line without one is a syntax error, as are
  ``\\r`` (CRLF files), upper-case names and Python-isms (``+ - . ( ) :``).
* libxlu rejects every ``\\x`` escape (its hex check can never pass) and
  drops octal escapes (``\\0``–``\\7`` plus the digits after them) from the
  string; both are reproduced.

In libxlu every value is a string; XlConfig gives an unquoted number that C's
strtol reads whole (decimal, 0x hex, or 0-prefixed octal as in xl) as an int,
everything else as str, and a list as a tuple. Version-specific rules
(which Xen knows virtio, nr_spis, grant_usage …) are not checked here: the
builder knows the Xen version.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TypeAlias, TypeVar

from xendt.guest import images
from xendt.errors import ConfigError, ImageError, XlConfigSyntaxError
from xendt.model import GuestConfig, Iomem, Kernel, VirtioDevice, VirtioDisk

XlValue: TypeAlias = "str | int | tuple[XlValue, ...]"
_T = TypeVar("_T")

_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_INT_MAX = (1 << 31) - 1
_UINT32_MAX = (1 << 32) - 1
#: DOMID_FIRST_RESERVED (xen/include/public/xen.h): domids from here on are special.
_DOMID_FIRST_RESERVED = 0x7FF0
#: LIBXL_INVALID_GFN: an iomem @GFN of this value means "no GFN given".
_INVALID_GFN = (1 << 64) - 1


# ---------------------------------------------------------------------------
# The configuration file


@dataclass(frozen=True)
class XlSetting:
    """One setting of an xl.cfg file, after every assignment to its name.

    name:
      the setting name, e.g. "memory".
    value:
      what XlConfig maps the name to: an int for an unquoted number that
      strtol reads whole, a str for any other single value, a tuple for a list
      (items are str, or tuples for nested lists).
    text:
      for a single value, the string libxlu stores (the number as written,
      the string after unquoting); None for a list.
    line, column:
      where the value of the last assignment starts (1-based).
    added:
      True when the last assignment used ``+=`` (xl then refuses it as a number).
    """

    name: str
    value: XlValue
    text: str | None
    line: int
    column: int
    added: bool = False


class XlConfig(Mapping[str, XlValue]):
    """A parsed xl.cfg file: a read-only mapping from setting name to value
    (see XlSetting.value), in the order names first appear.

    filename:
      the name given to parse(), used in every message.

    setting(name) gives the XlSetting with the value's line and column;
    where(name) the ``"file:line"`` prefix for messages.
    """

    def __init__(self, settings: Iterable[XlSetting], filename: str = "<xl.cfg>") -> None:
        self._filename = filename
        self._settings: dict[str, XlSetting] = {}
        for s in settings:
            self._settings[s.name] = s

    @property
    def filename(self) -> str:
        """See the class docstring."""
        return self._filename

    def __getitem__(self, name: str) -> XlValue:
        return self._settings[name].value

    def __iter__(self) -> Iterator[str]:
        return iter(self._settings)

    def __len__(self) -> int:
        return len(self._settings)

    def setting(self, name: str) -> XlSetting:
        """The XlSetting of name; KeyError if the file does not set it."""
        return self._settings[name]

    def line(self, name: str) -> int:
        """The line of name's value."""
        return self._settings[name].line

    def where(self, name: str) -> str:
        """``"file:line"`` of name's value, or ``"--flag"`` for a setting
        given on the command line (line 0), for messages."""
        line = self._settings[name].line
        return f"{self._filename}:{line}" if line else "--" + name.replace("_", "-")

    def __repr__(self) -> str:
        return f"XlConfig({self._filename!r}, {dict(self)!r})"


def load(path: str | os.PathLike[str]) -> XlConfig:
    """parse() the xl.cfg file at path (bytes that are not UTF-8 survive as
    surrogate escapes, as os.fsdecode does). ConfigError if unreadable."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(f"{name}: cannot read the xl.cfg file: {e.strerror}") from e
    return parse(data.decode("utf-8", "surrogateescape"), name)


def with_flags(cfg: XlConfig | None, flags: Mapping[str, XlValue | None]) -> XlConfig:
    """cfg (or an empty configuration) with settings given as command-line
    flags: each replaces the key of the same name, and None removes it.
    Messages about them name the flag (see XlConfig.where)."""
    settings = {name: cfg.setting(name) for name in cfg} if cfg is not None else {}
    for name, value in flags.items():
        if value is None:
            settings.pop(name, None)
        else:
            text = None if isinstance(value, tuple) else str(value)
            settings[name] = XlSetting(name, value, text, line=0, column=0)
    return XlConfig(settings.values(), cfg.filename if cfg is not None else "<command line>")


def parse(text: str, filename: str) -> XlConfig:
    """The settings of an xl.cfg file, whose contents are text.

    XlConfigSyntaxError, with the message ``"{filename}:{line}:{column}:
    {reason}"``, for anything libxlu would not accept (see the module
    docstring). Values are not interpreted: see guest_config().
    """
    return _Parser(text, filename).parse()


@dataclass(frozen=True)
class _Token:
    kind: str  # "ident" "number" "string" "newline" "eof" or the punctuation itself
    text: str  # source text; the unquoted value for a string
    line: int
    column: int


@dataclass(frozen=True)
class _Atom:
    text: str
    number: bool  # an unquoted NUMBER token (not quoted, not built by +=)


_LEXEME = r"""
      (?P<space>[ \t]+)
    | (?P<newline>\n)
    | (?P<comment>\#[^\n]*\n)
    | (?P<ident>[a-z][._0-9a-z]*)
    | (?P<number>[0-9][0-9a-fx]*)
    | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
    | (?P<punct>\+=|[=,;\[\]])
"""


@functools.cache
def _lexeme() -> re.Pattern:
    """The token regex, compiled on first use (import time matters)."""
    return re.compile(_LEXEME, re.VERBOSE)

_SIMPLE_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "a": "\a", "b": "\b", "f": "\f",
                   "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_C_SPACE = " \t\n\v\f\r"


class _Parser:
    """libxlu's grammar, by recursive descent over a lazily lexed token
    stream (so the first error in the file is the one reported)."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.tokens = self._lex()
        self.tok = next(self.tokens)
        self.settings: dict[str, tuple[_Atom | list, int, int, bool]] = {}

    def error(self, line: int, column: int, reason: str) -> XlConfigSyntaxError:
        return XlConfigSyntaxError(f"{self.filename}:{line}:{column}: {reason}")

    # -- lexer (libxlu_cfg_l.l) --

    def _lex(self) -> Iterator[_Token]:
        text = self.text
        pos, line, line_start = 0, 1, 0
        while pos < len(text):
            column = pos - line_start + 1
            m = _lexeme().match(text, pos)
            if m is None:
                raise self.error(line, column, self._lexical_error(text[pos]))
            kind = m.lastgroup
            if kind in ("newline", "comment"):
                yield _Token("newline", "", line, column)
                line += 1
                line_start = m.end()
            elif kind == "string":
                yield _Token("string", self._unquote(m.group(), line, column), line, column)
            elif kind == "punct":
                yield _Token(m.group(), m.group(), line, column)
            elif kind != "space":
                yield _Token(kind, m.group(), line, column)
            pos = m.end()
        while True:
            yield _Token("eof", "", line, pos - line_start + 1)

    @staticmethod
    def _lexical_error(char: str) -> str:
        if char == "#":
            return "comment at the end of the file lacks a newline (xl's parser needs one)"
        if char in "'\"":
            return f"unterminated string: {char} … {char} must close on the same line"
        if char == "\r":
            return "carriage return: xl.cfg needs Unix line endings (\\n, not \\r\\n)"
        if char in "+-.():":
            return f"unexpected {char!r}: xl.cfg is not Python, it has no expressions"
        if "A" <= char <= "Z":
            return f"unexpected {char!r}: names and bare numbers in xl.cfg are lower case"
        if char == "_":
            return "unexpected '_': a setting name starts with a letter a-z"
        return f"unexpected character {char!r}"

    def _unquote(self, quoted: str, line: int, column: int) -> str:
        """libxlu's dequoting of a string token, quirks included."""
        out: list[str] = []
        i, end = 1, len(quoted) - 1
        while i < end:
            c = quoted[i]
            i += 1
            if c != "\\":
                out.append(c)
                continue
            escape = quoted[i]
            i += 1
            if escape in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[escape])
            elif escape == "x":
                raise self.error(line, column + i - 2,
                                 "hex escape \\x…: xl rejects every \\x escape in a string")
            elif "0" <= escape <= "7":
                # libxlu reads up to 3 more characters as a decimal number,
                # needs at least 2 of them to parse, and stores nothing.
                taken = _strtoul_length(quoted[i:i + 3], 10)
                if taken < 2:
                    raise self.error(line, column + i - 2,
                                     f"octal escape \\{escape} that xl cannot parse"
                                     " (it reads 2 more digits)")
                i += taken
            else:
                raise self.error(line, column + i - 2,
                                 f"invalid escape \\{escape} in a string")
        return "".join(out)

    # -- grammar (libxlu_cfg_y.y) --

    def advance(self) -> _Token:
        tok = self.tok
        self.tok = next(self.tokens)
        return tok

    def unexpected(self, expected: str) -> XlConfigSyntaxError:
        return self.error(self.tok.line, self.tok.column,
                          f"expected {expected}, got {_describe(self.tok)}")

    def parse(self) -> XlConfig:
        while self.tok.kind != "eof":
            if self.tok.kind in ("newline", ";"):
                self.advance()
                continue
            if self.tok.kind != "ident":
                raise self.unexpected("a setting name")
            self.assignment()
            if self.tok.kind in ("newline", ";"):
                self.advance()
            elif self.tok.kind != "eof":
                raise self.unexpected("end of line or ';' after the value")
        return XlConfig((_setting(name, *rest) for name, rest in self.settings.items()),
                        self.filename)

    def assignment(self) -> None:
        name = self.advance()
        if self.tok.kind not in ("=", "+="):
            raise self.unexpected(f"'=' or '+=' after {name.text!r}")
        added = self.advance().kind == "+="
        start = self.tok
        value = self.value()
        previous = self.settings.get(name.text)
        if added and previous is not None:
            old = previous[0]
            if isinstance(old, list) != isinstance(value, list):
                raise self.error(start.line, start.column,
                                 f"cannot add {'a list' if isinstance(value, list) else 'a string'}"
                                 f" to {'a list' if isinstance(old, list) else 'a string'}"
                                 f" with {name.text} +=")
            if isinstance(old, list):
                assert isinstance(value, list)
                value = old + value
            else:
                assert isinstance(value, _Atom)
                value = _Atom(old.text + value.text, number=False)
        self.settings[name.text] = (value, start.line, start.column, added)

    def value(self) -> _Atom | list:
        tok = self.tok
        if tok.kind in ("string", "number"):
            self.advance()
            return _Atom(tok.text, number=tok.kind == "number")
        if tok.kind != "[":
            raise self.unexpected("a value (a string, a number or '[')")
        self.advance()
        items: list = []
        self.newlines()
        while self.tok.kind != "]":
            items.append(self.value())
            self.newlines()
            if self.tok.kind == ",":
                self.advance()
                self.newlines()
            elif self.tok.kind != "]":
                raise self.unexpected("',' or ']' in the list")
        self.advance()
        return items

    def newlines(self) -> None:
        while self.tok.kind == "newline":
            self.advance()


def _describe(tok: _Token) -> str:
    if tok.kind == "newline":
        return "end of line"
    if tok.kind == "eof":
        return "end of file"
    if tok.kind == "string":
        return f"string {tok.text!r}"
    if tok.kind == "number":
        return f"number {tok.text}"
    if tok.kind == "ident":
        return f"name {tok.text!r}"
    return repr(tok.kind)


def _setting(name: str, value: _Atom | list, line: int, column: int, added: bool) -> XlSetting:
    if isinstance(value, list):
        return XlSetting(name, _items(value), None, line, column, added)
    public: XlValue = value.text
    if value.number:
        number = _strtol(value.text)
        if number is not None:
            public = number
    return XlSetting(name, public, value.text, line, column, added)


def _items(values: list) -> tuple[XlValue, ...]:
    return tuple(_items(v) if isinstance(v, list) else v.text for v in values)


_STRTOL = r"[ \t\n\v\f\r]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))"


def _strtol(text: str) -> int | None:
    """C strtol(text, &end, 0) when it reads all of text, else None
    (range not checked)."""
    m = re.fullmatch(_STRTOL, text)  # compiled once, by re's cache
    if m is None:
        return None
    sign, hexa, octal, decimal = m.groups()
    n = int(hexa, 16) if hexa else int(octal, 8) if octal else int(decimal)
    return -n if sign == "-" else n


def _strtoul_length(text: str, base: int) -> int:
    """How many characters of text C's strtoul(text, &end, base) consumes
    (0 when it converts nothing). Only bases 10 and 16 are needed."""
    digits = "0123456789" if base == 10 else "0123456789abcdefABCDEF"
    i = 0
    while i < len(text) and text[i] in _C_SPACE:
        i += 1
    if i < len(text) and text[i] in "+-":
        i += 1
    start = i
    while i < len(text) and text[i] in digits:
        i += 1
    return i if i > start else 0


# ---------------------------------------------------------------------------
# Spec strings


def kernel_cmdline(cmdline: str | None, root: str | None, extra: str | None) -> str | None:
    """The kernel command line xl hands libxl (xl_parse.c parse_cmdline):
    cmdline when set (root and extra are then ignored), else ``"root=R E"``,
    ``"root=R"`` or ``"E"``, else None (no /chosen/bootargs). Empty strings
    count as set, as in xl."""
    if cmdline is not None:
        return cmdline
    if root is not None and extra is not None:
        return f"root={root} {extra}"
    if root is not None:
        return f"root={root}"
    return extra


def _domid(backend: str | None, what: str) -> int:
    """libxl_domain_qualifier_to_domid for a backend= value: all digits
    (even none) is a domid; anything else is a name libxl would look up."""
    if backend is None:
        return 0
    if not backend.isascii() or not (backend == "" or backend.isdigit()):
        raise ConfigError(f"{what}: backend={backend!r} is a domain name; xendt cannot look up"
                          " running domains, give the backend's domain ID (a number)")
    domid = int(backend or "0")
    if domid >= _DOMID_FIRST_RESERVED:
        raise ConfigError(f"{what}: backend={backend!r} is not a domain ID: expected"
                          f" 0 to {_DOMID_FIRST_RESERVED - 1}")
    return domid


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
def _disk_rules() -> list:
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
        stripped = text[:-1] if text.endswith(",") else text
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
    m = re.match(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)", text)
    if m is None:
        return 0
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


def parse_virtio(spec: str) -> VirtioDevice:
    """A virtio= entry (xl_parse.c parse_virtio_list): comma-separated
    ``backend=``, ``type=``, ``transport=`` and ``grant_usage=`` settings,
    where a type value starting with "virtio" takes the next comma-separated
    part too (``type=virtio,device22``).

    transport is "mmio" or, when absent, "unknown" (libxl then gives the
    device no virtio-mmio node). backend must be a domain ID; grant_usage is
    None unless given. ConfigError quoting the spec for anything xl or libxl
    would refuse.
    """
    what = f"virtio spec {spec!r}"
    parts = [p for p in spec.split(",") if p]  # strtok skips empty parts
    backend: str | None = None
    type_: str | None = None
    transport = "unknown"
    grant_usage: bool | None = None
    i = 0
    while i < len(parts):
        part = parts[i].lstrip(" ")
        if part.startswith("type=") and part[len("type="):].startswith("virtio"):
            if i + 1 == len(parts):
                raise ConfigError(f"{what}: {part!r} lacks the ',device<N>' part of its type")
            i += 1
            part = f"{part},{parts[i]}"
        key, equals, value = part.partition("=")
        if not equals or key not in ("backend", "type", "transport", "grant_usage"):
            raise ConfigError(f"{what}: unknown setting {part!r}: expected backend=, type=,"
                              " transport= or grant_usage=")
        if key == "backend":
            backend = value
        elif key == "type":
            type_ = value
        elif key == "transport":
            if value.lower() not in ("mmio", "unknown"):
                raise ConfigError(f"{what}: transport={value!r}: expected 'mmio'")
            transport = value.lower()
        else:
            number = _strtol(value)
            if number is None:
                raise ConfigError(f"{what}: grant_usage={value!r}: expected 0 or 1")
            grant_usage = number != 0
        i += 1
    if type_ is None and transport == "mmio":
        raise ConfigError(f"{what}: no type= (e.g. type=virtio,device22)")
    return VirtioDevice(type=type_ or "", transport=transport,
                        backend_domid=_domid(backend, what), grant_usage=grant_usage)


def _scan_hex(text: str, i: int) -> tuple[int, int] | None:
    """sscanf's %x at text[i:]: (signed value, end index), or None."""
    j = i
    while j < len(text) and text[j] in _C_SPACE:
        j += 1
    negative = j < len(text) and text[j] == "-"
    if j < len(text) and text[j] in "+-":
        j += 1
    if text[j:j + 2] in ("0x", "0X") and j + 2 < len(text) and text[j + 2] in _HEX_DIGITS:
        j += 2
    start = j
    while j < len(text) and text[j] in _HEX_DIGITS:
        j += 1
    if j == start:
        return None
    value = int(text[start:j], 16)
    return (-value if negative else value), j


_HEX_DIGITS = "0123456789abcdefABCDEF"


def parse_iomem(spec: str) -> Iomem:
    """An iomem= entry ``"IOMEM_START,NUM_PAGES[@GFN]"``, all hexadecimal
    (with or without 0x), as xl's ``sscanf("%lx,%lx%n@%lx%n")`` reads it.
    gfn is None without @GFN (libxl then maps at IOMEM_START)."""
    def bad(reason: str) -> ConfigError:
        return ConfigError(f"iomem spec {spec!r}: {reason}")

    numbers: list[int] = []
    pos = 0
    for separator in ("", ",", "@"):
        start = pos + len(separator)
        if not spec.startswith(separator, pos):
            break
        scanned = _scan_hex(spec, start)
        if scanned is None:
            break
        value, pos = scanned
        if not 0 <= value <= _INVALID_GFN:
            raise bad(f"{spec[start:pos].strip()!r} is out of range: expected 0 to"
                      f" 0x{_INVALID_GFN:x}")
        numbers.append(value)
    if len(numbers) < 2 or pos != len(spec):
        raise bad('expected "IOMEM_START,NUM_PAGES[@GFN]" in hexadecimal')
    gfn = numbers[2] if len(numbers) == 3 and numbers[2] != _INVALID_GFN else None
    return Iomem(start=numbers[0], pages=numbers[1], gfn=gfn)


@dataclass(frozen=True)
class PciDevice:
    """A pci= entry (libxlu_pci.c, 4.16+ syntax): a host device given by BDF
    or by name (exactly one of them).

    domain, bus, dev, func:
      the host BDF (all 0 when given by name).
    all_functions:
      True for ``BB:DD.*``.
    vslot:
      the guest slot from ``@VSLOT`` or ``vslot=``, or None.
    name:
      the assignable device name from ``name=``, or None.
    """

    domain: int = 0
    bus: int = 0
    dev: int = 0
    func: int = 0
    all_functions: bool = False
    vslot: int | None = None
    name: str | None = None


def _scan_hex32(text: str, i: int) -> tuple[int, int] | None:
    """%x into an unsigned int (negative wraps, overflow saturates)."""
    scanned = _scan_hex(text, i)
    if scanned is None:
        return None
    value, j = scanned
    if value > _UINT32_MAX:
        value = _UINT32_MAX
    return value % (1 << 32), j


def _parse_bdf(text: str) -> tuple[PciDevice, int] | None:
    """libxlu's parse_bdf: ``[DDDD:]BB:DD.F`` or ``.*``; the device and the
    index after it, or None."""
    prefix = re.match(r"[0-9a-fA-F:]*", text)
    assert prefix is not None
    colons = prefix.group().count(":")
    if colons not in (1, 2):
        return None
    fields: list[int] = []
    pos = 0
    for separator in ([":", "."] if colons == 1 else [":", ":", "."]):
        scanned = _scan_hex32(text, pos)
        if scanned is None or not text.startswith(separator, scanned[1]):
            return None
        fields.append(scanned[0])
        pos = scanned[1] + 1
    domain, bus, dev = ([0] + fields) if colons == 1 else fields
    if domain > 0xFFFF or bus > 0xFF or dev > 0x1F:
        return None
    if text.startswith("*", pos):
        return PciDevice(domain, bus, dev, 0, all_functions=True), pos + 1
    scanned = _scan_hex32(text, pos)
    if scanned is None or scanned[0] > 7:
        return None
    return PciDevice(domain, bus, dev, scanned[0]), scanned[1]


def _parse_vslot(text: str) -> tuple[int, int] | None:
    scanned = _scan_hex32(text, 0)
    if scanned is None or scanned[0] > 0x1F:
        return None
    return scanned


def parse_pci(spec: str) -> PciDevice:
    """A pci= entry as xl accepts it (libxlu_pci.c xlu_pci_parse_spec_string,
    4.16+): an optional positional ``[DDDD:]BB:DD.F[@VSLOT]`` (F may be
    ``*``), then ``key=value`` settings bdf=, vslot=, permissive=,
    msitranslate=, seize=, power_mgmt=, rdm_policy=, name=; a BDF or a name
    but not both. ConfigError quoting the spec otherwise."""
    def bad(reason: str) -> ConfigError:
        return ConfigError(f"pci spec {spec!r}: {reason}")

    device = PciDevice()
    has_bdf = has_name = False
    rest = spec
    positional = _parse_bdf(spec)
    if positional is not None:
        device, pos = positional
        has_bdf = True
        if spec.startswith("@", pos):
            slot = _parse_vslot(spec[pos + 1:])
            if slot is None:
                raise bad(f"bad @VSLOT {spec[pos:]!r}: expected a slot 0 to 1f")
            device = replace(device, vslot=slot[0])
            pos += 1 + slot[1]
        if spec.startswith(",", pos):
            pos += 1
        elif pos != len(spec):
            raise bad(f"unexpected {spec[pos:]!r} after the BDF")
        rest = spec[pos:]
    while rest:
        key, equals, rest = rest.partition("=")
        if not equals:
            raise bad(f"expected key=value, got {key!r}")
        value, _, rest = rest.partition(",")
        if key == "bdf":
            parsed = _parse_bdf(value)
            if parsed is None:
                raise bad(f"bdf={value!r}: expected [DDDD:]BB:DD.F")
            device = replace(parsed[0], vslot=device.vslot, name=device.name)
            has_bdf = True
        elif key == "vslot":
            slot = _parse_vslot(value)
            if slot is None:
                raise bad(f"vslot={value!r}: expected a slot 0 to 1f")
            device = replace(device, vslot=slot[0])
        elif key == "rdm_policy":
            if value.lower() not in ("strict", "relaxed", "invalid"):
                raise bad(f"rdm_policy={value!r}: expected 'strict' or 'relaxed'")
        elif key == "name":
            has_name = True
            device = replace(device, name=value)
        elif key not in ("permissive", "msitranslate", "seize", "power_mgmt"):
            raise bad(f"unknown setting {key!r}")
    if has_bdf == has_name:
        raise bad("expected a BDF ([DDDD:]BB:DD.F) or name=, not "
                  + ("both" if has_bdf else "neither"))
    return device


# ---------------------------------------------------------------------------
# The guest configuration


_GIC_VERSIONS = ("default", "v2", "v3")
_TEE_TYPES = ("none", "optee", "ffa")


def guest_config(cfg: XlConfig, *, read_files: bool = True, kernel: Kernel | None = None,
                 ramdisk_size: int | None = None, partial_dtb: bytes | None = None,
                 ) -> tuple[GuestConfig, list[str]]:
    """The GuestConfig xl and libxl derive from cfg, and xl-style warnings
    (``"file:line: message"``).

    Settings read: type (and the old builder), memory, maxmem, videoram,
    vcpus, maxvcpus, gic_version, vuart, cmdline, root, extra, kernel,
    ramdisk, device_tree, disk, virtio, pci, iomem, tee, acpi, nr_spis, vpmu.
    Every other setting is ignored, as xl ignores names it does not know.

    The files cfg names are handled like this, each on its own:

    * kernel (a Kernel), ramdisk_size (bytes) and partial_dtb (the blob):
      when given, used instead of the file cfg names (or added when cfg
      names none); the file is then not opened. This is how a caller
      replaces the kernel or the ramdisk.
    * read_files=True (default): a named file not replaced is read
      (images.read_kernel, images.ramdisk_size, images.read_device_tree), its
      path used as given, relative to the current directory like xl.
    * read_files=False: nothing is opened; a named file not replaced is a
      ConfigError. Use it to build from known facts (tests, --kernel-size …).

    memory_mib is the RAM libxl gives an Arm guest: it builds it as PVH with
    maxmem − videoram MiB (libxl__build_dom), maxmem defaulting to memory and
    memory to 32; a warning says so when maxmem or videoram change it.
    Raises ConfigError (XlConfigSyntaxError, ImageError are kinds of it)
    naming the file, line, setting and value.
    """
    warnings: list[str] = []
    _check_domain_type(cfg, warnings)
    memory_mib = _memory(cfg, warnings)
    max_vcpus = _vcpus(cfg)

    gic = _choice(cfg, "gic_version", _GIC_VERSIONS, "default")
    vuart = _choice(cfg, "vuart", ("sbsa_uart", "unknown"), "unknown") == "sbsa_uart"
    tee = _choice(cfg, "tee", _TEE_TYPES, "none")

    cmdline = _string(cfg, "cmdline")
    root, extra = _string(cfg, "root"), _string(cfg, "extra")
    if cmdline is not None and (root is not None or extra is not None):
        key = "root" if root is not None else "extra"
        warnings.append(f"{cfg.where(key)}: ignoring root= and extra= in favour of cmdline=")

    if kernel is None:
        kernel = _file(cfg, "kernel", images.read_kernel, read_files)
        if kernel is None:
            raise ConfigError(f"{cfg.filename}: no kernel= setting (libxl needs a kernel to"
                              " build an Arm guest)")
    if ramdisk_size is None and _string(cfg, "ramdisk"):  # libxl skips ramdisk = ""
        ramdisk_size = _file(cfg, "ramdisk", images.ramdisk_size, read_files)
    dtb_path = _string(cfg, "device_tree")
    if partial_dtb is None:
        partial_dtb = _file(cfg, "device_tree", images.read_device_tree, read_files)

    disks = tuple(d for d in _specs(cfg, "disk", parse_disk) if d is not None)
    virtio = tuple(_specs(cfg, "virtio", parse_virtio))
    for i, device in enumerate(virtio):
        if device.transport != "mmio":
            warnings.append(f"{cfg.where('virtio')}: virtio entry {i + 1} has no transport=mmio:"
                            " libxl gives it no virtio-mmio node")

    guest = GuestConfig(
        memory_mib=memory_mib,
        max_vcpus=max_vcpus,
        gic_version=gic,
        vuart=vuart,
        cmdline=kernel_cmdline(cmdline, root, extra),
        kernel=kernel,
        ramdisk_size=ramdisk_size,
        partial_dtb=partial_dtb,
        partial_dtb_name=dtb_path if dtb_path is not None else
        ("<partial_dtb>" if partial_dtb is not None else ""),
        disks=disks,
        virtio=virtio,
        pci_devices=len(_specs(cfg, "pci", parse_pci)),
        iomem=tuple(_specs(cfg, "iomem", parse_iomem)),
        tee=tee,
        acpi=_flag(cfg, "acpi"),
        nr_spis=_number(cfg, "nr_spis", 0, _UINT32_MAX),
        vpmu=_flag(cfg, "vpmu"),
    )
    return guest, warnings


def _shown(cfg: XlConfig, key: str) -> str:
    s = cfg.setting(key)
    if isinstance(s.value, tuple):
        return repr(list(s.value))
    return s.text if isinstance(s.value, int) else repr(s.text)


def _bad(cfg: XlConfig, key: str, expected: str) -> ConfigError:
    return ConfigError(f"{cfg.where(key)}: {key} = {_shown(cfg, key)}: expected {expected}")


def _number(cfg: XlConfig, key: str, lo: int = _LONG_MIN, hi: int = _LONG_MAX) -> int | None:
    """xlu_cfg_get_long: a number (a string strtol reads whole is one too)."""
    if key not in cfg:
        return None
    s = cfg.setting(key)
    if isinstance(s.value, tuple):
        raise _bad(cfg, key, "a number, not a list")
    if s.added:
        raise ConfigError(f"{cfg.where(key)}: {key} += …: xl does not accept += for a number")
    value = s.value if isinstance(s.value, int) else _strtol(s.value)
    if value is None:
        raise _bad(cfg, key, "a number")
    if not lo <= value <= hi:
        raise _bad(cfg, key, f"a number from {lo} to {hi}")
    return value


def _flag(cfg: XlConfig, key: str) -> bool:
    """xlu_cfg_get_defbool: a number, true when not 0."""
    return bool(_number(cfg, key))


def _string(cfg: XlConfig, key: str) -> str | None:
    """xlu_cfg_get_string: a single value, as libxlu stores it."""
    if key not in cfg:
        return None
    s = cfg.setting(key)
    if s.text is None:
        raise _bad(cfg, key, "a string, not a list")
    return s.text


def _choice(cfg: XlConfig, key: str, choices: tuple[str, ...], default: str) -> str:
    """A libxl enumeration name, matched without regard to case."""
    value = _string(cfg, key)
    if value is None:
        return default
    if value.lower() not in choices:
        raise _bad(cfg, key, "one of " + ", ".join(repr(c) for c in choices))
    return value.lower()


def _strings(cfg: XlConfig, key: str) -> tuple[str, ...]:
    """xlu_cfg_get_list of strings (xl stops at a nested list; xendt refuses it)."""
    if key not in cfg:
        return ()
    value = cfg[key]
    if not isinstance(value, tuple):
        raise _bad(cfg, key, f'a list: {key} = [ "…", … ]')
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(f"{cfg.where(key)}: {key} item {i + 1} = {list(item)!r}:"
                              " expected a string, not a list")
    return value  # type: ignore[return-value]


def _specs(cfg: XlConfig, key: str, parser: Callable[[str], _T]) -> list[_T]:
    """parser applied to every string of the list key, errors located."""
    results = []
    for spec in _strings(cfg, key):
        try:
            results.append(parser(spec))
        except ConfigError as e:
            raise ConfigError(f"{cfg.where(key)}: {e}") from e
    return results


def _file(cfg: XlConfig, key: str, reader: Callable[[str], _T], read_files: bool) -> _T | None:
    """reader(path) for the file cfg names under key, or None if none."""
    path = _string(cfg, key)
    if path is None:
        return None
    if not read_files:
        raise ConfigError(f"{cfg.where(key)}: {key} = {path!r}: not read (read_files=False)"
                          f" and no replacement given")
    try:
        return reader(path)
    except ImageError as e:
        raise ImageError(f"{cfg.where(key)}: {e}") from e


def _check_domain_type(cfg: XlConfig, warnings: list[str]) -> None:
    """type= (and the deprecated builder=) as xl matches them: any prefix of
    the name. libxl turns PV into PVH on Arm and refuses HVM."""
    def kind(key: str, names: dict[str, str]) -> str | None:
        value = _string(cfg, key)
        if value is None:
            return None
        for name, result in names.items():
            if name.startswith(value):
                return result
        raise _bad(cfg, key, "'pvh'")

    type_ = kind("type", {"hvm": "hvm", "pv": "pv", "pvh": "pvh"})
    builder = kind("builder", {"hvm": "hvm", "generic": "pv"})
    if type_ is not None and builder is not None and type_ != builder:
        raise ConfigError(f"{cfg.where('builder')}: builder = {_shown(cfg, 'builder')}"
                          f" contradicts type = {_shown(cfg, 'type')}")
    key = "type" if type_ is not None else "builder"
    if (type_ or builder) == "hvm":
        raise _bad(cfg, key, "'pvh' (libxl refuses HVM guests on Arm)")
    if (type_ or builder) == "pv":
        warnings.append(f"{cfg.where(key)}: {key} = {_shown(cfg, key)}: libxl converts a PV"
                        " guest to PVH on Arm")


def _memory(cfg: XlConfig, warnings: list[str]) -> int:
    """The guest RAM in MiB: (max_memkb − video_memkb) / 1024, as
    libxl__build_dom computes it for the HVM container Arm PVH guests use."""
    hi = _LONG_MAX // 1024
    memory = _number(cfg, "memory", 0, hi)
    maxmem = _number(cfg, "maxmem", 0, hi)
    videoram = _number(cfg, "videoram", 0, hi)
    max_mib = maxmem if maxmem is not None else memory if memory is not None else 32
    ram = max_mib - (videoram or 0)
    if ram < 0:
        raise ConfigError(f"{cfg.where('videoram')}: videoram = {_shown(cfg, 'videoram')}:"
                          f" more than the guest's {max_mib} MiB of memory")
    if maxmem is not None and maxmem != (memory if memory is not None else maxmem):
        warnings.append(f"{cfg.where('maxmem')}: maxmem = {maxmem} differs from memory ="
                        f" {memory}: libxl gives an Arm guest maxmem MiB of RAM, while Xen"
                        " limits it to memory + 1 MiB")
    if videoram:
        warnings.append(f"{cfg.where('videoram')}: videoram = {videoram}: libxl takes it off"
                        f" the Arm guest's RAM ({max_mib} - {videoram} MiB)")
    return ram


def _vcpus(cfg: XlConfig) -> int:
    """maxvcpus, defaulting to vcpus (which xl raises to at least 1)."""
    vcpus = max(_number(cfg, "vcpus", -_INT_MAX - 1, _INT_MAX) or 1, 1)
    maxvcpus = _number(cfg, "maxvcpus", -_INT_MAX - 1, _INT_MAX) or vcpus
    if maxvcpus < vcpus:
        raise ConfigError(f"{cfg.where('maxvcpus')}: maxvcpus = {_shown(cfg, 'maxvcpus')}:"
                          f" fewer than vcpus ({vcpus}); xl refuses maxvcpus < vcpus")
    return maxvcpus


def load_guest(path: str | os.PathLike[str], **files) -> tuple[GuestConfig, list[str]]:
    """The GuestConfig of the xl.cfg file at `path`, and xl's warnings:
    load() then guest_config() (keyword arguments go to guest_config)."""
    return guest_config(load(path), **files)
