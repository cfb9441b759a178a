"""One JSON convention for every command: each `--format json` output is a
"xendt.KIND/N" document its shipped JSON Schema accepts, starting with
schema, xen (the release string), inputs and warnings (objects with a
stable code), and each result's to_json() is exactly what the command
prints for the same inputs."""

from __future__ import annotations

import json
import struct

import jsonschema
import pytest

import xendt
from conftest import DATA, GOLDEN, dts_to_dtb, run_cli
from conftest_host import qemu  # noqa: F401  (fixture)

GUEST_DTB = GOLDEN / "4.18" / "mem1024-v3-vcpu2-pa40-vpci.dtb"
OTHER_DTB = GOLDEN / "4.21" / "mem1024-v3-vcpu2-pa40.dtb"
DOM0LESS = DATA / "reference-dom0less" / "4.21.0" / "all-nodom0-gicv3"
DOM0 = DATA / "reference-dom0" / "t1"
KINDS = ["build", "check", "diff", "show", "host-regions"]
#: An empty reg at a free range's start: Xen dereferences NULL building dom0
#: (tests/test_host_quirks.py says why).
ZERO_AT_START = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
    flash@0 { compatible = "cfi-flash"; reg = <0x0 0x0 0x0 0x08000000>; };
    dummy@8000000 { compatible = "vendor,dummy"; reg = <0x0 0x08000000 0x0 0x0>; };
    smmu@9050000 { compatible = "arm,mmu-500"; reg = <0x0 0x09050000 0x0 0x20000>; #iommu-cells = <1>; };
    memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
};
"""


def document(kind: str, *args: str, capsysbinary, status: int = 0) -> dict:
    """The JSON `xendt ARGS --format json` prints, checked against its schema."""
    code, out, err = run_cli(*args, "--format", "json", capsysbinary=capsysbinary)
    assert code == status, err
    data = json.loads(out)
    jsonschema.Draft202012Validator(xendt.schema(kind)).validate(data)
    assert list(data)[:4] == ["schema", "xen", "inputs", "warnings"]
    assert data["schema"] == f"xendt.{kind}/1"
    return data


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_ships_a_valid_json_schema(kind):
    schema = xendt.schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"] == {"const": f"xendt.{kind}/1"}


def test_an_unknown_kind_has_no_schema():
    with pytest.raises(xendt.XendtError) as raised:
        xendt.schema("nope")
    assert str(raised.value) == ("no JSON document kind 'nope': expected one of build, check,"
                                 " diff, show, host-regions")


def _kernel(tmp_path):
    kernel = tmp_path / "Image"
    kernel.write_bytes(struct.pack("<IIQQQQQQ4sI", 0, 0, 0, 4096, 0, 0, 0, 0, b"ARM\x64", 0)
                       + bytes(4032))
    return kernel


def test_build_from_an_xl_cfg_names_it_and_gives_xls_warnings_with_codes(tmp_path, capsysbinary):
    cfg = tmp_path / "g.cfg"
    cfg.write_text(f'kernel = "{_kernel(tmp_path)}"\nmemory = 64\nmaxmem = 32\n')
    data = document("build", "build", "-c", str(cfg), "--xen", "4.21", "--rng-seed", "none",
                    capsysbinary=capsysbinary)
    assert (data["xen"], data["inputs"]) == ("4.21", [str(cfg)])
    assert data["warnings"] == [{
        "code": "xl-maxmem-differs", "node": None, "domain": None,
        "message": f"{cfg}:3: maxmem = 32 differs from memory = 64: libxl gives an Arm guest"
                   " maxmem MiB of RAM, while Xen limits it to memory + 1 MiB"}]
    api = xendt.build_xl(cfg, xendt.Host(xen="4.21", rng_seed=b""))
    assert json.loads(api.to_json()) == data


def test_build_json_is_what_the_api_result_prints(capsysbinary):
    code, out, _ = run_cli("build", "--xen", "4.19", "--memory", "1024", "--pa-bits", "44",
                           "--kernel-size", str(20 << 20), "--explain", "--rng-seed", "none",
                           "--format", "json", capsysbinary=capsysbinary)
    guest = xendt.GuestConfig(memory_mib=1024, kernel=xendt.Kernel(size=20 << 20))
    api = xendt.build(guest, xendt.Host(xen="4.19", pa_bits=44, rng_seed=b""), explain=True)
    assert code == 0 and api.to_json() == out.decode()
    assert api.to_dict()["explain"] and api.to_dict()["inputs"] == []


def test_build_from_xl_text_names_the_text(capsysbinary):
    api = xendt.build_xl(text="memory = 128\n", name="web.cfg", kernel_size=1 << 20,
                         host=xendt.Host(xen="4.22"))
    data = api.to_dict()
    jsonschema.Draft202012Validator(xendt.schema("build")).validate(data)
    assert (data["xen"], data["inputs"], data["warnings"]) == ("4.22", ["web.cfg"], [])


def test_a_guest_json_build_is_a_build_document(tmp_path, capsysbinary):
    path = tmp_path / "guest.json"
    path.write_text('{"guest": {"memory_mib": 256}, "host": {"xen": "4.20"}}')
    data = document("build", "build", "--guest-json", str(path), "--rng-seed", "none",
                    capsysbinary=capsysbinary)
    assert (data["xen"], data["inputs"]) == ("4.20", [str(path)])
    assert json.loads(xendt.build_json(path).to_json())["memory_map"] == data["memory_map"]


def test_a_dom0less_build_is_a_build_document_with_the_domains_warnings(capsysbinary):
    host = str(DOM0LESS / "host.dtb")
    data = document("build", "build", "--host-dtb", host, "--domain", "domU2", "--xen", "4.21",
                    "--pa-bits", "44", "-o", "-", capsysbinary=capsysbinary)
    api = xendt.build_dom0less(host, "domU2", xendt.Host(xen="4.21", pa_bits=44))
    assert json.loads(api.to_json()) == data
    assert data["inputs"] == [host] and all(w["domain"] == "domU2" for w in data["warnings"])


def test_a_dom0_build_is_a_build_document(capsysbinary):
    host = str(DOM0 / "host.dtb")
    args = ["--xen", "4.19.0", "--ipa-bits", "40", "--dom0-mem", "0x60000000:0x20000000",
            "--gnttab", "0x40200000:0x40000"]
    data = document("build", "build", "--dom0", "--host-dtb", host, *args,
                    capsysbinary=capsysbinary)
    api = xendt.build_dom0(host, "0x60000000:0x20000000", "0x40200000:0x40000",
                           xendt.Host(xen="4.19.0", ipa_bits=40))
    assert json.loads(api.to_json()) == data
    assert [w["code"] for w in data["warnings"]] == ["kernel-assumed"]


def test_check_findings_carry_the_python_names(capsysbinary):
    data = document("check", "check", "--pa-bits", "40", str(GUEST_DTB), capsysbinary=capsysbinary)
    assert json.loads(xendt.check(GUEST_DTB, pa_bits=40).to_json()) == data
    assert set(data["findings"][0]) == {"level", "rule", "node", "prop", "message"}


def test_diff_of_two_files_names_both_inputs(capsysbinary):
    data = document("diff", "diff", str(GUEST_DTB), str(OTHER_DTB), capsysbinary=capsysbinary,
                    status=1)
    assert (data["xen"], data["inputs"], data["same"]) == (None, [str(GUEST_DTB), str(OTHER_DTB)],
                                                         False)
    assert json.loads(xendt.diff(GUEST_DTB, OTHER_DTB).to_json()) == data


def test_diff_against_a_build_names_the_build(capsysbinary):
    data = document("diff", "diff", str(OTHER_DTB), "--xen", "4.19", capsysbinary=capsysbinary,
                    status=1)
    assert data["inputs"] == [str(OTHER_DTB), "xendt build --xen 4.19"]


def test_show_gives_the_release_string_and_the_map_entries(capsysbinary):
    data = document("show", "show", str(OTHER_DTB), capsysbinary=capsysbinary)
    assert (data["xen"], data["xen_source"]) == ("4.21", '/hypervisor compatible "xen,xen-4.21"')
    assert json.loads(xendt.show(OTHER_DTB).to_json()) == data


def test_host_regions_of_one_board_with_explain(qemu, capsysbinary):
    board = str(qemu["gicv3-2g"])
    data = document("host-regions", "host-regions", "--host-dtb", board, "--xen", "4.19",
                    "--iommu", "--explain", capsysbinary=capsysbinary)
    api = xendt.host_regions(board, xen="4.19", iommu=True)
    assert json.loads(api.to_json(explain=True)) == data
    assert data["inputs"] == [board] and data["extended_regions"] == data["hosts"][0]["extended_regions"]
    assert data["hosts"][0]["candidates"]


def test_host_regions_of_a_fleet(qemu, capsysbinary):
    boards = [str(qemu["gicv3-2g"]), str(qemu["lowmem-3g"])]
    data = document("host-regions", "host-regions", "--host-dtb", boards[0], "--host-dtb",
                    boards[1], "--xen", "4.21", "--iommu", capsysbinary=capsysbinary)
    api = xendt.host_fleet(boards, xen="4.21", iommu=True)
    assert json.loads(api.to_json()) == data and data["inputs"] == boards
    assert data["constraints"]


def test_host_regions_where_xen_fails_is_a_document_and_an_api_error(tmp_path, capsysbinary):
    path = tmp_path / "z.dtb"
    path.write_bytes(dts_to_dtb(ZERO_AT_START))
    data = document("host-regions", "host-regions", "--host-dtb", str(path), "--xen", "4.22",
                    capsysbinary=capsysbinary, status=1)
    assert data["hosts"][0]["failure"]["function"] == "find_memory_holes"
    with pytest.raises(xendt.XenFailure) as raised:
        xendt.host_regions(path, xen="4.22")
    assert str(raised.value).startswith(f"{path}: Xen 4.22 fails: /dummy@8000000:"
                                        f" find_memory_holes: /dummy@8000000 reg[0] has size 0")


def test_a_domain_without_xen_enhanced_warns_with_its_code_and_domain(qemu, tmp_path, capsysbinary):
    from conftest_host import BOARD_DTS

    path = tmp_path / "board.dtb"
    path.write_bytes(dts_to_dtb(BOARD_DTS))
    data = document("host-regions", "host-regions", "--host-dtb", str(path), "--domain", "domU2",
                    capsysbinary=capsysbinary)
    assert [(w["code"], w["domain"]) for w in data["warnings"]] == [
        ("no-hypervisor-node", "domU2")]
    assert data["hosts"][0]["warnings"] == data["warnings"]


def test_board_facts_build_what_build_host_dtb_builds(qemu, capsysbinary):
    board = qemu["gicv3-2g"]
    data = document("build", "build", "--host-dtb", str(board), "--xen", "4.21", "--rng-seed",
                    "none", capsysbinary=capsysbinary)
    host = xendt.host_facts(board, xendt.Host(xen="4.21", rng_seed=b""))
    assert (host.gic, host.clock_frequency) == ("v3", 0)
    assert json.loads(xendt.build(xendt.GuestConfig(), host).to_json()) == data
