"""Whether Xen runs dom0 with an IOMMU, and Xen's command line options that
decide the extended regions.

iommu_setup (xen/drivers/passthrough/iommu.c @ RELEASE-4.17.0) enables the
IOMMU when `iommu=` leaves it on (the default) and iommu_hardware_setup
(passthrough/arm/iommu.c) initialises at least one IOMMU node: device_init
on every node, where a disabled node gives -ENODEV and a node no compiled-in
driver matches -EBADF, both ignored. So a host DT describing an SMMUv3 runs
without IOMMU on a default build, which has only the SMMUv1/v2 driver
(xen/drivers/passthrough/Kconfig at every tag 4.14 … 4.22: ARM_SMMU default
y, ARM_SMMU_V3 only `if EXPERT`, IPMMU_VMSA default n). dom0 gets
XEN_DOMCTL_CDF_iommu exactly when the IOMMU is enabled.
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.errors import ConfigError
from xendt.fdt.tree import Tree
from xendt.host import xen_dt
from xendt.xen.layout import Layout

#: parse_bool (xen/common/kernel.c @ RELEASE-4.17.0).
_TRUE = ("1", "yes", "true", "on", "enable")
_FALSE = ("0", "no", "false", "off", "disable")


@dataclass(frozen=True)
class Cmdline:
    """The options of Xen's command line this tool follows.

    text:
      the command line, as given or read from /chosen.
    source:
      where it came from ("--xen-cmdline", "/chosen xen,xen-bootargs", "").
    iommu:
      iommu= as a boolean (None: not given, on).
    force:
      iommu=force or iommu=required.
    ext_regions:
      ext_regions= (None: not given, on).
    """

    text: str = ""
    source: str = ""
    iommu: bool | None = None
    force: bool = False
    ext_regions: bool | None = None


def parse(text: str, source: str) -> Cmdline:
    """`iommu=` (parse_iommu_param: comma-separated booleans, force,
    required, with no- prefixes; other sub-options leave is_iommu_enabled
    alone) and `ext_regions=` (a boolean, opt_ext_regions in
    xen/arch/arm/domain_build.c @ RELEASE-4.16.0 …); the last one wins."""
    iommu: bool | None = None
    force = False
    ext: bool | None = None
    for word in text.split():
        name, eq, value = word.partition("=")
        if name == "iommu":
            for item in (value.split(",") if eq else ["1"]):
                negated = item.startswith("no-")
                key = item[3:] if negated else item
                if item in _TRUE or item in _FALSE:
                    iommu = item in _TRUE
                elif key in ("force", "required"):
                    force = not negated
        elif name in ("ext_regions", "no-ext_regions"):
            value = value if eq else "1"
            if value not in _TRUE + _FALSE:
                raise ConfigError(f"{source}: ext_regions={value!r} is not a boolean")
            ext = (value in _TRUE) != (name == "no-ext_regions")
    return Cmdline(text, source, iommu, force, ext)


def from_host(tree: Tree, given: str | None, *, uefi: bool, efi_dt_bootargs: bool) -> Cmdline:
    """Xen's command line: `given` (--xen-cmdline), else /chosen
    xen,xen-bootargs (boot_fdt_cmdline, xen/arch/arm/bootfdt.c @
    RELEASE-4.19.0; `bootargs` only when dom0 has its own, which this does
    not follow). Under UEFI the DT's is used only from 4.16.1/4.17.0, and
    only when xen.cfg has no options= (assumed here)."""
    if given is not None:
        return parse(given, "--xen-cmdline")
    chosen = tree.node("/chosen")
    text = chosen.string("xen,xen-bootargs") if chosen is not None else None
    if text is None or (uefi and not efi_dt_bootargs):
        return Cmdline()
    return parse(text, f"{tree.file}: /chosen xen,xen-bootargs")


@dataclass(frozen=True)
class Decision:
    """Whether Xen enables an IOMMU, and why (one phrase)."""

    on: bool
    why: str
    panic: str = ""


def decide(tree: Tree, layout: Layout, flag: bool | None, cmdline: Cmdline) -> Decision:
    """The IOMMU as Xen `layout.release` decides it on host `tree`: `flag`
    (--iommu/--no-iommu) overrides; else iommu= off disables it; else it is
    on iff an available node matches a driver of the default build. With
    iommu=force and no IOMMU Xen panics (`panic` says how)."""
    if flag is not None:
        return Decision(flag, "--iommu" if flag else "--no-iommu")
    if cmdline.iommu is False:
        return Decision(False, f"iommu={_value(cmdline.text)} ({cmdline.source})")
    built = {c: d for d in layout.iommu_drivers if d.default for c in d.compatibles}
    other = {c: d for d in layout.iommu_drivers if not d.default for c in d.compatibles}
    seen = []
    for node in tree.nodes():
        hit = next((c for c in node.compatible if c in built), None)
        if hit is not None and xen_dt.is_available(node):
            return Decision(True, f"{node.path} ({hit}) has the {built[hit].kconfig} driver of a"
                                  f" default Xen {layout.release} build")
        miss = next((c for c in node.compatible if c in other), None)
        if miss is not None:
            seen.append((node, miss))
    if seen:
        node, miss = seen[0]
        driver = other[miss]
        gate = f" (only with {driver.gate})" if driver.gate else ""
        why = (f"{node.path} ({miss}) needs {driver.kconfig}, not in a default Xen"
               f" {layout.release} build{gate}")
    else:
        why = "no IOMMU node a default Xen build drives"
    if cmdline.force:
        return Decision(False, why, panic="Couldn't enable IOMMU and iommu=required/force")
    return Decision(False, why)


def _value(text: str) -> str:
    for word in reversed(text.split()):
        if word.startswith("iommu="):
            return word.split("=", 1)[1]
    return ""
