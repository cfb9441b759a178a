"""Every shell example in README.md runs as written, in README order, with
the installed console script (the `xendt` beside this interpreter), and
prints exactly the output README shows after it.

They run in a scratch folder holding a copy of examples/, the only inputs
README takes for granted (an xl.cfg, a guest JSON, boards as DTS, a U-Boot
script); everything else README's own commands make."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BIN = Path(sys.executable).parent


def _blocks() -> list[tuple[int, str, str | None]]:
    """(line, commands, the output block right after it or None) for every
    ```sh block of README.md; the set-up lines are run only from `xendt` on
    (their installs are what CI itself runs)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i] != "```sh":
            i += 1
            continue
        end = lines.index("```", i + 1)
        body, after = "\n".join(lines[i + 1:end]), None
        if end + 1 < len(lines) and lines[end + 1] == "```":
            close = lines.index("```", end + 2)
            after = "\n".join(lines[end + 2:close]) + "\n"
        if "apt-get" in body:
            body = body[body.rfind("&& ") + 3:] if ".venv/bin/xendt" in body else ""
        if body:
            blocks.append((i + 1, body.replace(".venv/bin/xendt", "xendt"), after))
        i = end + 1
    return blocks


BLOCKS = _blocks()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A scratch folder holding a copy of examples/: every input README
    uses is there or made by README's own commands."""
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", work / "examples")
    return work


def test_readme_has_shell_examples():
    assert len(BLOCKS) >= 7


def _commands(block: str) -> list[str]:
    """The block's commands, one a line once continuations are joined."""
    return [c for c in block.replace("\\\n", " ").splitlines() if c.strip() and not c.startswith("#")]


@pytest.mark.parametrize("line, block, output", BLOCKS, ids=[f"README:{b[0]}" for b in BLOCKS])
def test_readme_example_runs_as_written(workdir, line, block, output):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    stdout = ""
    for command in _commands(block):
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=workdir, env=env,
                                capture_output=True, text=True, timeout=120)
        # `xendt diff`, like diff(1), exits 1 when the trees differ.
        ok = (0, 1) if command.startswith("xendt diff") else (0,)
        assert result.returncode in ok, f"{command}: {result.stderr}"
        stdout += result.stdout
    if output is not None and not output.startswith("xendt: "):
        assert stdout == output
