"""What each Xen version's libxl puts in the tree, read back with dtc and
libfdt (the real tools), one behaviour per test."""

from __future__ import annotations

import dataclasses
import re

import libfdt
import pytest

from conftest import dtb_to_dts
from xendt import GuestConfig, Host, Kernel, VirtioDevice, VirtioDisk, build
from xendt.errors import ConfigError

SEED = bytes(range(128))


def dts(version="4.22", **guest) -> str:
    guest.setdefault("gic_version", "v3")
    return dtb_to_dts(build(GuestConfig(**guest), Host(xen=version, rng_seed=SEED)).dtb)


def top_level_nodes(text: str) -> list[str]:
    return re.findall(r"^\t(\S+) \{$", text, flags=re.M)


def test_root_names_the_running_xen_version():
    text = dts("4.19")
    assert 'model = "XENVM-4.19";' in text
    assert 'compatible = "xen,xenvm-4.19\\0xen,xenvm";' in text
    assert 'compatible = "xen,xen-4.19\\0xen,xen";' in text


def test_nodes_come_in_libxl_order():
    text = dts(vuart=True, tee="optee", pci_devices=1, memory_mib=4096,
               disks=(VirtioDisk(backend_domid=1),))
    assert top_level_nodes(text) == [
        "chosen", "cpus", "psci", "memory@40000000", "memory@200000000",
        "interrupt-controller@3001000", "timer", "hypervisor", "sbsa-pl011", "firmware",
        "pcie@10000000", "virtio@2000000", "xen_iommu"]


def test_empty_bank_1_node_is_nopped_out():
    assert "memory@200000000" not in dts(memory_mib=3072)


def test_vcpu_16_is_named_by_its_mpidr():
    text = dts(max_vcpus=17)
    assert "cpu@f {" in text and "cpu@100 {" in text and "cpu@10 {" not in text


def test_arm32_guest_gets_armv7_compatibles():
    text = dts(kernel=Kernel("arm32", 4 << 20))
    assert 'compatible = "arm,cortex-a15";' in text
    assert 'compatible = "arm,armv7-timer";' in text


def test_clock_frequency_only_when_the_host_timer_has_one():
    assert "clock-frequency" not in dts()
    blob = build(GuestConfig(gic_version="v2"), Host(clock_frequency=50_000_000, rng_seed=SEED)).dtb
    assert "clock-frequency = <0x2faf080>;" in dtb_to_dts(blob)


def test_gicv2_has_distributor_and_cpu_interface():
    assert "reg = <0x00 0x3001000 0x00 0x1000 0x00 0x3002000 0x00 0x2000>;" in dts(gic_version="v2")


def test_gicv3_has_distributor_and_all_redistributors():
    assert "reg = <0x00 0x3001000 0x00 0x10000 0x00 0x3020000 0x00 0x1000000>;" in dts()


def test_rng_seed_is_absent_before_4_16():
    assert "rng-seed" not in dts("4.15")


def test_rng_seed_none_leaves_it_out():
    blob = build(GuestConfig(gic_version="v3"), Host(rng_seed=b"")).dtb
    assert "rng-seed" not in dtb_to_dts(blob)


def test_random_rng_seed_differs_between_builds():
    one, two = (build(GuestConfig(gic_version="v3")).dtb for _ in range(2))
    assert one != two and len(one) == len(two)


def test_with_acpi_rng_seed_follows_the_module_so_libfdt_cannot_find_it():
    blob = build(GuestConfig(gic_version="v3", acpi=True), Host(rng_seed=SEED, acpi_size=0x1234)).dtb
    fdt = libfdt.Fdt(blob)
    chosen = fdt.path_offset("/chosen")
    assert fdt.getprop(chosen, "rng-seed", libfdt.QUIET_NOTFOUND) == -libfdt.NOTFOUND
    assert blob.index(b"module@20000000") < blob.index(SEED)
    text = dtb_to_dts(blob)  # dtc still sees it, printed before the subnode
    assert "rng-seed = <0x10203" in text
    assert "reg = <0x00 0x20000000 0x00 0x1234>;" in text


def test_acpi_needs_the_tables_size():
    with pytest.raises(ConfigError, match=r"give it with Host\.acpi_size"):
        build(GuestConfig(gic_version="v3", acpi=True))


def test_xen_iommu_precedes_the_first_granted_disk_in_4_17():
    disks = (VirtioDisk(backend_domid=0), VirtioDisk(backend_domid=2))
    assert top_level_nodes(dts("4.17", disks=disks))[-3:] == ["virtio@2000000", "xen_iommu", "virtio@2000200"]


def test_xen_iommu_follows_all_virtio_nodes_from_4_18():
    disks = (VirtioDisk(backend_domid=0), VirtioDisk(backend_domid=2))
    assert top_level_nodes(dts("4.18", disks=disks))[-3:] == ["virtio@2000000", "virtio@2000200", "xen_iommu"]


def test_disk_grant_usage_is_honoured_from_4_19_only():
    disks = (VirtioDisk(backend_domid=0, grant_usage=True),)
    assert "iommus = <0xfde9 0x00>;" in dts("4.19", disks=disks)
    assert "iommus" not in dts("4.18", disks=disks)


def test_virtio_gpio_gets_a_gpio_controller_child():
    text = dts(virtio=(VirtioDevice(type="virtio,device29"),))
    assert re.search(r"gpio \{\n\t+compatible = \"virtio,device29\";\n\t+gpio-controller;", text)


def test_virtio_i2c_gets_an_i2c_child_and_generic_devices_none():
    text = dts(virtio=(VirtioDevice(type="virtio,device22"), VirtioDevice(type="virtio,device1a")))
    assert 'i2c {\n\t\t\tcompatible = "virtio,device22";' in text
    assert "virtio,device1a" not in text


def test_virtio_devices_get_consecutive_windows_and_spis():
    text = dts(virtio=tuple(VirtioDevice(type="virtio,device1a") for _ in range(3)))
    assert "virtio@2000400 {" in text
    assert "interrupts = <0x00 0x03 0xf01>;" in text


def test_a_twelfth_virtio_device_runs_out_of_spis():
    with pytest.raises(ConfigError, match="12 virtio-mmio devices but only 11 SPIs"):
        build(GuestConfig(gic_version="v3",
                          virtio=tuple(VirtioDevice(type="virtio,device1a") for _ in range(12))))


def test_virtio_devices_need_4_18():
    with pytest.raises(ConfigError, match=r"virtio devices need Xen 4.18"):
        build(GuestConfig(gic_version="v3", virtio=(VirtioDevice(type="virtio,device1a"),)),
              Host(xen="4.17"))


def test_too_many_vcpus_for_gicv2():
    with pytest.raises(ConfigError, match="maxvcpus 9: a GICv2 guest has 1 to 8 vCPUs"):
        build(GuestConfig(gic_version="v2", max_vcpus=9))


def test_too_many_vcpus_for_gicv3():
    with pytest.raises(ConfigError, match="maxvcpus 129: a GICv3 guest has 1 to 128 vCPUs"):
        build(GuestConfig(gic_version="v3", max_vcpus=129))


def test_gic_default_takes_the_hosts_gic():
    blob = build(GuestConfig(), Host(gic="v2", rng_seed=SEED)).dtb
    assert "arm,cortex-a15-gic" in dtb_to_dts(blob)


def test_nr_spis_too_small_for_the_vuart_is_refused_from_4_21():
    with pytest.raises(ConfigError, match="nr_spis 0 is too small: the guest's devices need 1"):
        build(GuestConfig(gic_version="v3", vuart=True, nr_spis=0), Host(xen="4.21"))
    build(GuestConfig(gic_version="v3", vuart=True, nr_spis=0), Host(xen="4.20"))


def test_the_4_21_blob_keeps_libxls_stale_tail_below_totalsize():
    blob = build(GuestConfig(gic_version="v3", memory_mib=1024), Host(xen="4.21", rng_seed=SEED)).dtb
    fdt = libfdt.Fdt(blob)
    assert len(blob) == fdt.totalsize() == fdt.off_dt_strings() + fdt.size_dt_strings() + 16 * 254


def test_a_tree_bigger_than_libxls_1_mib_buffer_fails_the_build():
    from conftest import dts_to_dtb
    from xendt.errors import BuildError

    big = dts_to_dtb("/dts-v1/; / { passthrough { blob = [%s]; }; };" % ("00 " * (1 << 20)))
    with pytest.raises(BuildError, match="does not fit libxl's 1048576-byte limit"):
        build(GuestConfig(gic_version="v3", partial_dtb=big, partial_dtb_name="big.dtb"))


def test_an_edited_node_from_the_tree_builder_leaves_the_next_build_byte_identical():
    # The builder keeps the nodes that depend only on the layout (and /cpus by
    # count): an API user editing what guest_tree returns must not reach them.
    from xendt.guest import tree
    from xendt.xen import layouts

    guest, host = GuestConfig(max_vcpus=2, gic_version="v3"), Host(xen="4.22", rng_seed=SEED)
    before = build(guest, host).dtb
    root = tree.guest_tree(layouts.load("4.22"), guest, gic="v3", clock_frequency=0,
                           rng_seed=SEED, virtio=())
    for node in (root, *root.children):
        with pytest.raises(dataclasses.FrozenInstanceError):
            node.entries = (*node.entries, ("oops", b"12345678"))  # type: ignore[misc]
        node.prop("oops", b"12345678")  # a new node: the one kept is unchanged
    assert build(guest, host).dtb == before


def test_a_layout_table_cannot_be_changed_by_a_caller():
    """Layouts are shared by every build in a process: [limits] max-vcpus is
    read-only, so no caller can change what the next build allows."""
    from xendt.xen import layouts

    limits = layouts.load("4.21").max_vcpus
    with pytest.raises(TypeError):
        limits["v3"] = 1000  # type: ignore[index]
    assert dict(layouts.load("4.21").max_vcpus) == {"v2": 8, "v3": 128}
