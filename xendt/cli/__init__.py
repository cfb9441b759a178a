"""xendt: the device tree Xen's toolstack gives an Arm guest, built and
inspected offline.

A thin shell over the Python API (xendt.build and friends). Expected user
errors print one line, `xendt: <message>`, and exit with status 2.
"""

from __future__ import annotations

import sys

import click

from xendt.errors import XendtError


class _Group(click.Group):
    """Keeps `xendt --help` listing commands in the order they are defined."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xendt", message="%(prog)s %(version)s")
def cli() -> None:
    """Build, inspect and diff the device trees Xen's toolstack (libxl)
    gives Arm guests, without booting Xen."""


def _register() -> None:
    from xendt.cli import build, dom0less, host, inspect

    for command in (build.build, host.host_regions, dom0less.host_dt, inspect.show, inspect.check,
                    inspect.diff):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into one line."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # No arguments at all: the overview, not a usage error.
        code = cli.main(args=args or ["--help"], prog_name="xendt", standalone_mode=False)
    except XendtError as e:
        click.echo(f"xendt: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("xendt: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"xendt: {_one_line(e)}", err=True)
        sys.exit(2 if isinstance(e, click.UsageError) else e.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(error: click.ClickException) -> str:
    message = error.format_message().replace("\n", " ")
    command = getattr(getattr(error, "ctx", None), "command_path", "")
    if command and isinstance(error, click.UsageError):
        return f"{message} (see '{command} --help')"
    return message


