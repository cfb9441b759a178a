"""The xl.cfg syntax, as libxlu reads it: text in, an XlConfig out.

This module is the file layer only: parse() and load() turn an xl.cfg file
into an XlConfig, a read-only mapping from setting name to value, and
with_flags() lays command-line settings over one. What the settings mean
for a guest is config.py's job; the spec strings inside them are disk.py's
and devices.py's.

libxlu's grammar lives in tools/libs/util/ (tools/libxl/ in 4.14):
libxlu_cfg_l.l (the flex lexer), libxlu_cfg_y.y (the bison grammar) and
libxlu_cfg.c (dequoting, += and the getters). Their only change from
RELEASE-4.14.0 to RELEASE-4.22.0 is 3ae0d316f0 "tools: move libxlutil to
tools/libs/util", so every Xen xendt knows has this syntax:

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

The C number helpers (_strtol, _strtoul_length, the C type limits) live here
too: the lexer needs them, and so do the spec and setting readers.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from xendt.errors import ConfigError, XlConfigSyntaxError

XlValue: TypeAlias = "str | int | tuple[XlValue, ...]"

#: Deepest list nesting read. xl's own settings nest lists 2 deep (vnuma=);
#: libxlu's bison parser stops at its YYMAXDEPTH stack, xendt's recursive
#: descent far earlier, here.
MAX_LIST_DEPTH = 64

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


def load(path: str | os.PathLike[str]) -> XlConfig:
    """parse() the xl.cfg file at path ("-": standard input; bytes that are
    not UTF-8 survive as surrogate escapes, as os.fsdecode does).
    ConfigError if unreadable, a device, or over XL_CONFIG_MAX bytes."""
    from xendt.inputs import XL_CONFIG_MAX, read_capped

    data, name = read_capped(os.fspath(path), "xl.cfg", XL_CONFIG_MAX, ConfigError,
                             why="xl.cfg files are a few KiB")
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


#: A value as the parser holds it: an atom, or a list of values.
_Value: TypeAlias = "_Atom | list[_Value]"


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
def _lexeme() -> re.Pattern[str]:
    """The token regex, compiled on first use (import time matters)."""
    return re.compile(_LEXEME, re.VERBOSE)


_SIMPLE_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "a": "\a", "b": "\b", "f": "\f",
                   "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class _Parser:
    """libxlu's grammar, by recursive descent over a lazily lexed token
    stream (so the first error in the file is the one reported)."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.tokens = self._lex()
        self.tok = next(self.tokens)
        self.settings: dict[str, tuple[_Value, int, int, bool]] = {}

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
            assert kind is not None  # every alternative of _LEXEME is a named group
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

    def value(self, depth: int = 0) -> _Value:
        tok = self.tok
        if tok.kind in ("string", "number"):
            self.advance()
            return _Atom(tok.text, number=tok.kind == "number")
        if tok.kind != "[":
            raise self.unexpected("a value (a string, a number or '[')")
        if depth == MAX_LIST_DEPTH:
            raise self.error(tok.line, tok.column, f"lists nested more than {MAX_LIST_DEPTH}"
                             " deep (xl's settings nest 2 deep)")
        self.advance()
        items: list[_Value] = []
        self.newlines()
        while self.tok.kind != "]":
            items.append(self.value(depth + 1))
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


def _setting(name: str, value: _Value, line: int, column: int, added: bool) -> XlSetting:
    if isinstance(value, list):
        return XlSetting(name, _items(value), None, line, column, added)
    public: XlValue = value.text
    if value.number:
        number = _strtol(value.text)
        if number is not None:
            public = number
    return XlSetting(name, public, value.text, line, column, added)


def _items(values: list[_Value]) -> tuple[XlValue, ...]:
    return tuple(_items(v) if isinstance(v, list) else v.text for v in values)


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

