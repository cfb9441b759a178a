"""Shared fixtures: the golden libxl blobs and the real dtc."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"


def golden_cases() -> list[dict]:
    """The entries of golden/cases.json (one per libxl blob)."""
    return json.loads((GOLDEN / "cases.json").read_text())


def dtc(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run Debian's dtc; the suite requires it (README's test command installs it)."""
    exe = shutil.which("dtc")
    if exe is None:
        pytest.fail("dtc not found: install Debian's device-tree-compiler")
    return subprocess.run([exe, *args], input=input, capture_output=True, check=True)


def dtb_to_dts(blob: bytes) -> str:
    return dtc("-q", "-I", "dtb", "-O", "dts", "-", input=blob).stdout.decode()


def dts_to_dtb(source: str) -> bytes:
    return dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout
