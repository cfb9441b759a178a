"""Every domU blob a real Xen built at boot, rebuilt byte for byte.

tests/data/reference-dom0less/<version>/<run>/ holds the host DTB Xen
received and the DTBs its dom0less guests read back from their memory
(Debian's 4.17.7, 4.19.0 and 4.21.0 built from their tags; README.md
there). Module sizes come from the host DT's module `reg`s, as Xen takes
them; the kernel is the run's modules/dumper.bin (an arm64 Image with
text_offset 0) and domU4's partial DT is modules/passthrough-rtc.dtb.
QEMU's cortex-a57 has 44-bit physical addresses.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dom0less_support import build

from xendt.dom0less import domain_names

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "data" / "reference-dom0less"
BLOBS = sorted(REFERENCE.glob("4.*/*/domU*.dtb"))
QEMU_CORTEX_A57_PA_BITS = 44


def test_reference_blobs_are_there():
    """33 blobs: 11 per version (4 + 4 + 2 + 1 domains over 4 runs)."""
    assert len(BLOBS) == 33, f"expected 33 reference blobs under {REFERENCE}, found {len(BLOBS)}"


@pytest.mark.parametrize("blob", BLOBS, ids=lambda p: "/".join(p.parts[-3:]))
def test_rebuilt_byte_for_byte(blob: Path):
    run = blob.parent
    modules = REFERENCE / "modules"
    partial = (modules / "passthrough-rtc.dtb").read_bytes() if blob.stem == "domU4" else None
    built = build((run / "host.dtb").read_bytes(), blob.stem, run.parent.name,
                  host_name=str(run / "host.dtb"), partial_dtb=partial,
                  kernel=(modules / "dumper.bin").read_bytes(),
                  pa_bits=QEMU_CORTEX_A57_PA_BITS)
    assert built.blob == blob.read_bytes()


def test_domains_listed_in_xen_order():
    host = (REFERENCE / "4.19.0" / "all-nodom0-gicv3" / "host.dtb").read_bytes()
    assert domain_names(host) == ("domU1", "domU2", "domU3", "domU4")


def test_no_kernel_file_assumes_an_image_and_says_so():
    run = REFERENCE / "4.21.0" / "extra-gicv3"
    built = build((run / "host.dtb").read_bytes(), "domU6", "4.21")
    assert built.blob == (run / "domU6.dtb").read_bytes()
    # xen,enhanced = "disabled" asks for no /hypervisor node: nothing to warn about.
    assert built.warnings == (("domU6: no kernel file given: assumed an arm64 Image with"
                               " text_offset 0 of 9440 bytes (the module's reg)"),)
