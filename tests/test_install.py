"""What `pip install .` puts in the environment is the whole source tree:
every module and data file, byte for byte, and the console script. The
suite imports the installed package (conftest refuses the source tree), so
a module the wheel lacks fails here and wherever it is used."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from conftest import INSTALLED, ROOT


def _source_files() -> dict[str, Path]:
    """Installed name -> source file, for everything the package ships."""
    files = {str(p.relative_to(ROOT)): p for p in (ROOT / "xendt").rglob("*.py")
             if "__pycache__" not in p.parts}
    files["xendt/py.typed"] = ROOT / "xendt" / "py.typed"
    files.update({f"xendt/schemas/{p.name}": p for p in (ROOT / "xendt" / "schemas").glob("*.json")})
    files.update({f"xendt/layoutdata/{p.name}": p for p in (ROOT / "layouts").glob("*.toml")})
    return files


def _installed_files() -> set[str]:
    return {str(f) for f in metadata.files("xendt") or () if str(f).startswith("xendt/")}


def test_the_package_under_test_is_the_installed_one():
    assert INSTALLED != ROOT / "xendt"
    assert INSTALLED.parent.name == "site-packages"


def test_every_source_module_and_data_file_is_installed():
    missing = sorted(set(_source_files()) - _installed_files())
    assert missing == []


def test_nothing_is_installed_that_the_source_tree_no_longer_has():
    """A module removed from the source (or left in a stale build/ folder,
    which setuptools copies into the wheel) must not be installed."""
    extra = sorted(name for name in _installed_files() - set(_source_files())
                   if name.endswith((".py", ".toml")))
    assert extra == []


def test_the_installed_files_are_the_source_tree_as_it_is_now():
    """A stale install (source edited, not reinstalled) fails here."""
    stale = [name for name, source in _source_files().items()
             if (INSTALLED.parent / name).read_bytes() != source.read_bytes()]
    assert stale == []


def test_the_layouts_ship_for_every_version():
    shipped = sorted(p.name for p in (INSTALLED / "layoutdata").glob("*.toml"))
    assert shipped == sorted(p.name for p in (ROOT / "layouts").glob("*.toml"))
    assert "4.22.toml" in shipped


def test_the_console_script_runs_the_installed_package():
    script = Path(sys.executable).parent / "xendt"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: xendt")
    probe = subprocess.run([sys.executable, "-c", "import xendt.dom0less, xendt; print(xendt.__file__)"],
                           capture_output=True, text=True, cwd="/")
    assert Path(probe.stdout.strip()).parent == INSTALLED
