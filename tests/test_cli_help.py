"""Every command's --help prints (exit 0), and --xen's help lists the
versions the layouts give rather than a range written in code."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from xendt.cli import cli
from xendt.xen import layouts

COMMANDS = ("build", "host-regions", "host-dt", "show", "check", "diff")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_prints(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    known = layouts.versions()
    if command != "host-dt":  # the host DT Xen receives is the same for every version
        text = " ".join(result.output.split())
        assert "X.Y means X.Y.0; X.Y.Z is a point release of it." in text
        assert f"Known: {known[0]} ... {known[-1]}." in text


def test_the_overview_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == list(COMMANDS)


def test_version_names_the_xen_releases_it_knows(capsysbinary):
    from conftest import run_cli

    code, out, _ = run_cli("--version", capsysbinary=capsysbinary)
    assert code == 0
    assert out.decode().splitlines()[1] == (
        "Xen releases: 4.14.0-4.14.6, 4.15.0-4.15.7, 4.16.0-4.16.7, 4.17.0-4.17.7, 4.18.0-4.18.6,"
        " 4.19.0-4.19.6, 4.20.0-4.20.4, 4.21.0-4.21.2, 4.22.0")


def test_a_mistyped_command_gets_a_suggestion(capsysbinary):
    from conftest import run_cli

    code, _, err = run_cli("buil", capsysbinary=capsysbinary)
    assert (code, err) == (2, "xendt: no such command 'buil'; did you mean 'build'? (see 'xendt --help')\n")


def test_an_unknown_command_lists_the_commands(capsysbinary):
    from conftest import run_cli

    code, _, err = run_cli("frobnicate", capsysbinary=capsysbinary)
    assert (code, err) == (2, "xendt: no such command 'frobnicate'; the commands are build, host-regions,"
                              " host-dt, show, check, diff (see 'xendt --help')\n")


def test_xen_completes_to_the_known_releases():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "_XENDT_COMPLETE": "bash_complete", "COMP_WORDS": "xendt build --xen 4.21",
           "COMP_CWORD": "3"}
    result = subprocess.run([str(Path(sys.executable).parent / "xendt")], env=env, capture_output=True,
                            text=True)
    assert result.stdout.split() == ["plain,4.21", "plain,4.21.0", "plain,4.21.1", "plain,4.21.2"]
