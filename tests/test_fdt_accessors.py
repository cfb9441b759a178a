"""xendt.fdt.tree's typed accessors and reprs, dtlib-style: each reads one
kind of value, and every failure is one line naming the property, the node
path and the file (Property.fail)."""

from __future__ import annotations

import pytest

from conftest import dtc
from xendt.errors import Undecodable
from xendt.fdt.read import parse

SOURCE = b"""/dts-v1/;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    memory@40000000 {
        device_type = "memory";
        reg = <0x0 0x40000000 0x0 0x80000000>;
        short = <0x0 0x40000000 0x0>;
    };
    cpus {
        #address-cells = <1>;
        #size-cells = <0>;
        cpu@0 { reg = <0>; };
    };
    chosen {
        cpus = <4>;
        wide = /bits/ 64 <0x123456789>;
        name2 = "domU1";
        list = "a", "b";
        bytes = [01 02 03];
        empty;
    };
};
"""


@pytest.fixture(scope="module")
def tree():
    return parse(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=SOURCE).stdout, "board.dtb")


def failure(call) -> str:
    with pytest.raises(Undecodable) as info:
        call()
    return str(info.value)


def test_u32_reads_one_cell(tree):
    assert tree.node("/chosen").need("cpus").u32() == 4


def test_u64_reads_two_cells(tree):
    assert tree.node("/chosen").u64("wide") == 0x123456789


def test_string_reads_one_string(tree):
    assert tree.node("/chosen").need("name2").string() == "domU1"


def test_strings_reads_a_list(tree):
    assert tree.node("/chosen").strings("list") == ("a", "b")


def test_cells_reads_every_cell(tree):
    assert tree.node("/memory@40000000").cells("reg") == (0, 0x40000000, 0, 0x80000000)


def test_reg_reads_pairs_in_the_cells_of_the_bus(tree):
    assert tree.node("/memory@40000000").reg() == ((0x40000000, 0x80000000),)


def test_absent_property_gives_the_default(tree):
    chosen = tree.node("/chosen")
    assert (chosen.u64("nope", 7), chosen.cells("nope", ()), chosen.strings("nope", ("x",)),
            chosen.reg("nope")) == (7, (), ("x",), ())


def test_absent_property_without_default_fails(tree):
    assert failure(lambda: tree.node("/chosen").u64("nope")) \
        == "property 'nope' of /chosen in board.dtb: missing"


def test_need_fails_on_an_absent_property(tree):
    assert failure(lambda: tree.node("/chosen").need("nope")) \
        == "property 'nope' of /chosen in board.dtb: missing"


def test_u32_fails_on_two_cells(tree):
    assert failure(lambda: tree.node("/chosen").need("wide").u32()) == (
        "property 'wide' of /chosen in board.dtb: expected one cell (4 bytes),"
        " got <0x1 0x23456789> (8 bytes)")


def test_u64_fails_on_one_cell(tree):
    assert failure(lambda: tree.node("/chosen").u64("cpus")) == (
        "property 'cpus' of /chosen in board.dtb: expected two cells (8 bytes), got <0x4> (4 bytes)")


def test_string_fails_on_a_list(tree):
    assert failure(lambda: tree.node("/chosen").need("list").string()) == (
        "property 'list' of /chosen in board.dtb: expected one string, got <0x61006200> (4 bytes)")


def test_strings_fails_on_bytes(tree):
    assert failure(lambda: tree.node("/chosen").strings("bytes")) == (
        "property 'bytes' of /chosen in board.dtb: expected a list of strings,"
        " got [01 02 03] (3 bytes)")


def test_strings_fails_on_an_empty_value(tree):
    assert failure(lambda: tree.node("/chosen").strings("empty")) == (
        "property 'empty' of /chosen in board.dtb: expected a list of strings, got <> (0 bytes)")


def test_cells_fails_on_a_length_not_a_multiple_of_4(tree):
    assert failure(lambda: tree.node("/chosen").cells("bytes")) == (
        "property 'bytes' of /chosen in board.dtb: expected a multiple of 4 bytes,"
        " got [01 02 03] (3 bytes)")


def test_reg_fails_on_a_partial_pair(tree):
    assert failure(lambda: tree.node("/memory@40000000").reg("short")) == (
        "property 'short' of /memory@40000000 in board.dtb: expected a multiple of 16 bytes"
        " (2 address + 2 size cells), got 12")


def test_reg_fails_on_a_bus_without_sizes(tree):
    assert failure(lambda: tree.node("/cpus/cpu@0").reg()) == (
        "property 'reg' of /cpus/cpu@0 in board.dtb: expected addresses and sizes,"
        " but its bus has #address-cells 1 and #size-cells 0")


def test_tree_repr_counts_nodes(tree):
    assert repr(tree) == "<Tree board.dtb: 5 nodes>"


def test_node_repr_names_path_and_file(tree):
    assert repr(tree.node("/cpus")) == "<Node /cpus in board.dtb>"


def test_property_repr_names_node_and_file(tree):
    assert repr(tree.node("/memory@40000000").need("reg")) \
        == "<Property reg of /memory@40000000 in board.dtb>"


BAD_BUSES = b"""/dts-v1/;
/ {
    wide { #address-cells = <1 0>; #size-cells = <1>; };
    deep { #address-cells = <5>; #size-cells = <1>; };
};
"""


@pytest.fixture(scope="module")
def buses():
    return parse(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=BAD_BUSES).stdout, "bus.dtb")


def test_a_cell_count_of_two_cells_fails(buses):
    assert failure(lambda: buses.bus_cells(buses.node("/wide"))) == (
        "property '#address-cells' of /wide in bus.dtb: expected one cell (4 bytes),"
        " got <0x1 0x0> (8 bytes)")


def test_a_cell_count_above_4_fails(buses):
    assert failure(lambda: buses.bus_cells(buses.node("/deep"))) \
        == "property '#address-cells' of /deep in bus.dtb: expected 0 to 4, got 5"


def test_a_property_not_looked_up_through_its_node_fails_naming_itself_only():
    from xendt.fdt.tree import Property
    assert failure(lambda: Property("cpus", b"\0\0").u32()) \
        == "property 'cpus': expected one cell (4 bytes), got [00 00] (2 bytes)"


def test_nodes_copy_and_pickle_without_their_tree(tree):
    import copy
    import pickle
    node = tree.node("/memory@40000000")
    node.need("reg")
    assert (copy.copy(node), pickle.loads(pickle.dumps(node))) == (node, node)
    assert repr(copy.copy(node)) == "<Node /memory@40000000>"
