"""xendt: the device tree Xen's toolstack gives an Arm guest, built and
inspected offline.

A thin shell over the Python API (xendt.build and friends). Expected user
errors print one line, `xendt: <message>`, and exit with status 2; where
Xen itself fails on the inputs (XenFailure), `xendt: error: <message>` and
status 1.
"""

from __future__ import annotations

import sys

import click

from xendt.errors import StdoutError, XendtError, XenFailure

#: The commands, in the order `xendt --help` lists them: the module each
#: lives in, imported only when that command runs (image builders start
#: xendt thousands of times; `build` need not import the inspectors).
_COMMANDS = {
    "build": ("xendt.cli.build", "build"),
    "host-regions": ("xendt.cli.host", "host_regions"),
    "host-dt": ("xendt.cli.dom0less", "host_dt"),
    "show": ("xendt.cli.inspect", "show"),
    "check": ("xendt.cli.inspect", "check"),
    "diff": ("xendt.cli.inspect", "diff"),
}


class _Group(click.Group):
    """Finds each command in its module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        import importlib

        module, name = _COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), name)
        return command


    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name in _COMMANDS or name.startswith("-"):
            return super().resolve_command(ctx, args)
        import difflib

        close = difflib.get_close_matches(name, _COMMANDS, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else f"; the commands are {', '.join(_COMMANDS)}"
        raise click.UsageError(f"no such command '{name}'{hint}", ctx)


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """--version: xendt's own version and the Xen releases its layouts cover."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from xendt.xen import layouts

    click.echo(f"xendt {version('xendt')}")
    click.echo("Xen releases: " + ", ".join(
        f"{r[0]}-{r[-1]}" if len(r) > 1 else r[0] for r in map(layouts.releases, layouts.versions())))
    ctx.exit()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show xendt's version and the Xen releases it knows, and exit.")
def cli() -> None:
    """Build, inspect and diff the device trees Xen gives Arm guests (libxl's
    for xl guests, the hypervisor's for dom0 and dom0less domains), without
    booting Xen."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into one line.
    Standard output that cannot be written (a full disk, /dev/full) is one
    line and status 2 too; a closed pipe (`| head`) ends quietly with 1."""
    args = sys.argv[1:] if argv is None else argv
    if argv is None:  # this process is the xendt command, and ends with it
        import atexit
        import gc

        # What is alive when the command ends stays so until the process
        # does: frozen, the interpreter's last collections at exit skip it
        # (two thirds of what exiting costs). atexit runs before them.
        atexit.register(gc.freeze)
    try:
        from xendt.cli.compiled import compiled

        with compiled():  # the model's dataclasses, made from cached code
            # No arguments at all: the overview, not a usage error.
            code = cli.main(args=args or ["--help"], prog_name="xendt", standalone_mode=False)
        sys.stdout.flush()
    except XenFailure as e:
        # Not bad input: Xen itself panics or gives up on these inputs.
        click.echo(f"xendt: error: {e}", err=True)
        sys.exit(1)
    except XendtError as e:
        if isinstance(e, StdoutError):
            _drop_stdout()
        click.echo(f"xendt: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("xendt: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"xendt: {_one_line(e)}", err=True)
        sys.exit(2 if isinstance(e, click.UsageError) else e.exit_code)
    except BrokenPipeError:
        _drop_stdout()
        sys.exit(1)
    except OSError as e:
        if e.filename is not None:  # files are the commands' to report: a bug
            raise
        _drop_stdout()  # click's own output (--help, --version) or the last flush
        click.echo(f"xendt: cannot write standard output: {e.strerror}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _drop_stdout() -> None:
    """Point standard output at /dev/null, so that what is still buffered
    for it cannot fail again when the interpreter exits."""
    import os

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):  # no real file descriptor (a test's capture)
        pass


def _one_line(error: click.ClickException) -> str:
    message = error.format_message().replace("\n", " ")
    command = getattr(getattr(error, "ctx", None), "command_path", "")
    if command and isinstance(error, click.UsageError):
        return f"{message} (see '{command} --help')"
    return message


