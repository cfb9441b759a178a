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
