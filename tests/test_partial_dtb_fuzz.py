"""A corrupted partial device tree (xl device_tree=) is either copied or
refused with xendt's one-line error: never another exception, never a hang."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GOLDEN
from xendt import GuestConfig, Host, build
from xendt.errors import XendtError

PARTIAL = (GOLDEN / "partial-passthrough.dtb").read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(PARTIAL) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(PARTIAL)))
def test_mutated_partial_dtb_builds_or_fails_cleanly(edits, cut):
    data = bytearray(PARTIAL)
    for offset, value in edits:
        data[offset] = value
    guest = GuestConfig(gic_version="v3", partial_dtb=bytes(data[:cut]), partial_dtb_name="p.dtb")
    try:
        build(guest, Host(rng_seed=b""))
    except XendtError as e:
        assert "\n" not in str(e) and "p.dtb" in str(e)
