"""examples/integrator.py, an image builder's script that uses only the API
of README's "Python API" section, runs: xl guests built from their
config text for 4.19 and 4.22 and compared, one read back and checked,
dom0less guests built from a QEMU dump, dom0's host regions."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, dtb_to_dts, dtc
from conftest_host import qemu  # noqa: F401  (fixture)


def test_the_integrator_example_builds_compares_and_reads_back(qemu, tmp_path):
    source = dtb_to_dts(qemu["gicv3-virt-4g"].read_bytes())
    source += (ROOT / "examples/dom0less/domains.dtsi").read_text()
    host = tmp_path / "host.dtb"
    host.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(ROOT / "examples/integrator.py"), "--host-dtb",
                          str(host), "--board", str(qemu["gicv3-virt-4g"]), "--out", str(out)],
                         capture_output=True, text=True)
    assert (run.returncode, run.stderr) == (0, "")
    changes = "3 changes (/:compatible, /:model, /hypervisor:compatible)"
    lines = run.stdout.splitlines()
    assert lines[:4] == [f"web: 4.19 -> 4.22: {changes}", f"db: 4.19 -> 4.22: {changes}",
                         f"log: 4.19 -> 4.22: {changes}",
                         "db-4.22.dtb: 1 RAM bank(s), 0 errors, 0 warnings"]
    assert lines[4].startswith("domU1: ") and lines[4].endswith(
        ", extended regions [0x60000000+0xa0000000, 0x200000000+0xfe00000000]")
    assert lines[5].startswith("domU2: ") and lines[5].endswith(", extended regions []")
    assert lines[6:] == [f"{qemu['gicv3-virt-4g'].name}: Xen 4.19 gives dom0 3 extended regions"
                         " (find_memory_holes)"]
    document = json.loads((out / "db-4.19.json").read_text())
    assert (document["schema"], document["xen"], document["inputs"]) == (
        "xendt.build/1", "4.19", ["db.cfg"])
    assert sorted(p.name for p in out.glob("*.dtb")) == [
        "db-4.19.dtb", "db-4.22.dtb", "domU1.dtb", "domU2.dtb", "log-4.19.dtb", "log-4.22.dtb",
        "web-4.19.dtb", "web-4.22.dtb"]
