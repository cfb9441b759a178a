"""An xl.cfg once read: XlConfig, the read-only mapping from setting name to
value that parse() (xendt.guest.xlcfg.syntax) gives, its XlSetting, and
with_flags(), which lays command-line settings over one or makes one from
them alone. A build from flags imports this, not the parser.

In libxlu every value is a string; XlConfig gives an unquoted number that C's
strtol reads whole (decimal, 0x hex, or 0-prefixed octal as in xl) as an int,
everything else as str, and a list as a tuple.

The C number helpers (_strtol, _strtoul_length, the C type limits) live here
too: the lexer needs them, and so do the spec and setting readers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeAlias

XlValue: TypeAlias = "str | int | tuple[XlValue, ...]"

_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_INT_MAX = (1 << 31) - 1
_UINT32_MAX = (1 << 32) - 1
#: C's isspace() characters, which strtol and sscanf skip.
_C_SPACE = " \t\n\v\f\r"


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


_STRTOL = r"[ \t\n\v\f\r]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))"


#: More significant digits than any 64-bit number has in any base (22 in
#: octal): such a number is out of every range, and is not converted.
_MAX_DIGITS = 24


def _strtol(text: str) -> int | None:
    """C strtol(text, &end, 0) when it reads all of text, else None
    (range not checked; a number of more than _MAX_DIGITS significant
    digits, which strtol refuses with ERANGE, is 2**80 with its sign)."""
    m = re.fullmatch(_STRTOL, text)  # compiled once, by re's cache
    if m is None:
        return None
    sign, hexa, octal, decimal = m.groups()
    digits = (hexa or octal or decimal).lstrip("0")
    if len(digits) > _MAX_DIGITS:
        n = 1 << 80
    else:
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
