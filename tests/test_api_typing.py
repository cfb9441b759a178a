"""The public API is typed for its callers: `mypy --strict` reports a wrong
type passed to it, and accepts a correct integrator's script, while `import
xendt` itself imports nothing more (its names load on first use)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys

import pytest

import xendt
from conftest import INSTALLED, ROOT

BAD_CALLER = '''import xendt

xendt.build_xl(123, xendt.Host(xen=4.19, pa_bits="40"))
xendt.check(xendt.read_dtb("g.dtb"), size=40)
xendt.host_regions("board.dtb", dom0_ram=[(0, 1)])
result = xendt.build(xendt.GuestConfig(memory_mib="512"))
print(result.warnings[0].cod)
xendt.no_such_function()
'''


def _mypy(tmp_path, *files: str) -> list[str]:
    """mypy --strict's error lines for `files` in tmp_path, checked against
    the installed package (its py.typed), as a caller's project is."""
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          "--no-error-summary", "--hide-error-context", *files],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    return [line for line in run.stdout.splitlines() if ": error: " in line]


def test_mypy_strict_reports_each_wrong_type_passed_to_the_api(tmp_path):
    (tmp_path / "bad.py").write_text(BAD_CALLER)
    assert _mypy(tmp_path, "bad.py") == [
        'bad.py:3: error: Argument 1 to "build_xl" has incompatible type "int"; expected'
        ' "str | PathLike[str] | bytes | bytearray | None"  [arg-type]',
        'bad.py:3: error: Argument "xen" to "Host" has incompatible type "float"; expected'
        ' "str | None"  [arg-type]',
        'bad.py:3: error: Argument "pa_bits" to "Host" has incompatible type "str"; expected'
        ' "int | None"  [arg-type]',
        'bad.py:4: error: Unexpected keyword argument "size" for "check"  [call-arg]',
        'bad.py:5: error: Argument "dom0_ram" to "host_regions" has incompatible type'
        ' "list[tuple[int, int]]"; expected "tuple[Range, ...] | str"  [arg-type]',
        'bad.py:6: error: Argument "memory_mib" to "GuestConfig" has incompatible type "str";'
        ' expected "int"  [arg-type]',
        'bad.py:7: error: "Notice" has no attribute "cod"; maybe "code"?  [attr-defined]',
        'bad.py:8: error: Module has no attribute "no_such_function"  [attr-defined]']


def test_mypy_strict_accepts_the_integrator_example(tmp_path):
    shutil.copy(ROOT / "examples" / "integrator.py", tmp_path / "integrator.py")
    assert _mypy(tmp_path, "integrator.py") == []


def _type_checking_imports() -> dict[str, set[str]]:
    """What the installed xendt/__init__.py imports under TYPE_CHECKING, by module."""
    tree = ast.parse((INSTALLED / "__init__.py").read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    imports: dict[str, set[str]] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module
        imports.setdefault(node.module, set()).update(a.name for a in node.names)
    return imports


def test_type_checkers_see_the_names_python_loads_from_the_same_modules():
    modules = {module: set(names) for module, names in xendt._MODULES.items()}
    assert _type_checking_imports() == modules
    assert sorted(xendt.__all__) == sorted(xendt._EXPORTS)


def test_import_xendt_imports_no_submodule():
    run = subprocess.run([sys.executable, "-c", "import sys, xendt;"
                          " print(sorted(m for m in sys.modules if m.startswith('xendt')))"],
                         capture_output=True, text=True, check=True, cwd="/")
    assert run.stdout == "['xendt']\n"


def test_a_name_xendt_lacks_is_an_attribute_error():
    with pytest.raises(AttributeError) as raised:
        xendt.no_such_function  # noqa: B018
    assert str(raised.value) == "module 'xendt' has no attribute 'no_such_function'"
