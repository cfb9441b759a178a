"""Extended regions and the guest IPA size, at the edges of the rules."""

from __future__ import annotations

import pytest

from xendt.errors import ConfigError
from xendt.guest.model import Iomem
from xendt.guest.regions import extended_regions
from xendt.ranges import GiB, MiB, Range
from xendt.xen import layouts
from xendt.xen.address import AddressSize, ipa_bits

V416, V420, V421 = (layouts.load(v) for v in ("4.16", "4.20", "4.21"))
RAM0, RAM1 = 0x4000_0000, 0x2_0000_0000
RAM0_END, RAM1_END = RAM0 + 3 * GiB, 1 << 40


def regions(layout, ram0, ram1=0, bits=40, iomem=()):
    return extended_regions(layout, (ram0, ram1), bits, tuple(iomem))


def pages(base, size):
    """An iomem range covering [base, base + size) by guest frame."""
    return Iomem(start=base >> 12, pages=size >> 12)


def test_no_extended_regions_before_4_16():
    assert regions(layouts.load("4.15"), 512 * MiB) == ()


def test_each_bank_gives_the_space_above_its_ram():
    assert regions(V416, 512 * MiB) == (Range(0x6000_0000, 0xA000_0000), Range(RAM1, 0xFE_0000_0000))


def test_ram_end_is_rounded_up_to_2_mib():
    assert regions(V420, 3 * GiB, 28 * MiB)[0] == Range(RAM1 + 0x1C0_0000, RAM1_END - RAM1 - 0x1C0_0000)
    assert regions(V420, 3 * GiB, 27 * MiB)[0].base == RAM1 + 28 * MiB


def test_a_region_of_exactly_64_mib_is_kept():
    assert regions(V420, 3 * GiB - 64 * MiB, bits=32) == (Range(RAM0_END - 64 * MiB, 64 * MiB),)


def test_a_region_just_under_64_mib_is_dropped():
    assert regions(V420, 3 * GiB - 62 * MiB, bits=32) == ()


def test_a_full_bank_0_gives_only_the_bank_1_region():
    assert regions(V421, 3 * GiB) == (Range(RAM1, RAM1_END - RAM1),)


def test_ipa_32_has_no_bank_1_region():
    assert regions(V421, 3 * GiB, 1 * GiB, bits=32) == ()
    assert regions(V421, 512 * MiB, bits=32) == (Range(0x6000_0000, 0xA000_0000),)


def test_ipa_36_clips_bank_1_at_64_gib():
    assert regions(V416, 512 * MiB, bits=36)[1] == Range(RAM1, 0xE_0000_0000)


def test_ipa_40_and_above_reach_the_bank_1_end():
    assert regions(V416, 512 * MiB, bits=40) == regions(V416, 512 * MiB, bits=48)


def test_iomem_is_ignored_before_4_21():
    cut = pages(0x9000_0000, 16 * MiB)
    assert regions(V420, 512 * MiB, iomem=[cut]) == regions(V420, 512 * MiB)


def test_iomem_inside_a_gap_splits_it_without_realigning():
    cut = pages(0x9000_0000, 16 * MiB)
    assert regions(V421, 512 * MiB, iomem=[cut]) == (
        Range(0x6000_0000, 0x3000_0000), Range(0x9100_0000, 0x6F00_0000), Range(RAM1, 0xFE_0000_0000))


def test_iomem_at_a_gap_start_moves_the_start_to_the_page_after_it():
    cut = pages(0x6000_0000, 16 * 4096)
    assert regions(V421, 512 * MiB, iomem=[cut])[0] == Range(0x6001_0000, 0x9FFF_0000)


def test_iomem_at_a_gap_end_shortens_the_region():
    cut = pages(RAM0_END - 16 * MiB, 16 * MiB)
    assert regions(V421, 512 * MiB, iomem=[cut])[0] == Range(0x6000_0000, 0xA000_0000 - 16 * MiB)


def test_iomem_covering_a_whole_gap_removes_it():
    cut = pages(0x6000_0000, 0xA000_0000)
    assert regions(V421, 512 * MiB, iomem=[cut]) == (Range(RAM1, 0xFE_0000_0000),)


def test_a_piece_smaller_than_64_mib_left_by_a_cut_is_dropped():
    cut = pages(0x6000_0000 + 32 * MiB, 4096)
    assert regions(V421, 512 * MiB, iomem=[cut])[0].base == 0x6000_0000 + 32 * MiB + 4096


def test_iomem_ranges_are_cut_in_guest_frame_order():
    late, early = pages(0xA000_0000, 4096), pages(0x8000_0000, 4096)
    assert regions(V421, 512 * MiB, iomem=[late, early])[:3] == (
        Range(0x6000_0000, 0x2000_0000), Range(0x8000_1000, 0x1FFF_F000), Range(0xA000_1000, 0x5FFF_F000))


def test_iomem_gfn_not_start_decides_where_the_cut_is():
    mapped = Iomem(start=0x12345, pages=1, gfn=0x8000_0000 >> 12)
    assert regions(V421, 512 * MiB, iomem=[mapped])[0] == Range(0x6000_0000, 0x2000_0000)


def test_more_than_256_candidate_regions_stop_at_256():
    # 300 one-page holes every 128 MiB in bank 1 make 301 candidates.
    cuts = [pages(RAM1 + (i + 1) * 128 * MiB, 4096) for i in range(300)]
    found = regions(V421, 3 * GiB, iomem=cuts)
    assert len(found) == 256
    assert found[-1] == Range(RAM1 + 255 * 128 * MiB + 4096, 128 * MiB - 4096)


def test_ipa_bits_follow_the_host_pa_bits():
    assert ipa_bits(V421, AddressSize("pa", 44)) == 44


def test_52_bit_pa_is_capped_at_48_from_4_17():
    assert ipa_bits(layouts.load("4.17"), AddressSize("pa", 52)) == 48


def test_52_bit_pa_is_refused_where_xen_panics():
    with pytest.raises(ConfigError, match=r"Xen 4.14 does not boot on a host with 52-bit"):
        ipa_bits(layouts.load("4.14"), AddressSize("pa", 52))


def test_default_is_40_bits():
    assert ipa_bits(V421, None) == 40


def test_a_pa_size_arm_does_not_have_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"PA bits 39 is not an Arm PARange size; valid: 32, 36, 40, 42, 44, 48, 52"):
        AddressSize("pa", 39)


def test_ipa_bits_are_taken_as_given():
    assert ipa_bits(V421, AddressSize("ipa", 36)) == 36


def test_pa_and_ipa_bits_together_are_refused():
    with pytest.raises(ConfigError, match="mutually exclusive"):
        AddressSize.of(pa_bits=40, ipa_bits=40)
