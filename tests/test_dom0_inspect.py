"""`xendt show`, `check` and `diff` on dom0's device tree: a tree the
hypervisor wrote for dom0 from the host DT (prepare_dtb_hwdom,
xen/arch/arm/domain_build.c @ RELEASE-4.17.0) is recognised, checked by
dom0's rules, and `diff host.dtb dom0.dtb` says which Xen function makes
each change. The trees are the real ones of tests/data/reference-dom0/.
"""

from __future__ import annotations

import pytest
from test_dom0 import REFERENCE, RUNS

from conftest import run_cli

T1_DIFF = (
    '--- t1/host.dtb\n'
    '+++ t1/dom0.dtb\n'
    "(a: no guest builder's tree (a host DT, or hand-written); b: built by the Xen"
    " hypervisor (dom0, from the host DT): the host's root compatible with a"
    ' /hypervisor "xen,xen" node and no xen,xen-bootargs)\n'
    '/psci\n'
    '  - migrate: <0xc4000005>\n'
    "    why: handle_node skips the host's /psci (skip_matches) and make_psci_node"
    ' writes Xen\'s virtual PSCI at the end of the root: method "hvc", Xen\'s own'
    ' cpu_on and cpu_off function IDs, no migrate or cpu_suspend\n'
    '  ~ cpu_on: <0xc4000003> -> <0x2>\n'
    '  ~ cpu_off: <0x84000002> -> <0x1>\n'
    '  - cpu_suspend: <0xc4000001>\n'
    '  ~ method: "smc" -> "hvc"\n'
    '- /memory@40000000\n'
    '    - reg: RAM 0x40000000 +2 GiB\n'
    '    - device_type: "memory"\n'
    "    why: handle_node skips memory nodes: dom0's RAM is the /memory"
    ' make_memory_node writes from its own banks\n'
    '- /pl011@9000000\n'
    '    - clock-names: "uartclk", "apb_pclk"\n'
    '    - clocks: &/apb-pclk; &/apb-pclk\n'
    '    - interrupts: SPI 1 (ID 33) level-high, cpus 0x0\n'
    '    - reg: arm,pl011 0x9000000 +4 KiB\n'
    '    - compatible: "arm,pl011", "arm,primecell"\n'
    '    why: handle_node skips the UART Xen keeps for its console (dtuart= or'
    ' stdout-path: dt_device_used_by is DOMID_XEN)\n'
    '- /pmu\n'
    '    - interrupts: PPI 7 (ID 23) level-high, cpus 0x0\n'
    '    - compatible: "arm,armv8-pmuv3"\n'
    '    why: handle_node skips nodes compatible with "arm,armv8-pmuv3" (skip_matches)\n'
    '- /intc@8000000\n'
    '    - phandle: <0x8003>\n'
    '    - interrupts: PPI 9 (ID 25) level-high, cpus 0x0\n'
    '    - reg: GICv3 distributor 0x8000000 +64 KiB; GICv3 redistributors 0x80a0000'
    ' +~15.38 MiB\n'
    '    - #redistributor-regions: <0x1>\n'
    '    - compatible: "arm,gic-v3"\n'
    '    - ranges: (empty)\n'
    '    - #size-cells: <0x2>\n'
    '    - #address-cells: <0x2>\n'
    '    - interrupt-controller: (empty)\n'
    '    - #interrupt-cells: <0x3>\n'
    '    why: handle_node hands the GIC to make_gic_node, which writes it anew as'
    " /interrupt-controller (before 4.21; the host's name from 4.21)\n"
    '- /intc@8000000/its@8080000\n'
    '    - phandle: <0x8004>\n'
    '    - reg: arm,gic-v3-its 0x8080000 +128 KiB\n'
    '    - #msi-cells: <0x1>\n'
    '    - msi-controller: (empty)\n'
    '    - compatible: "arm,gic-v3-its"\n'
    "    why: make_gic_node copies none of the GIC's children but GICv2m frames (an"
    ' ITS needs CONFIG_HAS_ITS, not in a default build)\n'
    '- /cpus/cpu-map\n'
    '    why: make_cpus_node writes only cpu nodes: no cpu-map\n'
    '- /cpus/cpu-map/socket0\n'
    '- /cpus/cpu-map/socket0/cluster0\n'
    '- /cpus/cpu-map/socket0/cluster0/core0\n'
    '    - cpu: <0x8002>\n'
    '- /cpus/cpu-map/socket0/cluster0/core1\n'
    '    - cpu: <0x8001>\n'
    '/cpus/cpu@0\n'
    '  - phandle: <0x8002>\n'
    '    why: make_cpus_node writes every cpu node anew, without phandle\n'
    '/cpus/cpu@1\n'
    '  - phandle: <0x8001>\n'
    '    why: make_cpus_node writes every cpu node anew, without phandle\n'
    '/timer\n'
    '  ~ interrupts:\n'
    '    - PPI 13 (ID 29) level-high, cpus 0x0\n'
    '    - PPI 14 (ID 30) level-high, cpus 0x0\n'
    '    - PPI 11 (ID 27) level-high, cpus 0x0\n'
    '    - PPI 10 (ID 26) level-high, cpus 0x0\n'
    '    + PPI 13 (ID 29) level-low, cpus 0xf\n'
    '    + PPI 14 (ID 30) level-low, cpus 0xf\n'
    '    + PPI 11 (ID 27) level-low, cpus 0xf\n'
    '    why: make_timer_node writes the timer anew: compatible "arm,armv8-timer"'
    " (armv7 for a 32-bit dom0), the host's secure, non-secure and virtual PPIs as"
    " level-low for every CPU (no hypervisor PPI), the host's clock-frequency if it"
    ' has one, the GIC as interrupt-parent\n'
    '  - always-on: (empty)\n'
    '  ~ compatible:\n'
    '      "arm,armv8-timer"\n'
    '    - "arm,armv7-timer"\n'
    '  + interrupt-parent: &/interrupt-controller\n'
    '/chosen\n'
    '  - stdout-path: "/pl011@9000000"\n'
    "    why: write_properties drops stdout-path: the console UART is Xen's (dom0 has hvc0)\n"
    '  - xen,xen-bootargs: "console=dtuart dtuart=/pl011@9000000 loglvl=all'
    ' guest_loglvl=all dom0_mem=512M"\n'
    "    why: write_properties drops Xen's own command line\n"
    '  + bootargs: "console=hvc0 earlycon=xen"\n'
    "    why: write_properties: dom0's command line is xen,dom0-bootargs, else the"
    " kernel module's bootargs, else the host's /chosen bootargs\n"
    '  + linux,initrd-start: 0x68200000\n'
    '    why: write_properties leaves placeholders that initrd_load fills with where'
    ' Xen put the ramdisk (place_modules, xen/arch/arm/kernel.c)\n'
    '  + linux,initrd-end: 0x68500123\n'
    '- /chosen/module@49000000\n'
    '    - compatible: "multiboot,kernel", "multiboot,module"\n'
    '    - reg: boot module 0x49000000 +~8.95 KiB\n'
    '    - bootargs: "console=hvc0 earlycon=xen"\n'
    '    why: handle_node skips nodes compatible with "multiboot,module" (skip_matches)\n'
    '- /chosen/module@50000000\n'
    '    - compatible: "multiboot,ramdisk", "multiboot,module"\n'
    '    - reg: boot module 0x50000000 +~3 MiB\n'
    '    why: handle_node skips nodes compatible with "multiboot,module" (skip_matches)\n'
    '+ /interrupt-controller\n'
    '    + phandle: <0x8003>\n'
    '    + #address-cells: <0x2>\n'
    '    + #size-cells: <0x2>\n'
    '    + #interrupt-cells: <0x3>\n'
    '    + interrupt-controller: (empty)\n'
    '    + compatible: "arm,gic-v3"\n'
    '    + #redistributor-regions: <0x1>\n'
    '    + reg: GICv3 distributor 0x8000000 +64 KiB; GICv3 redistributors 0x80a0000'
    ' +~15.38 MiB\n'
    "    why: make_gic_node: the GIC Xen drives, with dom0's redistributor regions"
    ' (GICv3) or distributor and CPU interface (GICv2)\n'
    '+ /hypervisor\n'
    '    + compatible: "xen,xen-4.17", "xen,xen"\n'
    '    + reg: grant table 0x40200000 +256 KiB; extended region 1 0x40400000 +508'
    ' MiB; extended region 2 0x80000000 +1 GiB\n'
    '    + interrupts: PPI 0 (ID 16) level-low, cpus 0xf\n'
    '    + interrupt-parent: &/interrupt-controller\n'
    '    why: make_hypervisor_node: compatible "xen,xen-X.Y", the grant table and'
    ' the extended regions in reg, the event channel PPI\n'
    '+ /memory@60000000\n'
    '    + device_type: "memory"\n'
    '    + reg: RAM 0x60000000 +512 MiB\n'
    "    why: make_memory_node: dom0's RAM banks, where allocate_memory_11 put them"
    ' (1:1, so guest address = host address)\n'
    '/\n'
    '  ~ order of subnodes: moved psci (now after chosen), cpus (now after psci)\n'
    "    why: handle_node copies the host's nodes in order, then writes its own at"
    " the end of the root: /hypervisor, /psci and /cpus (the host's are skipped), /memory\n"
)


def test_diff_says_which_xen_function_makes_each_change(monkeypatch, capsysbinary):
    monkeypatch.chdir(REFERENCE)
    code, out, err = run_cli("diff", "t1/host.dtb", "t1/dom0.dtb", capsysbinary=capsysbinary)
    assert (code, err) == (1, "")
    assert out.decode() == T1_DIFF


def test_diff_the_other_way_round_gives_the_same_reasons(monkeypatch, capsysbinary):
    monkeypatch.chdir(REFERENCE)
    code, out, _err = run_cli("diff", "t1/dom0.dtb", "t1/host.dtb", capsysbinary=capsysbinary)
    assert code == 1
    text = out.decode()
    assert ("+ /pmu\n"
            "    + interrupts: PPI 7 (ID 23) level-high, cpus 0x0\n"
            "    + compatible: \"arm,armv8-pmuv3\"\n"
            "    why: handle_node skips nodes compatible with \"arm,armv8-pmuv3\""
            " (skip_matches)\n") in text
    assert ("- /memory@60000000\n"
            "    - device_type: \"memory\"\n"
            "    - reg: RAM 0x60000000 +512 MiB\n"
            "    why: make_memory_node: dom0's RAM banks, where allocate_memory_11 put them"
            " (1:1, so guest address = host address)\n") in text


def test_diff_explains_xen_passthrough_and_the_reserved_memory_node(monkeypatch, capsysbinary):
    # V4-4210-gicv2: fw-cfg has xen,passthrough in the host DT; the host's
    # /reserved-memory/buffer@7e000000 becomes a second /memory node.
    monkeypatch.chdir(REFERENCE)
    code, out, _ = run_cli("diff", "V4-4210-gicv2/host.dtb", "V4-4210-gicv2/dom0.dtb",
                           capsysbinary=capsysbinary)
    assert code == 1
    text = out.decode()
    assert ("/fw-cfg@9020000\n"
            "  - xen,passthrough: (empty)\n"
            "    why: write_properties never passes xen,passthrough on\n"
            "  + status: \"disabled\"\n"
            "    why: write_properties: a node marked xen,passthrough gets status ="
            " \"disabled\" (its device is kept for a domU)\n") in text
    assert ("+ /memory@7e000000\n"
            "    + device_type: \"memory\"\n"
            "    + reg: RAM 0x7e000000 +16 MiB\n"
            "    why: make_memory_node over the host's reserved memory"
            " (bootinfo.reserved_mem): dom0 knows it as RAM, reserved under"
            " /reserved-memory\n") in text
    assert ("- /cpus/cpu@3\n"
            "    - phandle: <0x8001>\n"
            "    - reg: <0x3>\n"
            "    - enable-method: \"psci\"\n"
            "    - compatible: \"arm,cortex-a57\"\n"
            "    - device_type: \"cpu\"\n"
            "    why: make_cpus_node writes one cpu node per dom0 vCPU: dom0 has 3\n") in text


@pytest.mark.parametrize("run_dir", RUNS, ids=lambda p: p.name)
def test_check_finds_nothing_wrong_in_a_real_dom0_tree(run_dir, monkeypatch, capsysbinary):
    # Dom0's grant table is Xen's load address and its event channel the
    # first free PPI (evtchn_allocate): not the guest layout's; its /memory
    # over reserved memory lies under /reserved-memory by design.
    monkeypatch.chdir(REFERENCE)
    code, out, _err = run_cli("check", f"{run_dir.name}/dom0.dtb", capsysbinary=capsysbinary)
    assert code == 0, out
    assert out.decode().startswith(f"{run_dir.name}/dom0.dtb: 0 errors, 0 warnings, 0 info (Xen")


def test_show_names_dom0_as_built_by_the_hypervisor(monkeypatch, capsysbinary):
    monkeypatch.chdir(REFERENCE)
    code, out, _ = run_cli("show", "t1/dom0.dtb", capsysbinary=capsysbinary)
    assert code == 0
    assert ("Guest address map of t1/dom0.dtb\n"
            "Xen 4.17 (/hypervisor compatible \"xen,xen-4.17\"); dom0 is mapped 1:1: host"
            " addresses, no layout\n"
            "Built by the Xen hypervisor (dom0, from the host DT): the host's root compatible"
            " with a /hypervisor \"xen,xen\" node and no xen,xen-bootargs\n") in out.decode()
    assert ("  0x0060000000  0x007fffffff      512 MiB  RAM                              "
            "/memory@60000000 reg[0]\n") in out.decode()
