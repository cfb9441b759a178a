"""One device tree for a fleet of hosts: the extended regions valid on all.

An image built once and booted on several board variants (different CPUs,
so different IPA sizes; different address maps) may only use the extended
regions every host would give it. `intersect()` keeps the address space the
hosts' region sets share, drops what falls below the minimum size, and
records which host cut or dropped what.

`build()` does this for a libxl guest (`xendt build` with several
--pa-bits/--ipa-bits), `host_regions()` for Xen's own dom0 and dom0less
regions (`xendt host-regions` with several hosts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xendt.errors import ConfigError
from xendt.guest.model import GuestConfig, Host
from xendt.ranges import Range
from xendt.xen.address import AddressSize

if TYPE_CHECKING:
    from xendt.hostregions.domains import DomainOptions
    from xendt.hostregions.regions import HostRegions
    from xendt.xen.context import Xen


@dataclass(frozen=True)
class Narrowed:
    """A fleet region smaller than some host's own region.

    region:
      the fleet region.
    widest:
      from the lowest start to the highest end the hosts' own regions
      around it reach.
    start_by, end_by:
      the hosts whose own region starts (ends) where the fleet region does,
      when another host's goes further.
    """

    region: Range
    widest: Range
    start_by: tuple[str, ...]
    end_by: tuple[str, ...]

    def __str__(self) -> str:
        parts = []
        if self.start_by:
            parts.append(f"start set by {', '.join(self.start_by)} (others from"
                         f" {self.widest.base:#x})")
        if self.end_by:
            parts.append(f"end set by {', '.join(self.end_by)} (others to {self.widest.end:#x})")
        return f"{self.region}: {'; '.join(parts)}"


@dataclass(frozen=True)
class Dropped:
    """A host's region with no fleet region in it.

    own:
      the region.
    hosts:
      the hosts that have it.
    not_free_on:
      the hosts without a large enough free range there.
    """

    own: Range
    hosts: tuple[str, ...]
    not_free_on: tuple[str, ...]

    def __str__(self) -> str:
        return (f"{self.own} of {', '.join(self.hosts)} dropped: not free on"
                f" {', '.join(self.not_free_on)}")


@dataclass(frozen=True)
class Fleet:
    """The regions valid on every host.

    hosts:
      the host names, in the order given.
    regions:
      the common regions, ascending.
    constraints:
      Narrowed and Dropped entries saying which host cut or dropped what;
      empty when all hosts agree.
    """

    hosts: tuple[str, ...]
    regions: tuple[Range, ...]
    constraints: tuple[Narrowed | Dropped, ...]


def intersect(per_host: dict[str, tuple[Range, ...]], min_size: int, max_count: int) -> Fleet:
    """The address space every host's regions cover, as regions of at least
    `min_size` bytes (at most `max_count` of them, lowest first), and the
    constraints that explain the difference from each host's own."""
    hosts = tuple(per_host)
    common = list(per_host[hosts[0]])
    for name in hosts[1:]:
        common = _intersection(common, per_host[name])
    kept = tuple(r for r in common if r.size >= min_size)[:max_count]
    constraints: list[Narrowed | Dropped] = []
    for region in kept:
        owners = {h: next(r for r in per_host[h] if r.base <= region.base and region.end <= r.end)
                  for h in hosts}
        low = min(r.base for r in owners.values())
        high = max(r.end for r in owners.values())
        start_by = tuple(h for h, r in owners.items() if r.base == region.base) \
            if low < region.base else ()
        end_by = tuple(h for h, r in owners.items() if r.end == region.end) \
            if high > region.end else ()
        if start_by or end_by:
            constraints.append(Narrowed(region, Range(low, high - low), start_by, end_by))
    dropped: dict[Range, list[str]] = {}
    for name in hosts:
        for own in per_host[name]:
            if not any(own.overlaps(r) for r in kept):
                dropped.setdefault(own, []).append(name)
    for own, having in dropped.items():
        lacking = tuple(h for h in hosts
                        if not any(_overlap(own, r) >= min_size for r in per_host[h]))
        constraints.append(Dropped(own, tuple(having), lacking or tuple(h for h in hosts
                                                                         if h not in having)))
    return Fleet(hosts, kept, tuple(constraints))


def _intersection(a: list[Range], b: tuple[Range, ...]) -> list[Range]:
    out = []
    for x in a:
        for y in b:
            start, end = max(x.base, y.base), min(x.end, y.end)
            if start < end:
                out.append(Range(start, end - start))
    return sorted(out, key=lambda r: r.base)


def _overlap(a: Range, b: Range) -> int:
    return max(0, min(a.end, b.end) - max(a.base, b.base))


# ---------------------------------------------------------------------------
# xendt build


@dataclass(frozen=True)
class FleetBuild:
    """A guest DT for several hosts.

    host:
      the Host the blob was built for: the one with the smallest IPA, whose
      extended regions are the common ones (libxl's regions only shrink with
      the IPA size).
    fleet:
      the common regions and their constraints.
    """

    host: Host
    fleet: Fleet


def build_host(guest: GuestConfig, template: Host, sizes: tuple[AddressSize, ...],
               xen: Xen) -> FleetBuild:
    """The Host to build `guest` for so that its DT suits every host: one
    host per size, otherwise like `template`. A smaller IPA only clips the
    regions a larger one gives, so the host with the smallest IPA is the one
    to build for; the others are compared with it to say what it limited.
    `xen`: template.xen resolved at the edge."""
    from dataclasses import replace

    from xendt.guest import memory, regions
    from xendt.xen import address

    layout = xen.layout
    ram = memory.split_ram(layout, guest.memory_mib)
    per_host: dict[str, tuple[Range, ...]] = {}
    ipa: dict[str, int] = {}
    hosts: dict[str, Host] = {}
    for size in sizes:
        name = f"{size.kind}-bits {size.bits}"
        hosts[name] = replace(template, pa_bits=size.bits if size.kind == "pa" else None,
                              ipa_bits=size.bits if size.kind == "ipa" else None)
        ipa[name] = address.ipa_bits(layout, size)
        per_host[name] = regions.extended_regions(layout, ram, ipa[name], guest.iomem)
    narrowest = min(ipa, key=ipa.__getitem__)
    return FleetBuild(hosts[narrowest], intersect(per_host, layout.ext_min_size,
                                                  max(layout.ext_max, 1)))


# ---------------------------------------------------------------------------
# xendt host-regions


@dataclass(frozen=True)
class HostFleet:
    """Xen's extended regions for one domain on several hosts.

    each:
      the HostRegions of every host, in the order given.
    fleet:
      the common regions, or None for a single host.
    """

    each: tuple[HostRegions, ...]
    fleet: Fleet | None

    def text(self, explain: bool = False) -> str:
        """The table `xendt host-regions` prints (`explain`: --explain)."""
        from xendt.hostregions.report import table

        return table(self, explain)

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """The "xendt.host-regions/1" document: what `xendt host-regions
        --format json` prints (with `explain`: and --explain)."""
        from xendt.hostregions.report import to_json

        return to_json(self, explain)

    def to_json(self, explain: bool = False) -> str:
        from xendt.documents import document

        return document(self.to_dict(explain))


def host_regions(hosts: list[tuple[str, bytes, AddressSize | None]], xen: Xen,
                 options: DomainOptions) -> HostFleet:
    """Xen `xen`'s extended regions for `options.domain` on each host, given
    as (file name, DTB bytes, PA or IPA size), and, for several hosts,
    the regions all of them give. Host names are the file names, with the
    PA/IPA size when that is what tells hosts apart."""
    from xendt.fdt.tree import Tree
    from xendt.host import firmware
    from xendt.hostregions import regions as host_regions
    from xendt.xen import address

    layout = xen.layout
    boot = options.firmware or firmware.Firmware()
    trees: dict[bytes, Tree] = {}
    each = []
    names = [name for name, *_ in hosts]
    for name, data, size in hosts:
        key = data
        if key not in trees:
            trees[key] = firmware.prepare(data, name, boot, layout.host)
        tree = trees[key]
        ipa = address.ipa_bits(layout, size)
        result = host_regions.compute(tree, layout, ipa, options)
        label = name
        if names.count(name) > 1:
            label = f"{name} ({size.kind if size else 'pa'}-bits {size.bits if size else ipa})"
        each.append(_relabel(result, label, xen.asked))
    if len(each) == 1:
        return HostFleet(tuple(each), None)
    per_host = {r.host: r.regions for r in each}
    if len(per_host) != len(each):
        raise ConfigError("the same host is given twice: give each host once")
    rules = layout.host
    return HostFleet(tuple(each), intersect(per_host, rules.min_size, rules.max))


def _relabel(result: HostRegions, host: str, xen: str) -> HostRegions:
    from dataclasses import replace

    return replace(result, host=host, xen=xen)
