"""`xendt build --dom0` without --dom0-mem: dom0's banks predicted as Xen's
allocator places them (allocate_memory_11, xen/arch/arm/domain_build.c and
the buddy allocator, xen/common/page_alloc.c @ RELEASE-4.14.0 …
RELEASE-4.22.0; what setup_mm leaves free, xen/arch/arm/setup.c).

The golden cases are the five real boots of tests/data/reference-dom0/:
each rebuilt byte for byte with its BANK[n] lines replaced by the
prediction. Where the bootloader put Xen and the host DTB comes from that
boot: QEMU virt's -kernel loads Xen at RAM + 2 MiB and puts the DTB at
0x48000000 (V3-4220/console.log and V4-4210-gicv2/console.log: "MODULE[0]:
0000000040200000 - 000000004034bfff Xen", "MODULE[1]: 0000000048000000 -
... Device Tree"); 4.17.7's and 4.19.0's image size is not printed: the
4.21/4.22 one stands in (the banks lie far above it).
"""

from __future__ import annotations

import json
import re

import pytest
from test_dom0 import DUMPER, REFERENCE, RUNS, build, console_inputs, rebuilt

BOOT = ["--xen-image", "0x40200000:0x14c000", "--host-dtb-addr", "0x48000000"]


def predicted(run_dir) -> list[str]:
    """The console's flags with --dom0-mem left out."""
    args = console_inputs(run_dir)
    i = args.index("--dom0-mem")
    return args[:i] + args[i + 2:] + BOOT


@pytest.mark.parametrize("run_dir", RUNS, ids=lambda p: p.name)
def test_the_predicted_banks_rebuild_the_real_dom0_tree(run_dir, tmp_path, capsysbinary):
    built = rebuilt(run_dir, predicted(run_dir), tmp_path, capsysbinary)
    assert built == (run_dir / "dom0.dtb").read_bytes()


@pytest.mark.parametrize("run_dir", RUNS, ids=lambda p: p.name)
def test_bank_0_is_the_one_the_console_printed(run_dir, tmp_path, capsysbinary):
    log = (run_dir / "console.log").read_text()
    start, end = re.search(r"BANK\[0\] 0x([0-9a-f]+)-0x([0-9a-f]+)", log).groups()
    code, out, err = build(run_dir / "host.dtb", *predicted(run_dir), "--format", "json",
                           tmp_path=tmp_path, capsysbinary=capsysbinary)
    assert code == 0, err
    assert json.loads(out)["memory_map"]["ram"][0] == {"base": int(start, 16),
                                         "size": int(end, 16) - int(start, 16)}


def _banks(run: str, cmdline: str, tmp_path, capsysbinary) -> tuple[list[tuple[int, int]], str]:
    code, out, err = build(REFERENCE / run / "host.dtb", "--xen", "4.19.0", "--gnttab",
                           "0x40200000:0x40000", "--xen-cmdline", cmdline, "--kernel",
                           str(DUMPER), "--format", "json", *BOOT, tmp_path=tmp_path,
                           capsysbinary=capsysbinary)
    assert code == 0, err
    return [(r["base"], r["size"]) for r in json.loads(out)["memory_map"]["ram"]], err


def test_without_dom0_mem_dom0_gets_512_mib(tmp_path, capsysbinary):
    # construct_dom0: "PLEASE SPECIFY dom0_mem PARAMETER - USING 512M FOR NOW"
    # (xen/arch/arm/domain_build.c @ RELEASE-4.19.0).
    banks, _ = _banks("t1", "console=dtuart", tmp_path, capsysbinary)
    assert banks == [(0x60000000, 0x20000000)]


def test_a_second_block_merges_into_bank_0(tmp_path, capsysbinary):
    # t1 (2 GiB at 0x40000000): bank 0 is the only free 512 MiB block below
    # 2 GiB; the next one comes from below 4 GiB (MEMF_bits(32)) and ends
    # where bank 0 starts or starts where it ends (insert_11_bank).
    banks, _ = _banks("t1", "console=dtuart dom0_mem=1G", tmp_path, capsysbinary)
    assert banks == [(0x60000000, 0x40000000)]


def test_of_two_equal_blocks_the_second_on_its_list_is_taken(tmp_path, capsysbinary):
    # V2-4190: 1 GiB blocks at 2 and 3 GiB, both waiting to be scrubbed:
    # get_free_buddy's first pass moves the head (2 GiB) to the tail, the
    # second takes the 3 GiB block (xen/common/page_alloc.c @ RELEASE-4.19.0).
    banks, _ = _banks("V2-4190", "console=dtuart dom0_mem=1G", tmp_path, capsysbinary)
    assert banks == [(0xC0000000, 0x40000000)]


def test_with_bootscrub_off_the_last_block_freed_is_taken(tmp_path, capsysbinary):
    # bootscrub=off: init_heap_pages frees scrubbed pages, which go to the
    # head of their list (page_list_add_scrub): the 3 GiB block, freed last.
    banks, _ = _banks("V2-4190", "console=dtuart dom0_mem=512M bootscrub=off", tmp_path,
                      capsysbinary)
    assert banks == [(0xE0000000, 0x20000000)]


def test_banks_above_4_gib_are_a_prediction_only(tmp_path, capsysbinary):
    _, err = _banks("V2-4190", "console=dtuart dom0_mem=3500M", tmp_path, capsysbinary)
    assert err == (
        "xendt: warning: dom0's banks above 4 GiB are a prediction only: idle CPUs scrubbing"
        " free memory while CPU 0 builds dom0 reorder the allocator's lists there (seen with 2"
        " and 4 CPUs); Xen's console prints the real ones (BANK[n]), give them with"
        " --dom0-mem\n")


def test_text_after_dom0_mem_is_warned_about_and_the_size_kept(tmp_path, capsysbinary):
    # parse_dom0_mem: parse_size_and_unit then -EINVAL on what is left. The
    # 256 MiB are the upper half of the free 512 MiB block at 0x60000000
    # (alloc_heap_pages hands out the upper half of what it splits).
    banks, err = _banks("t1", "console=dtuart dom0_mem=256Mx", tmp_path, capsysbinary)
    assert banks == [(0x70000000, 0x10000000)]
    assert err == ("xendt: warning: dom0_mem=256Mx (--xen-cmdline): Xen prints \"parameter"
                   " 'dom0_mem' has invalid value\" and keeps 268435456 bytes\n")


def test_more_than_the_heap_holds_is_xens_panic(tmp_path, capsysbinary):
    code, _, err = build(REFERENCE / "t1" / "host.dtb", "--xen", "4.19.0", "--gnttab",
                         "0x40200000:0x40000", "--xen-cmdline", "console=dtuart dom0_mem=4G",
                         *BOOT, tmp_path=tmp_path, capsysbinary=capsysbinary)
    assert code == 1
    assert err.startswith("xendt: error: Xen panics \"Failed to allocate requested dom0"
                          " memory. ")


def test_the_python_api_predicts_the_banks_too():
    import xendt
    from xendt.dom0.memory import Boot

    host_dtb = (REFERENCE / "t1" / "host.dtb").read_bytes()
    dom0 = xendt.build_dom0(host_dtb, (), xendt.Range(0x40200000, 0x40000),
                            xendt.Host(xen="4.17.7", ipa_bits=44),
                            boot=Boot(xendt.Range(0x40200000, 0x14C000),
                                      xendt.Range(0x48000000, len(host_dtb))))
    assert dom0.memory_map.ram == (xendt.Range(0x60000000, 0x20000000),)


def test_a_prediction_needs_where_the_host_dtb_was(tmp_path, capsysbinary):
    code, _, err = build(REFERENCE / "t1" / "host.dtb", "--gnttab", "0x40200000:0x40000",
                         "--xen-image", "0x40200000:0x14c000", tmp_path=tmp_path,
                         capsysbinary=capsysbinary)
    assert code == 2
    assert err == ("xendt: --dom0 without --dom0-mem predicts dom0's banks and needs"
                   " --host-dtb-addr: where the bootloader put Xen and the host DTB (Xen's"
                   " console prints its banks as BANK[n]: --dom0-mem) (see 'xendt build"
                   " --help')\n")


def test_where_xen_was_loaded_goes_with_a_prediction_only(tmp_path, capsysbinary):
    code, _, err = build(REFERENCE / "t1" / "host.dtb", "--gnttab", "0x40200000:0x40000",
                         "--dom0-mem", "0x60000000:512M", *BOOT, tmp_path=tmp_path,
                         capsysbinary=capsysbinary)
    assert code == 2
    assert err == ("xendt: --xen-image and --host-dtb-addr go with a prediction: not with"
                   " --dom0-mem (see 'xendt build --help')\n")


def test_a_host_dtb_address_that_is_not_a_number_is_refused(tmp_path, capsysbinary):
    code, _, err = build(REFERENCE / "t1" / "host.dtb", "--gnttab", "0x40200000:0x40000",
                         "--xen-image", "0x40200000:0x14c000", "--host-dtb-addr", "high",
                         tmp_path=tmp_path, capsysbinary=capsysbinary)
    assert code == 2
    assert err == "xendt: --host-dtb-addr: 'high' is not an address (e.g. 0x48000000)\n"


def test_a_host_dt_without_ram_leaves_nothing_to_allocate(tmp_path, capsysbinary):
    from conftest import dtb_to_dts, dts_to_dtb

    source = dtb_to_dts((REFERENCE / "t1" / "host.dtb").read_bytes())
    start = source.index("\tmemory@40000000 {")
    source = source[:start] + source[source.index("\t};\n", start) + 4:]
    code, _, err = build(dts_to_dtb(source), "--xen", "4.17.7", "--gnttab", "0x40200000:0x40000",
                         *BOOT, tmp_path=tmp_path, capsysbinary=capsysbinary)
    assert code == 1
    assert err == (f"xendt: error: {tmp_path}/host.dtb: no RAM is left for Xen's heap (the"
                   " memory nodes less Xen, the DTB, the boot modules and reserved memory): Xen"
                   " cannot boot, let alone allocate dom0's 512 MiB\n")


def test_static_shared_memory_of_dom0_is_refused_in_one_line(tmp_path, capsysbinary):
    # process_shm(d, &kinfo, chosen) in construct_dom0 (domain_build.c @
    # RELEASE-4.17.0): Xen maps it and adds /reserved-memory; xendt does not.
    from conftest import dtb_to_dts, dts_to_dtb

    source = dtb_to_dts((REFERENCE / "t1" / "host.dtb").read_bytes()).replace(
        "\t\tmodule@49000000 {",
        "\t\tshm@70000000 {\n\t\t\tcompatible = \"xen,domain-shared-memory-v1\";\n"
        "\t\t\txen,shm-id = \"shm1\";\n"
        "\t\t\txen,shared-mem = <0x70000000 0x70000000 0x1000000>;\n\t\t};\n"
        "\t\tmodule@49000000 {", 1)
    code, _, err = build(dts_to_dtb(source), "--xen", "4.17.7", "--gnttab", "0x40200000:0x40000",
                         "--dom0-mem", "0x60000000:512M", tmp_path=tmp_path,
                         capsysbinary=capsysbinary)
    assert code == 2
    assert err == (f"xendt: {tmp_path}/host.dtb: dom0 has static shared memory, which Xen 4.17.7"
                   " maps and describes in dom0's /reserved-memory (process_shm,"
                   " make_resv_memory_node); xendt does not write that yet\n")
