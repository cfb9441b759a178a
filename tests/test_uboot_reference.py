"""The real ImageBuilder → U-Boot → Xen chain (tests/data/reference-uboot,
see its README): each case's boot.source, run through the CLI with the
files it loads, gives byte for byte the host DT the real Xen 4.21.0 received
(`host-dt --uboot-version`, with what U-Boot 2023.01's booti adds) and every
domain's DT as the real Xen built it (`build --uboot-script`, QEMU's
cortex-a57: 44-bit PA).

files.tsv says what the script loads and where each file is stored here;
the Xen image is not included, only its size matters (a sparse file stands
in). The U-Boot version is the one the board's banner printed (console.log).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import REAL_UBOOT, dtb_to_dts, run_cli

CASES = ("c3-ramdisk-cmd", "c4-passthrough-pl011", "s1-dynamic-three")
#: Each case's domains with a passthrough DT: the file its script loads for
#: the domain's multiboot,device-tree module (boot.source).
PARTIALS = {"c4-passthrough-pl011": {"domU0": "passthrough-rtc.dtb"},
            "s1-dynamic-three": {"domU1": "domU1/passthrough-rtc.dtb"}}
HOST_DTB = REAL_UBOOT / "inputs" / "virt-gicv3.dtb"
DUMPER = REAL_UBOOT.parent / "reference-dom0less" / "modules" / "dumper.bin"

run = run_cli


def loaded_files(case: str, tmp_path: Path) -> dict[str, Path]:
    """What the script loads, by the name it loads it by, from files.tsv."""
    out: dict[str, Path] = {}
    with open(REAL_UBOOT / case / "files.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["name"] in ("boot.scr", HOST_DTB.name):
                continue  # the script itself; the host DTB is --host-dtb
            if row["stored"].startswith("("):
                path = tmp_path / row["name"].replace("/", "_")
                with open(path, "wb") as stand_in:
                    stand_in.truncate(int(row["bytes"]))
            else:
                path = (REAL_UBOOT / case / row["stored"]).resolve()
                assert path.stat().st_size == int(row["bytes"]), row
            out[row["name"]] = path
    return out


def uboot_version(case: str) -> str:
    """What the board's U-Boot banner prints after "U-Boot " (its PLAIN_VERSION)."""
    for line in (REAL_UBOOT / case / "console.log").read_text(errors="replace").splitlines():
        if line.startswith("U-Boot 20"):
            return line.split(" ")[1]
    raise AssertionError(f"{case}: no U-Boot banner in console.log")


def script_args(case: str, tmp_path: Path) -> list[str]:
    args = ["--host-dtb", str(HOST_DTB), "--uboot-script", str(REAL_UBOOT / case / "boot.source")]
    for name, path in loaded_files(case, tmp_path).items():
        args += ["--uboot-file", f"{name}={path}"]
    return args


def test_the_boards_u_boot_version() -> None:
    assert {uboot_version(case) for case in CASES} == {"2023.01+dfsg-2+deb12u3"}


@pytest.mark.parametrize("case", CASES)
def test_host_dt_with_the_u_boot_version_is_the_dt_xen_received(case, tmp_path, capsysbinary):
    code, out, err = run("host-dt", *script_args(case, tmp_path), "--uboot-version",
                         uboot_version(case), "--format", "dtb", capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    assert out == (REAL_UBOOT / case / "host-received.dtb").read_bytes()


def test_without_the_version_host_dt_is_the_dt_before_booti(tmp_path, capsysbinary):
    # booti's only visible change on this board: fdt_chosen's u-boot,version
    # (the memory node already has device_type "memory"; fdt_high is all
    # ones, so the DT stays in place, and totalsize is shrunk back to the
    # same 12 KiB page boundary `fdt resize 1024` gave it).
    case = "c3-ramdisk-cmd"
    code, out, err = run("host-dt", *script_args(case, tmp_path), capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    received = dtb_to_dts((REAL_UBOOT / case / "host-received.dtb").read_bytes())
    added = '\t\tu-boot,version = "2023.01+dfsg-2+deb12u3";\n'
    assert added in received
    assert out.decode() == received.replace(added, "")


def build_all(case: str, tmp_path: Path, capsysbinary, *, explicit: bool) -> tuple[int, str, Path]:
    """`build --domain all` of the case into a fresh folder; with
    `explicit`, each kernel and partial DT named again by --kernel and
    --partial-dtb. The status, stderr and the folder."""
    out = tmp_path / ("explicit" if explicit else "from-script")
    args = ["build", *script_args(case, tmp_path), "--domain", "all", "--xen", "4.21.0",
            "--pa-bits", "44", "-o", f"{out}/"]
    if explicit:
        files = loaded_files(case, tmp_path)
        for domain, name in PARTIALS.get(case, {}).items():
            args += ["--partial-dtb", f"{domain}={files[name]}"]
        for blob in sorted((REAL_UBOOT / case).glob("domU*.dtb")):
            args += ["--kernel", f"{blob.stem}={DUMPER}"]
    code, _, err = run(*args, capsysbinary=capsysbinary)
    return code, err, out


@pytest.mark.parametrize("case", CASES)
def test_every_domain_is_the_one_xen_built(case, tmp_path, capsysbinary):
    expected = sorted((REAL_UBOOT / case).glob("domU*.dtb"))
    code, err, out = build_all(case, tmp_path, capsysbinary, explicit=True)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in expected]
    for blob in expected:
        assert (out / blob.name).read_bytes() == blob.read_bytes(), blob.name


@pytest.mark.parametrize("case", CASES)
def test_the_files_the_script_loads_are_the_domains_kernels_and_partial_dts(case, tmp_path,
                                                                            capsysbinary):
    # The script loads each domain's kernel (and a passthrough DT) at the
    # address its module's reg gives, and --uboot-file says which file that
    # is: without --kernel and --partial-dtb, the same blobs and the same
    # warnings (none about a missing kernel file).
    explicit = build_all(case, tmp_path, capsysbinary, explicit=True)
    code, err, out = build_all(case, tmp_path, capsysbinary, explicit=False)
    assert explicit[0] == 0, explicit[1]
    assert (code, err) == (0, explicit[1])
    assert "no kernel file given" not in err
    expected = sorted((REAL_UBOOT / case).glob("domU*.dtb"))
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in expected]
    for blob in expected:
        assert (out / blob.name).read_bytes() == blob.read_bytes(), blob.name
