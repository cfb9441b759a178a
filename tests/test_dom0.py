"""`xendt build --dom0`: dom0's device tree as the hypervisor writes it at
boot (prepare_dtb_hwdom, xen/arch/arm/domain_build.c @ RELEASE-4.14.0 …
RELEASE-4.22.0).

The golden cases are the five blobs a real Xen wrote for dom0 in
tests/data/reference-dom0/ (its README), rebuilt through the CLI from the
host DTB and what a user reads off that boot's console: the Xen version,
dom0's banks (BANK[n]), the grant table, the IPA size and, for the GICv2m
frame whose DT node lacks them, its SPI base and count. The other tests
edit those host DTs (through dtc) and state what each version's source
writes, citing file@tag.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import DATA, ROOT, dtb_to_dts, dts_node, dts_to_dtb, run_cli

REFERENCE = DATA / "reference-dom0"
RUNS = sorted(p.parent for p in REFERENCE.glob("*/dom0.dtb"))
DUMPER = REFERENCE / "dom0-dumper.bin"


def console_inputs(run_dir: Path) -> list[str]:
    """The xendt flags of one boot, read off its console as a user would."""
    log = (run_dir / "console.log").read_text()
    version = re.search(r"Xen version (\d+\.\d+\.\d+)", log).group(1)
    banks = ",".join(f"0x{a}:{int(b, 16) - int(a, 16):#x}"
                     for a, b in re.findall(r"BANK\[\d+\] 0x([0-9a-f]+)-0x([0-9a-f]+)", log))
    start, end = re.search(r"Grant table range: 0x([0-9a-f]+)-0x([0-9a-f]+)", log).groups()
    ipa = re.search(r"P2M: (\d+)-bit IPA", log).group(1)
    args = ["--xen", version, "--dom0-mem", banks, "--gnttab",
            f"0x{start}:{int(end, 16) - int(start, 16):#x}", "--ipa-bits", ipa]
    v2m = re.search(r"gic_v2m_spi_base=(\d+)\n.*gic_v2m_num_spis=(\d+)", log)
    if v2m:
        args += ["--v2m-spis", f"{v2m.group(1)}:{v2m.group(2)}"]
    return args


def build(host: Path | bytes, *args: str, tmp_path: Path, capsysbinary) -> tuple[int, bytes, str]:
    if isinstance(host, bytes):
        path = tmp_path / "host.dtb"
        path.write_bytes(host)
        host = path
    return run_cli("build", "--dom0", "--host-dtb", str(host), *args, capsysbinary=capsysbinary)


def rebuilt(run_dir: Path, args: list[str], tmp_path: Path, capsysbinary) -> bytes:
    """dom0's tree built from a reference run's host DTB and `args`, with the
    run's dumper as the kernel; the build must succeed without a word."""
    out = tmp_path / "dom0.dtb"
    code, _, err = build(run_dir / "host.dtb", *args, "--kernel", str(DUMPER), "-o", str(out),
                         tmp_path=tmp_path, capsysbinary=capsysbinary)
    assert (code, err) == (0, "")
    return out.read_bytes()


@pytest.mark.parametrize("run_dir", RUNS, ids=lambda p: p.name)
def test_a_real_dom0_tree_is_rebuilt_byte_for_byte(run_dir, tmp_path, capsysbinary):
    built = rebuilt(run_dir, console_inputs(run_dir), tmp_path, capsysbinary)
    assert built == (run_dir / "dom0.dtb").read_bytes()


def test_the_memory_map_is_where_xen_loaded_everything(tmp_path, capsysbinary):
    # t1/console.log: "Loading zImage from 0000000049000000 to
    # 0000000060000000-00000000600023d0", "Loading d0 initrd ... to
    # 0x0000000068200000-0x0000000068500123", "Loading d0 DTB to
    # 0x0000000068000000-0x0000000068001c93", the two "extended region" lines.
    run_dir = REFERENCE / "t1"
    code, out, err = build(run_dir / "host.dtb", *console_inputs(run_dir), "--kernel", str(DUMPER),
                           "--format", "json", tmp_path=tmp_path, capsysbinary=capsysbinary)
    assert code == 0, err
    mmap = json.loads(out)["memory_map"]
    assert mmap["ram"] == [{"base": 0x60000000, "size": 0x20000000}]
    assert mmap["segments"] == [
        {"base": 0x60000000, "size": 0x23D0, "name": "kernel"},
        {"base": 0x68000000, "size": 0x1C93, "name": "dtb"},
        {"base": 0x68200000, "size": 0x300123, "name": "ramdisk"}]
    assert mmap["grant_table"] == {"base": 0x40200000, "size": 0x40000}
    assert mmap["extended_regions"] == [{"base": 0x40400000, "size": 0x60000000 - 0x40400000},
                                        {"base": 0x80000000, "size": 0x40000000}]


def test_without_the_kernel_file_an_arm64_image_is_assumed(tmp_path, capsysbinary):
    run_dir = REFERENCE / "t1"
    code, out, err = build(run_dir / "host.dtb", *console_inputs(run_dir), tmp_path=tmp_path,
                           capsysbinary=capsysbinary)
    assert code == 0
    assert out == (run_dir / "dom0.dtb").read_bytes()  # the dumper is an arm64 Image at offset 0
    assert err == ("xendt: warning: no --kernel given: an arm64 Image with text_offset 0 was"
                   " assumed for the kernel and initrd placement\n")


def _host(run: str, edit) -> bytes:
    """A reference host DT edited as DTS text."""
    return dts_to_dtb(edit(dtb_to_dts((REFERENCE / run / "host.dtb").read_bytes())))


def _dom0_dts(host: bytes, run: str, xen: str, tmp_path, capsysbinary, *extra: str) -> str:
    args = console_inputs(REFERENCE / run)
    args[1] = xen
    code, out, err = build(host, *args, *extra, "--format", "dts", tmp_path=tmp_path,
                           capsysbinary=capsysbinary)
    assert code == 0, err
    return out.decode()


V4_GIC = (REFERENCE / "V4-4210-gicv2" / "host.dtb").read_bytes()


@pytest.mark.parametrize("xen, name", [("4.20", "interrupt-controller"), ("4.21", "intc@8000000")])
def test_the_gic_node_keeps_the_host_name_from_4_21(xen, name, tmp_path, capsysbinary):
    # make_gic_node: fdt_begin_node(fdt, "interrupt-controller") in
    # xen/arch/arm/domain_build.c @ RELEASE-4.20.0; the host node's name from
    # 0c4b0e6236 (RELEASE-4.21.0). The node itself is the real 4.21.0 one.
    real = dts_node(dtb_to_dts((REFERENCE / "V4-4210-gicv2" / "dom0.dtb").read_bytes()),
                    "/intc@8000000")
    text = _dom0_dts(V4_GIC, "V4-4210-gicv2", xen, tmp_path, capsysbinary)
    assert dts_node(text, f"/{name}") == real.replace("intc@8000000 {", f"{name} {{", 1)


def test_a_gicv2m_frame_without_spis_needs_them_given(tmp_path, capsysbinary):
    code, _, err = build(V4_GIC, "--xen", "4.21", "--dom0-mem", "0xe0000000:512M",
                         "--gnttab", "0x40200000:0x40000", tmp_path=tmp_path,
                         capsysbinary=capsysbinary)
    assert code == 2
    assert err == (f"xendt: /intc@8000000/v2m@8020000 in {tmp_path}/host.dtb has no arm,msi-base-spi and"
                   " arm,msi-num-spis: Xen reads them from the frame's MSI_TYPER register (its"
                   " console prints \"gic_v2m_spi_base\" and \"gic_v2m_num_spis\"): give them"
                   " with --v2m-spis BASE:COUNT\n")


def test_a_v2m_base_below_spi_32_is_xens_panic(tmp_path, capsysbinary):
    # gicv2_add_v2m_frame_to_list, xen/arch/arm/gic-v2.c @ RELEASE-4.21.0.
    code, out, err = build(V4_GIC, "--xen", "4.21", "--dom0-mem", "0xe0000000:512M",
                           "--gnttab", "0x40200000:0x40000", "--v2m-spis", "16:64",
                           tmp_path=tmp_path, capsysbinary=capsysbinary)
    assert (code, out) == (1, b"")
    assert err == (f"xendt: error: /intc@8000000/v2m@8020000 in {tmp_path}/host.dtb: Xen panics \"GICv2:"
                   " Invalid v2m base SPI:16\"\n")


def test_chosen_bootargs_serve_when_no_module_or_dom0_bootargs(tmp_path, capsysbinary):
    # write_properties, xen/arch/arm/domain_build.c @ RELEASE-4.17.0: /chosen
    # bootargs only when neither the kernel module nor xen,dom0-bootargs
    # gives one; stdout-path and xen,xen-bootargs are dropped.
    host = _host("t1", lambda s: s.replace('\t\t\tbootargs = "console=hvc0 earlycon=xen";\n', "")
                 .replace("\t\tstdout-path", '\t\tbootargs = "from /chosen";\n\t\tstdout-path'))
    text = _dom0_dts(host, "t1", "4.17.7", tmp_path, capsysbinary)
    assert dts_node(text, "/chosen") == (
        "\tchosen {\n"
        "\t\t#address-cells = <0x01>;\n"
        "\t\t#size-cells = <0x01>;\n"
        '\t\tbootargs = "from /chosen";\n'
        "\t\tlinux,initrd-start = <0x00 0x68200000>;\n"
        "\t\tlinux,initrd-end = <0x00 0x68500123>;\n"
        "\t};\n")


@pytest.mark.parametrize("xen, kept", [("4.17", True), ("4.18", False)])
def test_chosen_loses_xen_static_heap_from_4_18(xen, kept, tmp_path, capsysbinary):
    # write_properties drops xen,static-heap from /chosen from RELEASE-4.18.0.
    heap = "\t\txen,static-heap = <0x00 0x50000000 0x00 0x1000000>;\n"
    host = _host("t1", lambda s: s.replace("\t\tstdout-path", heap + "\t\tstdout-path")
                 .replace("#address-cells = <0x01>;\n\t\t#size-cells = <0x01>;",
                          "#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;")
                 .replace("reg = <0x49000000 0x23d0>", "reg = <0x00 0x49000000 0x00 0x23d0>")
                 .replace("reg = <0x50000000 0x300123>", "reg = <0x00 0x52000000 0x00 0x300123>"))
    text = _dom0_dts(host, "t1", xen, tmp_path, capsysbinary)
    assert (heap in dts_node(text, "/chosen")) is kept


def test_a_passthrough_node_is_disabled_and_its_status_comes_last(tmp_path, capsysbinary):
    # write_properties: xen,passthrough is dropped, status is held back and
    # written after the other properties, as "disabled" for a node marked
    # for passthrough (domain_build.c @ RELEASE-4.17.0).
    host = _host("t1", lambda s: s.replace(
        "\tvirtio_mmio@a000000 {\n",
        '\tvirtio_mmio@a000000 {\n\t\tstatus = "okay";\n\t\txen,passthrough;\n', 1))
    text = _dom0_dts(host, "t1", "4.17", tmp_path, capsysbinary)
    assert dts_node(text, "/virtio_mmio@a000000") == (
        "\tvirtio_mmio@a000000 {\n"
        "\t\tdma-coherent;\n"
        "\t\tinterrupts = <0x00 0x10 0x01>;\n"
        "\t\treg = <0x00 0xa000000 0x00 0x200>;\n"
        '\t\tcompatible = "virtio,mmio";\n'
        '\t\tstatus = "disabled";\n'
        "\t};\n")


def test_an_iommu_xen_drives_is_dropped_with_its_masters_iommus(tmp_path, capsysbinary):
    # handle_node skips a node an IOMMU driver of the build matches
    # (ARM_SMMU: arm,mmu-500, xen/drivers/passthrough/arm/smmu.c @
    # RELEASE-4.19.0); write_properties drops iommus of a node behind it.
    smmu = ("\tiommu@5000000 {\n\t\tcompatible = \"arm,mmu-500\";\n"
            "\t\treg = <0x00 0x5000000 0x00 0x10000>;\n\t\t#iommu-cells = <0x01>;\n"
            "\t\tphandle = <0x9000>;\n\t};\n\n")
    host = _host("V2-4190", lambda s: s.replace("\tpl061@9030000 {", smmu + "\tpl061@9030000 {")
                 .replace("\t\tcompatible = \"arm,pl061\\0arm,primecell\";\n",
                          "\t\tcompatible = \"arm,pl061\\0arm,primecell\";\n"
                          "\t\tiommus = <0x9000 0x01>;\n"))
    text = _dom0_dts(host, "V2-4190", "4.19", tmp_path, capsysbinary)
    assert "iommu@5000000" not in text
    assert "iommus" not in dts_node(text, "/pl061@9030000")


@pytest.mark.parametrize("xen", ["4.14", "4.15"])
def test_before_4_16_hypervisor_holds_only_the_grant_table(xen, tmp_path, capsysbinary):
    # make_hypervisor_node: reg is the grant table alone (domain_build.c @
    # RELEASE-4.15.0); extended regions came in RELEASE-4.16.0.
    host = (REFERENCE / "t1" / "host.dtb").read_bytes()
    text = _dom0_dts(host, "t1", xen, tmp_path, capsysbinary)
    assert dts_node(text, "/hypervisor") == (
        "\thypervisor {\n"
        f'\t\tcompatible = "xen,xen-{xen}\\0xen,xen";\n'
        "\t\treg = <0x00 0x40200000 0x00 0x40000>;\n"
        "\t\tinterrupts = <0x01 0x00 0xf08>;\n"
        "\t\tinterrupt-parent = <0x8003>;\n"
        "\t};\n")


def test_without_dom0_max_vcpus_dom0_gets_a_vcpu_per_cpu(tmp_path, capsysbinary):
    # dom0_max_vcpus (domain_build.c @ RELEASE-4.19.0): the CPUs Xen brought
    # up when the option is absent. V2-4190 (4 CPUs) is real with
    # dom0_max_vcpus=3; here Xen's command line lacks it.
    host = (REFERENCE / "V2-4190" / "host.dtb").read_bytes()
    text = _dom0_dts(host, "V2-4190", "4.19", tmp_path, capsysbinary,
                     "--xen-cmdline", "console=dtuart dom0_mem=512M")
    assert re.findall(r"\t\tcpu@(\d) \{", dts_node(text, "/cpus")) == ["0", "1", "2", "3"]


def test_dom0_needs_its_banks_or_where_xen_was_loaded(tmp_path, capsysbinary):
    code, _, err = build(REFERENCE / "t1" / "host.dtb", "--gnttab", "0x40200000:0x40000",
                         tmp_path=tmp_path, capsysbinary=capsysbinary)
    assert code == 2
    assert err == ("xendt: --dom0 without --dom0-mem predicts dom0's banks and needs"
                   " --xen-image: where the bootloader put Xen and the host DTB (Xen's console"
                   " prints its banks as BANK[n]: --dom0-mem) (see 'xendt build --help')\n")


def test_a_platform_blacklist_keeps_its_nodes_from_dom0(tmp_path, capsysbinary):
    # platform_device_is_blacklisted with brcm-raspberry-pi.c's rpi4
    # blacklist (xen/arch/arm/platforms @ RELEASE-4.19.0) on a root
    # compatible with "brcm,bcm2711".
    host = _host("t1", lambda s: s.replace('compatible = "linux,dummy-virt";',
                                           'compatible = "brcm,bcm2711";', 1)
                 .replace('\t\tcompatible = "virtio,mmio";\n',
                          '\t\tcompatible = "brcm,bcm2835-aux";\n', 1))
    text = _dom0_dts(host, "t1", "4.19", tmp_path, capsysbinary)
    assert "brcm,bcm2835-aux" not in text
    assert text.count("virtio_mmio@") == dtb_to_dts(host).count("virtio_mmio@") - 1


def test_a_host_hypervisor_node_is_copied_with_xens_warning(tmp_path, capsysbinary):
    # handle_node's reserved_matches only warn (domain_build.c @ RELEASE-4.17.0).
    host = _host("t1", lambda s: s.replace("\tchosen {", "\thypervisor {\n\t};\n\n\tchosen {", 1))
    args = console_inputs(REFERENCE / "t1")
    code, out, err = build(host, *args, "--format", "dts", tmp_path=tmp_path,
                           capsysbinary=capsysbinary)
    assert code == 0
    assert out.decode().count("\thypervisor {") == 2
    assert ("xendt: warning: WARNING: Path /hypervisor is reserved, skip the node as we may"
            " re-use the path. (Xen copies it: dom0 gets two)\n") in err


def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text().split("## Dom0's device tree", 1)[1]
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "dom0-host.dtb").write_bytes((REFERENCE / "t1" / "host.dtb").read_bytes())
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "dom0.dtb").read_bytes() == (REFERENCE / "t1" / "dom0.dtb").read_bytes()
    assert capsys.readouterr().out == ("(Range(base=1077936128, size=532676608),"
                                       " Range(base=2147483648, size=1073741824))\n")


def test_more_dom0_vcpus_than_a_gicv2_takes_is_xens_panic(tmp_path, capsysbinary):
    # arch_sanitise_domain_config refuses max_vcpus above the vGIC's (8 for
    # GICv2, xen/arch/arm/domain.c @ RELEASE-4.21.0); create_dom0 panics.
    host = REFERENCE / "V4-4210-gicv2" / "host.dtb"
    code, out, err = build(host, *console_inputs(REFERENCE / "V4-4210-gicv2"),
                           "--xen-cmdline", "dom0_max_vcpus=9", "--kernel", str(DUMPER),
                           tmp_path=tmp_path, capsysbinary=capsysbinary)
    assert (code, out) == (1, b"")
    assert err == (f"xendt: error: {host}: dom0 would have 9 vCPUs, over the GICv2 vGIC's 8:"
                   f" Xen panics \"Error creating domain 0\"\n")


def test_chosen_bootargs_are_xens_when_dom0_has_its_own(tmp_path, capsysbinary):
    # boot_fdt_cmdline (xen/arch/arm/bootfdt.c @ RELEASE-4.19.0): without
    # xen,xen-bootargs, /chosen bootargs is Xen's command line when
    # xen,dom0-bootargs is there; dom0_max_vcpus=2 then gives two vCPUs.
    host = _host("V2-4190", lambda s: re.sub(r'\t\txen,xen-bootargs = "[^"]*";\n',
                                             '\t\tbootargs = "dom0_max_vcpus=2";\n', s))
    text = _dom0_dts(host, "V2-4190", "4.19", tmp_path, capsysbinary)
    assert re.findall(r"\t\tcpu@(\d) \{", dts_node(text, "/cpus")) == ["0", "1"]
    assert 'bootargs = "console=hvc0 from=xen,dom0-bootargs";' in dts_node(text, "/chosen")


def test_a_host_dt_xen_cannot_build_dom0_from_exits_1_with_xens_message(tmp_path, capsysbinary):
    # handle_device's dt_device_get_paddr fails on a reg outside its bus's
    # ranges (domain_build.c @ RELEASE-4.17.0), as xendt host-regions says.
    bus = ("\tbus {\n\t\t#address-cells = <0x01>;\n\t\t#size-cells = <0x01>;\n"
           "\t\tranges = <0x00 0x00 0x10000000 0x1000000>;\n\n"
           "\t\tdev@2000000 {\n\t\t\treg = <0x2000000 0x1000>;\n\t\t};\n\t};\n\n")
    host = _host("t1", lambda s: s.replace("\tchosen {", bus + "\tchosen {", 1))
    code, out, err = build(host, *console_inputs(REFERENCE / "t1"), tmp_path=tmp_path,
                           capsysbinary=capsysbinary)
    assert (code, out) == (1, b"")
    assert err == (f"xendt: error: {tmp_path}/host.dtb: Xen 4.17.7 fails: /bus/dev@2000000:"
                   f" handle_device: \"Unable to retrieve address 0 for /bus/dev@2000000\""
                   f" (/bus/dev@2000000 address 0 (0x2000000) does not translate to a CPU address"
                   f" through its parents' ranges), then panic \"Could not set up DOM0 guest OS\""
                   f" (no release builds dom0 on this DT)\n")


def test_a_module_command_line_over_1024_bytes_is_xens_panic(tmp_path, capsysbinary):
    # add_boot_cmdline panics past BOOTMOD_MAX_CMDLINE, naming the module's
    # parent (xen/arch/arm/setup.c @ RELEASE-4.17.0).
    host = _host("t1", lambda s: s.replace('bootargs = "console=hvc0 earlycon=xen"',
                                           f'bootargs = "{"x" * 1025}"'))
    code, out, err = build(host, *console_inputs(REFERENCE / "t1"), tmp_path=tmp_path,
                           capsysbinary=capsysbinary)
    assert (code, out) == (1, b"")
    assert err == (f"xendt: error: /chosen/module@49000000 in {tmp_path}/host.dtb: bootargs of"
                   f" 1025 bytes: Xen panics \"module chosen command line too long\"\n")


@pytest.mark.parametrize("xen, kept", [("4.17", True), ("4.18", False)])
def test_the_console_uart_is_xens_only_when_a_driver_matches_it(xen, kept, tmp_path,
                                                                capsysbinary):
    # dt_uart_init's device_init (xen/drivers/char/arm-uart.c): pl011.c
    # matches "arm,sbsa-uart" from RELEASE-4.18.0 (42473bae23); before, the node
    # dtuart= names is nobody's and dom0 gets it.
    host = _host("t1", lambda s: s.replace('compatible = "arm,pl011\\0arm,primecell";',
                                           'compatible = "arm,sbsa-uart";', 1))
    text = _dom0_dts(host, "t1", xen, tmp_path, capsysbinary)
    assert ("\tpl011@9000000 {" in text) is kept
