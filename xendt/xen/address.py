"""The guest's address size, from the host's: one value, validated once.

A user states the host CPUs' physical-address size (`--pa-bits`, Arm's
PARange) or, where an IOMMU lowers it, the guest's IPA size directly
(`--ipa-bits`); never both. `AddressSize` is that one statement, and
`ipa_bits()` what a Xen version derives from it (libxl's gpaddr_bits for
guests, p2m_ipa_bits for dom0 and dom0less domains).
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.errors import ConfigError, FieldTypeError
from xendt.xen.layout import Layout

#: The PA sizes an Arm64 CPU can report (ID_AA64MMFR0_EL1.PARange 0..6).
PA_BITS = (32, 36, 40, 42, 44, 48, 52)
#: The IPA sizes Xen's stage-2 tables can have (its p2m PARange table).
IPA_BITS = (32, 36, 40, 42, 44, 48)
#: What xendt assumes when neither is given.
DEFAULT_PA_BITS = 40


@dataclass(frozen=True)
class AddressSize:
    """The host PA size or the guest IPA size, as the user gave it.

    kind:
      "pa" (the host CPUs' PARange) or "ipa" (the guest's IPA size).
    bits:
      the size in bits, one of PA_BITS or IPA_BITS.
    """

    kind: str
    bits: int

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str):
            raise FieldTypeError("AddressSize", "kind", f"expected 'pa' or 'ipa', got {self.kind!r}")
        if not isinstance(self.bits, int) or isinstance(self.bits, bool):
            raise FieldTypeError("AddressSize", "bits", f"expected an integer, got {self.bits!r}")
        valid = PA_BITS if self.kind == "pa" else IPA_BITS
        if self.kind not in ("pa", "ipa"):
            raise ConfigError(f"address size kind {self.kind!r}: expected 'pa' or 'ipa'")
        if self.bits not in valid:
            what = ("is not an Arm PARange size" if self.kind == "pa"
                    else "is not a size Xen's stage-2 tables have")
            shown = self.bits if self.bits.bit_length() <= 64 else f"of {self.bits.bit_length()} bits"
            raise ConfigError(f"{self.kind.upper()} bits {shown} {what};"
                              f" valid: {', '.join(map(str, valid))}")

    @classmethod
    def of(cls, pa_bits: int | None = None, ipa_bits: int | None = None) -> AddressSize | None:
        """The size from a PA or an IPA size (None when neither is given);
        ConfigError when both are."""
        if pa_bits is not None and ipa_bits is not None:
            raise ConfigError("--pa-bits and --ipa-bits are mutually exclusive: give one")
        if pa_bits is not None:
            return cls("pa", pa_bits)
        return cls("ipa", ipa_bits) if ipa_bits is not None else None

    @property
    def flag(self) -> str:
        """How the user states it on the command line: "--pa-bits 40"."""
        return f"--{self.kind}-bits {self.bits}"

    def __str__(self) -> str:
        return f"{self.bits}-bit {'PA host' if self.kind == 'pa' else 'IPA'}"


def ipa_bits(layout: Layout, size: AddressSize | None) -> int:
    """The guest IPA size Xen `layout.version` gives on a host of `size`
    (DEFAULT_PA_BITS when None). From a PA size Xen starts at
    `ipa_start_bits` (48 since the PADDR_BITS cap, 64 before it) and lowers
    it to the host's; an IPA size is taken as it is."""
    size = size or AddressSize("pa", DEFAULT_PA_BITS)
    if size.kind == "ipa":
        return size.bits
    if size.bits not in layout.pa_bits:
        raise ConfigError(f"Xen {layout.version} does not boot on a host with {size.bits}-bit"
                          f" physical addresses (its p2m setup panics; 4.16.2 and 4.17+ cap the"
                          f" IPA at 48 bits); use --ipa-bits if an IOMMU lowers it")
    return min(size.bits, layout.ipa_start_bits)
