"""U-Boot's command-line syntax, as a boot script is read by U-Boot itself.

Two readers live here, both following U-Boot v2026.07:

- the default shell, the "old" hush (common/cli_hush.c; cmd/Kconfig makes
  HUSH_OLD_PARSER the default): words, quotes, backslashes, comments, ``;``
  and ``&&``, ``$name`` / ``${name}`` references, and its two-pass expansion;
- the number and property-value readers of the commands: simple_strtoul
  (lib/strto.c) and ``fdt set``'s value parser fdt_parse_prop (cmd/fdt.c).

Why the shell is imitated rather than approximated: old hush expands a
command that holds any ``$`` reference by pasting the values into a new
command line (each originally quoted word wrapped in single quotes) and
parsing that line again, without ``$`` but with comments. So a value's spaces
split words, ``\\"${v}\\"`` keeps a value in one word, and
``fdt set /chosen/domU${i} \\#size-cells <1>`` loses everything from
``#size-cells`` on as a comment. Boot scripts depend on these rules, and some
break on them; xendt gives the board's result either way.

Problems are raised as ConfigError holding only the problem; the interpreter
(xendt.uboot.script) prefixes the script name and line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xendt.errors import ConfigError

# hush brackets a variable name inside a parsed word with this byte
# (SPECIAL_VAR_SYMBOL in common/cli_hush.c).
VAR_MARK = "\x03"

# First words hush treats as the start of a control construct
# (reserved_list in common/cli_hush.c); xendt does not run these.
RESERVED_WORDS = frozenset({"if", "then", "elif", "else", "fi", "for", "while",
                            "until", "in", "do", "done"})

# U-Boot's unsigned long on arm64, the width simple_strtoul and setexpr wrap at.
ULONG_MASK = (1 << 64) - 1

# `fdt set` builds a value in a static buffer of this many bytes (SCRATCHPAD
# in cmd/fdt.c); a longer existing value is refused there, a longer new value
# would overrun it, so xendt refuses both.
SCRATCHPAD = 1024


@dataclass(frozen=True)
class Word:
    """One word of a parsed command.

    text: the word after hush's backslash removal, variable references still
      bracketed by VAR_MARK.
    quoted: a quote appeared in the word (hush's ``nonnull``), so the expanded
      word is re-read inside single quotes.
    """

    text: str
    quoted: bool


@dataclass(frozen=True)
class Command:
    """One simple command of a script.

    line: the 1-based line the command starts on.
    words: its words, unexpanded.
    var_refs: how many ``$`` references it holds (hush's ``sp``).
    """

    line: int
    words: tuple[Word, ...]
    var_refs: int


class _Parser:
    """hush's parse_stream over a whole script (or over one re-read line)."""

    def __init__(self, text: str, reparsing: bool) -> None:
        self.text = text
        self.reparsing = reparsing
        self.pos = 0
        self.line = 1
        self.cmd_line = 1
        self.dest: list[str] = []
        self.quoted = False
        self.in_dquote = False
        self.words: list[Word] = []
        self.var_refs = 0
        self.commands: list[Command] = []

    def _add(self, ch: str) -> None:
        # b_addqchr: inside double quotes these get a protecting backslash,
        # which done_word strips again.
        if self.in_dquote and ch in "*?[\\":
            self.dest.append("\\")
        self.dest.append(ch)

    def _next(self) -> str:
        ch = self.text[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
        return ch

    def _done_word(self) -> None:
        if not self.dest and not self.quoted:
            return
        raw = "".join(self.dest)
        out, i = [], 0
        while i < len(raw):
            if raw[i] == "\\":
                i += 1
                if i == len(raw):
                    break
            out.append(raw[i])
            i += 1
        text = "".join(out)
        if not self.words and not self.reparsing and text in RESERVED_WORDS:
            raise ConfigError(f"shell construct {text!r} is not supported")
        self.words.append(Word(text, self.quoted))
        self.dest, self.quoted = [], False

    def _done_command(self) -> None:
        if self.words:
            self.commands.append(Command(self.cmd_line, tuple(self.words), self.var_refs))
        self.words, self.var_refs = [], 0
        self.cmd_line = self.line

    def _dollar(self) -> None:
        ch = self.text[self.pos] if self.pos < len(self.text) else ""
        if ch.isascii() and ch.isalpha():
            start = self.pos
            while self.pos < len(self.text) and (self.text[self.pos].isascii()
                                                 and (self.text[self.pos].isalnum()
                                                      or self.text[self.pos] == "_")):
                self.pos += 1
            name = self.text[start:self.pos]
        elif ch == "{":
            end = self.text.find("}", self.pos)
            if end < 0:
                raise ConfigError("'${' without a closing '}'")
            name = self.text[self.pos + 1:end]
            self.line += name.count("\n")
            self.pos = end + 1
        elif ch == "?":
            self.pos += 1
            name = "?"
        else:
            self._add("$")
            return
        self.var_refs += 1
        self.dest.append(VAR_MARK + name + VAR_MARK)

    def parse(self) -> list[Command]:
        text = self.text
        while self.pos < len(text):
            ch = self._next()
            if ch in " \t\n":
                if self.in_dquote:
                    self._add(ch)
                    continue
                self._done_word()
                if ch == "\n":
                    self._done_command()
                continue
            if ch == "\\":
                if self.pos == len(text):
                    raise ConfigError("a backslash ends the script")
                self._add("\\")
                self._add(self._next())
            elif ch == "$" and not self.reparsing:
                self._dollar()
            elif ch == "'":
                self.quoted = True
                end = text.find("'", self.pos)
                if end < 0:
                    raise ConfigError("unterminated single quote")
                self.dest.append(text[self.pos:end])
                self.line += text.count("\n", self.pos, end)
                self.pos = end + 1
            elif ch == '"':
                self.quoted = True
                self.in_dquote = not self.in_dquote
            elif self.in_dquote:
                self._add(ch)
            elif ch == "#" and not self.dest:
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif ch in ";&|" and not self.reparsing:
                self._done_word()
                if ch in "&|" and text[self.pos:self.pos + 1] != ch:
                    raise ConfigError(f"a lone {ch!r} is a syntax error in U-Boot's shell")
                if ch == "|":
                    raise ConfigError("'||' is not supported")
                if ch == "&":
                    # `a && b`: xendt refuses every command that would fail on
                    # the board, so b always runs, as after ';'.
                    self.pos += 1
                self._done_command()
            else:
                self._add(ch)
        if self.in_dquote:
            raise ConfigError("unterminated double quote")
        self._done_word()
        self._done_command()
        return self.commands


def parse_script(text: str) -> list[Command]:
    """The commands of a script, in order, unexpanded."""
    return _Parser(text, reparsing=False).parse()


class TooLong(ConfigError):
    """An expansion went past the room expand() was given."""


def expand(command: Command, lookup: Callable[[str], str],
           assign: Callable[[str, str], None], room: int) -> list[str]:
    """The argv U-Boot runs for command (empty for bare assignments).

    lookup(name) gives a variable's text; assign(name, value) sets a hush
    local variable (a leading ``name=value`` word). Raises TooLong as soon as
    the pasted text would pass room characters, before building more."""
    words = list(command.words)
    refs = command.var_refs
    budget = [room]
    while words and _is_assignment(words[0].text):
        text = _substitute(words[0].text, lookup, budget)
        if VAR_MARK in words[0].text:
            refs -= 1
        name, _, value = text.partition("=")
        assign(name, value)
        words.pop(0)
    if not words:
        return []
    if refs <= 0:
        return [w.text for w in words]
    # make_string: paste the values, quote what was quoted, read again.
    line = " ".join(f"'{_substitute(w.text, lookup, budget)}'" if w.quoted
                    else _substitute(w.text, lookup, budget) for w in words)
    reread = _Parser(line + "\n", reparsing=True).parse()
    return [w.text for w in reread[0].words] if reread else []


def _is_assignment(text: str) -> bool:
    name, eq, _ = text.partition("=")
    return bool(eq) and name[:1].isascii() and name[:1].isalpha() and all(
        c.isascii() and (c.isalnum() or c == "_") for c in name)


def _substitute(text: str, lookup: Callable[[str], str], budget: list[int]) -> str:
    """text with its references replaced; budget[0] is the room left, in
    characters, for everything this command pastes."""
    parts = text.split(VAR_MARK)
    out: list[str] = []
    # insert_var_value: odd parts are names; a newline in the result becomes a space.
    for i, part in enumerate(parts):
        piece = lookup(part) if i % 2 else part
        budget[0] -= len(piece) + 1
        if budget[0] < 0:
            raise TooLong("expansion too long")
        out.append(piece)
    return "".join(out).replace("\n", " ")


def strtoul(text: str, base: int = 0) -> tuple[int, int]:
    """simple_strtoul (lib/strto.c): (value, characters used).

    A leading "0x" is skipped whatever the base; base 0 means hex after
    "0x", octal after a bare "0", decimal otherwise; digits stop at the
    first character outside the base; the value wraps at 64 bits."""
    i = 0
    if text[:1] == "0":
        if text[1:2].lower() == "x":
            base, i = 16, 2
        elif base == 0:
            base = 8
    if base == 0:
        base = 10
    value = 0
    while i < len(text) and text[i] in "0123456789abcdefABCDEF" and int(text[i], 16) < base:
        value = (value * base + int(text[i], 16)) & ULONG_MASK
        i += 1
    return value, i


def hextoul(text: str) -> int:
    """hextoul: simple_strtoul in base 16, trailing junk ignored."""
    return strtoul(text, 16)[0]


def parse_prop(args: list[str], scratch: bytearray) -> int:
    """fdt_parse_prop: write the value args spell into scratch; its length.

    ``<...>`` is 32-bit cells in simple_strtoul's base-0 syntax, where
    ``?`` keeps the cell already in the buffer; ``[...]`` is hex bytes; anything
    else is one string per argument, each NUL-terminated. A list may run over
    several arguments; text after its closing bracket, and further arguments,
    are ignored, as U-Boot ignores them."""
    first = args[0]
    out = 0

    def put(data: bytes) -> None:
        nonlocal out
        if out + len(data) > SCRATCHPAD:
            raise ConfigError(f"value is longer than U-Boot's {SCRATCHPAD}-byte buffer")
        scratch[out:out + len(data)] = data
        out += len(data)

    if first[:1] in ("<", "["):
        close = ">" if first[0] == "<" else "]"
        stream = [first[1:], *args[1:]]
        index, s, i = 0, stream[0], 0
        while True:
            if close == "]":
                while s[i:i + 1] == " ":
                    i += 1
            if i == len(s):
                index += 1
                if index == len(stream):
                    raise ConfigError(f"value {' '.join(args)!r} has no closing {close!r}")
                s, i = stream[index], 0
                continue
            if s[i] == close:
                return out
            if close == ">":
                if s[i] == "?":
                    put(bytes(scratch[out:out + 4]))
                    i += 1
                else:
                    value, used = strtoul(s[i:])
                    if used == 0:
                        raise ConfigError(f"cannot read a cell from {s[i:]!r}")
                    put((value & 0xFFFFFFFF).to_bytes(4, "big"))
                    i += used
                while s[i:i + 1] == " ":
                    i += 1
            else:
                if s[i] not in "0123456789abcdefABCDEF":
                    raise ConfigError(f"unexpected character {s[i]!r} in byte list")
                value, used = strtoul(s[i:], 16)
                put(bytes([value & 0xFF]))
                i += used
    for arg in args:
        put(arg.encode() + b"\0")
    return out
