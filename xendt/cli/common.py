"""What every command shares: where its output goes and in which format
(one convention), and how its warnings are said.

Output: `-o FILE|-` (default -, standard output). The format is --format's,
or else the one the file's extension names (.dtb, .dts, .json, .svg; .txt or
no extension: the command's text format), or else the command's default;
an extension and a --format that disagree are one line, status 2.

Warnings: said once per cause on stderr, `xendt: warning: ...`; identical
messages about several domains (or hosts) are one line naming them all.
--quiet leaves them out; --warnings-as-errors makes any warning end the
command with status 1 before anything is written.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

_QUIET = "xendt.quiet"
_STRICT = "xendt.warnings_as_errors"

#: The format a file's extension names ("text": the command's text format).
EXTENSIONS = {".dtb": "dtb", ".dts": "dts", ".json": "json", ".svg": "svg", ".txt": "text"}
#: Extensions that name one format and so conflict with another --format.
_STRICT_EXTENSIONS = (".dtb", ".dts", ".json", ".svg")
#: Above this many domains with one message, the line names the first two
#: and the last, and counts them.
_NAMED = 4


def _remember(key: str) -> Callable[[click.Context, click.Parameter, bool], None]:
    def store(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            ctx.meta[key] = True

    return store


def warning_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--quiet and --warnings-as-errors (read by warn())."""
    command = click.option("--warnings-as-errors", is_flag=True, expose_value=False,
                           callback=_remember(_STRICT),
                           help="Any warning is an error: exit 1 before writing anything.")(command)
    return click.option("--quiet", "-q", is_flag=True, expose_value=False,
                        callback=_remember(_QUIET),
                        help="Do not print warnings (--warnings-as-errors still counts them).")(command)


def output_options(formats: Sequence[str], default: str, help: str, *, text: str = "text",
                   output_help: str = "Where to write; - is standard output.",
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """-o/--output and --format, resolved into the keyword arguments
    `output` and `fmt` (one of `formats`): see output_format(). `text` is
    the format a .txt file (or one without extension) stands for; with
    --quiet and --warnings-as-errors."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def run(*args: Any, output: str, fmt: str | None, **kwargs: Any) -> Any:
            chosen = output_format(output, fmt, formats, default, text)
            return command(*args, output=output, fmt=chosen, **kwargs)

        decorated = warning_options(run)
        decorated = click.option(
            "--format", "fmt", type=click.Choice(list(formats)), default=None,
            help=f"{help} [default: as -o FILE's extension says, else {default}]")(decorated)
        return click.option("--output", "-o", default="-", show_default=True,
                            metavar="FILE|-", help=output_help)(decorated)

    return decorate


def output_format(output: str, fmt: str | None, formats: Sequence[str], default: str,
                  text: str = "text") -> str:
    """The format to write `output` in: `fmt` if given, else the one the
    file's extension names, else `default`. UsageError (one line, status 2)
    when the extension names another format than `fmt`, or one this
    command does not write."""
    extension = ""
    if output != "-" and not output.endswith(os.sep):
        extension = os.path.splitext(output)[1].lower()
    if extension not in EXTENSIONS:  # none, or one that names no format
        return fmt or default
    implied = text if EXTENSIONS[extension] == "text" else EXTENSIONS[extension]
    if fmt is not None:
        if extension in _STRICT_EXTENSIONS and implied != fmt:
            raise click.UsageError(f"-o {output} names a {extension} file but --format is"
                                   f" {fmt}: give one of them, or make them agree")
        return fmt
    if implied not in formats:
        raise click.UsageError(f"-o {output}: this command does not write {extension} files;"
                               f" it writes {', '.join(formats)} (--format)")
    return implied


def warn(messages: Iterable[str], subjects: Sequence[str] = (), noun: str = "domains") -> None:
    """Say `messages` on stderr, one line per cause: messages that differ
    only by a leading "SUBJECT: " (a domain's or host's name from
    `subjects`) become one line naming every subject. Then, with
    --warnings-as-errors and any message, end the command with status 1."""
    ctx = click.get_current_context()
    lines = grouped(list(messages), subjects, noun)
    if not ctx.meta.get(_QUIET):
        for line in lines:
            click.echo(f"xendt: warning: {line}", err=True)
    if lines and ctx.meta.get(_STRICT):
        count = f"{len(lines)} warning{'s' if len(lines) > 1 else ''}"
        click.echo(f"xendt: error: {count} and --warnings-as-errors: nothing written", err=True)
        ctx.exit(1)


def note(line: str) -> None:
    """An informative line on stderr (`xendt: LINE`), left out by --quiet."""
    if not click.get_current_context().meta.get(_QUIET):
        click.echo(f"xendt: {line}", err=True)


def strict() -> bool:
    """Whether --warnings-as-errors was given."""
    return bool(click.get_current_context().meta.get(_STRICT))


def grouped(messages: list[str], subjects: Sequence[str], noun: str = "domains") -> list[str]:
    """`messages` with those equal but for their leading "SUBJECT: " merged
    into one, at the place of the first; each other message once."""
    known = set(subjects)
    causes: dict[tuple[bool, str], list[str]] = {}
    for message in messages:
        subject, sep, rest = message.partition(": ")
        about = bool(sep) and subject in known
        who = causes.setdefault((about, rest if about else message), [])
        if about and subject not in who:
            who.append(subject)
    return [f"{_names(who, noun)}: {text}" if about else text
            for (about, text), who in causes.items()]


def _names(names: list[str], noun: str) -> str:
    if len(names) <= _NAMED:
        return ", ".join(names)
    return f"{names[0]}, {names[1]}, ... {names[-1]} ({len(names)} {noun})"
