"""README's Python API example runs as written, against real files."""

from __future__ import annotations

import shutil
import struct

from conftest import ROOT, dtb_to_dts, dtc
from conftest_host import qemu  # noqa: F401  (fixture)


def test_the_readme_api_example_runs(qemu, tmp_path, monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text().split("## Python API", 1)[1]
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    kernel = tmp_path / "Image"
    kernel.write_bytes(struct.pack("<IIQQQQQQ4sI", 0, 0, 0, 4096, 0, 0, 0, 0, b"ARM\x64", 0)
                       + bytes(4032))
    (tmp_path / "guest.cfg").write_text(f'kernel = "{kernel}"\nmemory = 512\n')
    (tmp_path / "guest.json").write_text('{"guest": {"memory_mib": 256}}')
    shutil.copy(qemu["gicv3-virt-4g"], tmp_path / "board.dtb")
    source = dtb_to_dts(qemu["gicv3-virt-4g"].read_bytes())
    source += (ROOT / "examples/dom0less/domains.dtsi").read_text()
    (tmp_path / "host.dtb").write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-",
                                            input=source.encode()).stdout)
    shutil.copy(ROOT / "golden/4.21/mem1024-v2-vcpu4-pa36-vuart.dtb", tmp_path / "other.dtb")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "('domU1', 'domU2')" in out
    assert "find_memory_holes" in out
