"""What `xendt host-regions` prints for people and tools: the table and the
"xendt.host-regions/1" JSON document (HostFleet.text() and to_dict(),
HostRegions' through them), for one host or a fleet; with explain, where
each region comes from and why other free ranges gave none."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xendt.hostregions.fleet import Dropped, Fleet, Narrowed
from xendt.ranges import Range, human_size

if TYPE_CHECKING:
    from xendt.hostregions.fleet import HostFleet
    from xendt.hostregions.holes import Candidate
    from xendt.hostregions.regions import HostRegions


def table(result: HostFleet, explain: bool = False) -> str:
    out = []
    for r in result.each:
        out.append(_heading(r))
        if r.iommu_why and r.domain.host_layout and (explain or not r.iommu_why.startswith("--")):
            out.append(f"  IOMMU {'on' if r.domain.iommu else 'off'}: {r.iommu_why}")
        if explain:
            out += _explain_head(r)
        if r.failure is not None:
            out.append(f"  Xen fails: {r.failure}")
            continue
        out.append(_rows(r.regions, r.domain.grant_table, r.domain.hardware))
        out += [f"  note: {n}" for n in r.notes]
        if explain:
            out += _explain(r)
    if result.fleet is not None:
        out.append(f"Common to {len(result.fleet.hosts)} hosts:")
        out.append(_rows(result.fleet.regions, None, False, with_grant=False))
        for c in result.fleet.constraints:
            out.append(f"  {c}")
    return "\n".join(out) + "\n"


def _heading(r: HostRegions) -> str:
    d = r.domain
    how = r.finder or "none"
    facts = [f"IPA {r.ipa_bits} bits"]
    if d.host_layout:
        facts.append(f"IOMMU {'on' if d.iommu else 'off'}")
    facts.append(how)
    return f"Xen {r.xen}, {d.name} on {r.host}: " + ", ".join(facts)


def _rows(regions: tuple[Range, ...], grant_table: Range | None, hardware: bool,
          with_grant: bool = True) -> str:
    lines = [f"  {'reg':<4} {'base':<18}  {'size':<18}  end"]
    if with_grant:
        if grant_table is None and hardware:
            lines.append("  0    grant table at Xen's load address (give --gnttab or --dom0-dtb)")
        elif grant_table is not None:
            lines.append(_row(0, grant_table, "grant table"))
    for i, r in enumerate(regions, 1):
        lines.append(_row(i, r, human_size(r.size)))
    if not regions:
        lines.append("  (no extended regions)")
    return "\n".join(lines)


def _row(i: int, r: Range, note: str) -> str:
    return f"  {i:<4} {r.base:#018x}  {r.size:#018x}  {r.end:#018x}  {note}"


def _explain_head(r: HostRegions) -> list[str]:
    out = []
    if r.xen != r.release:
        out.append(f"  Xen {r.xen} is {r.release}")
    for p in r.points:
        out.append(f"  {r.release} has {p.commit} \"{p.subject}\": {p.behaviour}")
    if r.cmdline:
        out.append(f"  Xen command line: {r.cmdline}")
    return out


def _explain(r: HostRegions) -> list[str]:
    if not r.candidates:
        return []
    out = [f"  where the regions come from ({r.finder}):"]
    for c in r.candidates:
        what = f"region {r.regions.index(c.region) + 1}" if c.region else "dropped"
        line = (f"    {what}: free {c.free} ({human_size(c.free.size)}), from {c.start_by}"
                f" to {c.end_by}")
        details = list(c.cuts) + ([c.dropped] if c.dropped else [])
        out.append(line + (f"; {'; '.join(details)}" if details else ""))
    return out


def to_json(result: HostFleet, explain: bool = False) -> dict:
    """The "xendt.host-regions/1" document: one entry in "hosts" per board
    and the regions common to all (a board's own for one)."""
    from xendt.documents import envelope

    each = [_host_json(r, explain) for r in result.each]
    fleet = result.fleet
    common = fleet.regions if fleet is not None else result.each[0].regions
    names = {r.domain.name for r in result.each}
    warnings = [w for r in result.each for w in r.warnings]
    return envelope("host-regions", result.each[0].xen, [r.host for r in result.each], warnings,
                    "xen", {"hosts": each, "extended_regions": [_range(x) for x in common],
                            "constraints": [constraint_json(c) for c in
                                            (fleet.constraints if fleet else ())]}, names)


def _range(r: Range | None) -> dict | None:
    return None if r is None else {"base": r.base, "size": r.size}


def _host_json(r: HostRegions, explain: bool = False) -> dict:
    from xendt.notices import notices

    d = r.domain
    out: dict[str, object] = {
        "xen": r.xen, "release": r.release, "host": r.host, "domain": d.name,
        "finder": r.finder, "ipa_bits": r.ipa_bits, "host_layout": d.host_layout,
        "iommu": d.iommu, "iommu_why": r.iommu_why, "bits": d.bits,
        "ram": [_range(b) for b in d.ram], "grant_table": _range(d.grant_table),
        "extended_regions": [_range(x) for x in r.regions],
        "warnings": [n.to_dict() for n in notices(r.warnings, "xen", (d.name,))],
        "notes": list(r.notes), "failure": None if r.failure is None else {
            "node": r.failure.node, "function": r.failure.function,
            "message": r.failure.message, "fixed": r.failure.fixed},
    }
    if explain:
        out["points"] = [{"release": p.release, "commit": p.commit, "subject": p.subject,
                          "behaviour": p.behaviour} for p in r.points]
        out["cmdline"] = r.cmdline
        out["candidates"] = [_candidate_json(c) for c in r.candidates]
    return out


def _candidate_json(c: Candidate) -> dict:
    return {"free": _range(c.free), "start_by": c.start_by, "end_by": c.end_by,
            "region": _range(c.region), "cuts": list(c.cuts), "dropped": c.dropped}


def _fleet_json(fleet: Fleet) -> dict:
    return {
        "extended_regions": [_range(r) for r in fleet.regions],
        "constraints": [constraint_json(c) for c in fleet.constraints],
    }


def constraint_json(c: Narrowed | Dropped) -> dict:
    if isinstance(c, Dropped):
        return {"dropped": _range(c.own), "hosts": list(c.hosts),
                "not_free_on": list(c.not_free_on)}
    return {"region": _range(c.region), "widest": _range(c.widest),
            "start_by": list(c.start_by), "end_by": list(c.end_by)}
