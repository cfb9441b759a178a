"""The xl.cfg syntax, as libxlu reads it: text in, an XlConfig out.

This module is the file layer only: parse() and load() turn an xl.cfg file
into an XlConfig, a read-only mapping from setting name to value
(settings.py, with with_flags(), which lays command-line settings over
one: a build from flags alone needs no parser). What the settings mean
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
builder knows the Xen version. The C number helpers the lexer uses
(_strtol, _strtoul_length) are settings.py's.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

from xendt.errors import ConfigError, XlConfigSyntaxError
from xendt.guest.xlcfg.settings import XlConfig, XlSetting, XlValue, _strtol, _strtoul_length

#: Deepest list nesting read. xl's own settings nest lists 2 deep (vnuma=);
#: libxlu's bison parser stops at its YYMAXDEPTH stack, xendt's recursive
#: descent far earlier, here.
MAX_LIST_DEPTH = 64


def load(path: str | os.PathLike[str]) -> XlConfig:
    """parse() the xl.cfg file at path ("-": standard input; bytes that are
    not UTF-8 survive as surrogate escapes, as os.fsdecode does).
    ConfigError if unreadable, a device, or over XL_CONFIG_MAX bytes."""
    from xendt.inputs import XL_CONFIG_MAX, read_capped

    data, name = read_capped(os.fspath(path), "xl.cfg", XL_CONFIG_MAX, ConfigError,
                             why="xl.cfg files are a few KiB")
    return parse(data.decode("utf-8", "surrogateescape"), name)


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


