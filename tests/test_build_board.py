"""`xendt build --host-dtb BOARD.dtb` for an xl guest: what libxl learns from
the hypervisor about the board comes from the board's DTB, as Xen reads it
(xendt.host.libxl_facts): the GIC version a `gic_version = "default"` guest gets
(XEN_DOMCTL_CONFIG_GIC_NATIVE: the host's), and the timer's
clock-frequency, which libxl writes only when the host DT has one
(make_timer_node, tools/libs/light/libxl_arm.c @ RELEASE-4.21.0)."""

from __future__ import annotations

from conftest import dtb_to_dts, dts_node, dts_to_dtb, run_cli
from conftest_host import qemu  # noqa: F401  (fixture)

run = run_cli


def build_dts(board, capsysbinary, *extra: str) -> str:
    code, out, err = run("build", "--host-dtb", str(board), "--xen", "4.21", "--rng-seed", "none",
                         "--format", "dts", "-o", "-", *extra, capsysbinary=capsysbinary)
    assert code == 0, err
    return out.decode()


def test_a_gicv2_board_gives_a_default_guest_gicv2(qemu, capsysbinary):
    text = build_dts(qemu["gicv2-1g"], capsysbinary)
    assert dts_node(text, "/interrupt-controller@3001000") == (
        "\tinterrupt-controller@3001000 {\n"
        '\t\tcompatible = "arm,cortex-a15-gic\\0arm,cortex-a9-gic";\n'
        "\t\t#interrupt-cells = <0x03>;\n"
        "\t\t#address-cells = <0x00>;\n"
        "\t\tinterrupt-controller;\n"
        "\t\treg = <0x00 0x3001000 0x00 0x1000 0x00 0x3002000 0x00 0x2000>;\n"
        "\t\tlinux,phandle = <0xfde8>;\n"
        "\t\tphandle = <0xfde8>;\n"
        "\t};\n")


def test_a_gicv3_board_gives_gicv3(qemu, capsysbinary):
    gic = dts_node(build_dts(qemu["gicv3-2g"], capsysbinary), "/interrupt-controller@3001000")
    assert gic.splitlines()[1] == '\t\tcompatible = "arm,gic-v3";'


def test_the_board_timer_frequency_reaches_the_guest_timer(qemu, tmp_path, capsysbinary):
    source = dtb_to_dts(qemu["gicv3-2g"].read_bytes())
    source = source.replace('\t\tcompatible = "arm,armv8-timer\\0arm,armv7-timer";\n',
                            '\t\tcompatible = "arm,armv8-timer\\0arm,armv7-timer";\n'
                            "\t\tclock-frequency = <62500000>;\n")
    board = tmp_path / "board.dtb"
    board.write_bytes(dts_to_dtb(source))
    timer = dts_node(build_dts(board, capsysbinary), "/timer")
    assert timer == (
        "\ttimer {\n"
        '\t\tcompatible = "arm,armv8-timer";\n'
        "\t\tinterrupts = <0x01 0x0d 0xf08 0x01 0x0e 0xf08 0x01 0x0b 0xf08>;\n"
        "\t\tinterrupt-parent = <0xfde8>;\n"
        "\t\tclock-frequency = <0x3b9aca0>;\n"
        "\t};\n")
    plain = dts_node(build_dts(qemu["gicv3-2g"], capsysbinary), "/timer")
    assert plain == timer.replace("\t\tclock-frequency = <0x3b9aca0>;\n", "")


def test_a_flag_for_the_same_fact_conflicts(qemu, capsysbinary):
    code, out, err = run("build", "--host-dtb", str(qemu["gicv2-1g"]), "--host-gic", "v3", "-o", "-",
                         capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert err == ("xendt: --host-gic and --host-dtb both give the host's GIC version: give one"
                   " (see 'xendt build --help')\n")
