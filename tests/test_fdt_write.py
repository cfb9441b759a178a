"""The one device-tree writer (xendt.fdt.node, .write, .xen_nodes): frozen
nodes, libfdt's sequential writes on libxl's growing or Xen's fixed buffer,
and the node makers Xen shares between dom0 and its domUs."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import xendt.fdt
from conftest import dtb_to_dts
from xendt.errors import BuildError, XenFailure
from xendt.fdt import write, xen_nodes
from xendt.fdt.node import Node, cells, regs

TREE = (Node("").prop("#address-cells", cells(2)).prop("#size-cells", cells(2))
        .child(xen_nodes.psci(), Node("chosen").prop("bootargs", b"x" * 300 + b"\0")))


def test_the_writer_imports_nothing_from_the_builders():
    builders = ("xendt.guest", "xendt.dom0less", "xendt.dom0", "xendt.host", "xendt.domu",
                "xendt.hostregions", "xendt.render")
    imported = set()
    for path in Path(xendt.fdt.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert sorted(m for m in imported if m.startswith(builders)) == []


def test_a_node_cannot_be_changed_only_extended_into_a_new_one():
    node = Node("chosen").prop("bootargs", b"a\0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.entries = ()  # type: ignore[misc]
    assert node.prop("rng-seed", b"12") == Node("chosen", (("bootargs", b"a\0"), ("rng-seed", b"12")))
    assert node == Node("chosen", (("bootargs", b"a\0"),))


def test_a_fixed_buffer_the_tree_does_not_fit_raises_its_overflow():
    overflow = XenFailure("does not fit DOMU_DTB_SIZE")
    with pytest.raises(XenFailure, match=r"^does not fit DOMU_DTB_SIZE$"):
        write.write(TREE, write.Buffer.fixed(256, overflow))


def test_a_growing_buffer_gives_the_bytes_of_a_buffer_big_enough_from_the_start():
    grown = write.write(TREE, write.Buffer(64, 4096, BuildError("FDT_MAX_SIZE")))
    assert grown == write.write(TREE, write.Buffer.fixed(4096, BuildError("FDT_MAX_SIZE")))


def test_a_growing_buffer_stops_at_its_limit():
    with pytest.raises(BuildError, match=r"^FDT_MAX_SIZE$"):
        write.write(TREE, write.Buffer(64, 256, BuildError("FDT_MAX_SIZE")))


def test_reg_cuts_what_its_cells_cannot_hold_as_dt_set_cell_does():
    assert regs((0x1_2345_6789, 0x1_0000_1000), address_cells=1, size_cells=1) == cells(
        0x2345_6789, 0x1000)


def test_the_shared_hypervisor_node_is_written_as_xen_writes_it():
    # make_hypervisor_node (xen/arch/arm/domain_build.c @ RELEASE-4.19.0): compatible,
    # reg in the root's cells, the event-channel PPI level-low, then interrupt-parent.
    node = xen_nodes.hypervisor("4.19", regs((0x3800_0000, 0x100_0000)), 31, 65000)
    dts = dtb_to_dts(bytes(write.write(Node("").child(node), write.Buffer.fixed(
        4096, BuildError("")))))
    assert ("\thypervisor {\n"
            "\t\tcompatible = \"xen,xen-4.19\\0xen,xen\";\n"
            "\t\treg = <0x00 0x38000000 0x00 0x1000000>;\n"
            "\t\tinterrupts = <0x01 0x0f 0xf08>;\n"
            "\t\tinterrupt-parent = <0xfde8>;\n"
            "\t};\n") in dts
