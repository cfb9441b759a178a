"""The guest address map drawn as SVG (`xendt show --picture FILE.svg`).

Addresses grow downwards, one column of boxes, labelled on the right with
what each range is, its size and the node it comes from, and on the left
with its first address. A guest's address space spans 1 TiB with parts of a
few KiB, so it is cut into areas: a gap larger than everything drawn so far
in the current area ends it, and is drawn as a break (a zigzag band giving
the size of the gap and the layout regions unused in it). Within an area the
drawing is linear: the area's median range is MIN_HEIGHT to MAX_HEIGHT
pixels tall by the logarithm of its size (4 KiB to 1 TiB), so areas keep a
sense of their sizes, and the others follow to scale, except that no range
is drawn thinner than a line of text (MIN_HEIGHT) or gap thinner than
MIN_GAP, and a range longer than MAX_HEIGHT is cut short by a zigzag. A
range inside another (the initrd in RAM, a passthrough device in an
extended region) is an inset box.

The SVG is written by hand: rectangles, paths and text, no dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.inspect.addressmap import AddressMap, MapEntry
from xendt.ranges import Range, human_size

WIDTH = 900
BAR_X, BAR_WIDTH = 130, 150
LABEL_X = BAR_X + BAR_WIDTH + 16
TOP = 56
MIN_HEIGHT = 20
MAX_HEIGHT = 120
MIN_GAP = 4
#: Sizes drawn MIN_HEIGHT and MAX_HEIGHT tall as an area's median range.
SMALL, LARGE = 1 << 12, 1 << 40
#: Vertical room an address label needs.
LABEL_SPACING = 11
BREAK_HEIGHT = 34
FONT = "DejaVu Sans, Verdana, sans-serif"

#: Fill colour per entry kind.
COLOURS = {
    "ram": "#93d393",
    "grant-table": "#f6b26b",
    "extended-region": "#a4c8ec",
    "device": "#c2b5e3",
    "pci-window": "#7fd6c6",
    "module": "#ffe08a",
    "memreserve": "#e88d8d",
}


@dataclass(frozen=True)
class _Item:
    """One drawn row: a top-level entry with those inside it, or a gap
    (entry None) drawn to scale or as a break."""

    base: int
    size: int
    entry: MapEntry | None
    inner: tuple[MapEntry, ...] = ()
    is_break: bool = False


def svg(amap: AddressMap) -> str:
    """The address map of `amap` as an SVG document."""
    areas = _areas(amap)
    out: list[str] = []
    addresses: list[tuple[float, str, bool]] = []  # left labels: y, text, is an end
    y: float = TOP
    for items, scale in areas:
        if items[0].is_break:
            out += _break(amap, items[0], y)
            y += BREAK_HEIGHT
            continue
        for item in items:
            height = _height(item, scale)
            if item.entry is None:
                out.append(f'<rect x="{BAR_X}" y="{y}" width="{BAR_WIDTH}" height="{height}"'
                           f' fill="#ffffff" stroke="#bbbbbb" stroke-dasharray="3 3"/>')
                if height >= 12:
                    out.append(_text(LABEL_X, y + height / 2 + 4,
                                     f"unused {human_size(item.size)}", size=10, fill="#888888"))
            else:
                out += _box(item, y, height, scale)
            addresses.append((y + 9, f"{item.base:#x}", item.entry is None))
            y += height
        last = items[-1]
        addresses.append((y, f"{last.base + last.size:#x}", True))
    out += _address_labels(addresses)
    if not areas:
        out.append(_text(BAR_X, y + 20, "no addressed nodes in this tree", size=12))
        y += 40
    height = y + 40
    title = f"Guest address map of {amap.file}"
    version = amap.xen.version or "unknown"
    subtitle = (f"Xen {version}; names from the Xen {amap.layout.version} layout"
                if amap.layout else f"Xen {version}; no layout")
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}"'
        f' viewBox="0 0 {WIDTH} {height:.0f}" font-family="{FONT}">',
        f"<title>{_xml(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>',
        _text(16, 24, title, size=15, weight="bold"),
        _text(16, 42, subtitle + ". To scale within each area; breaks skip large gaps.",
              size=11, fill="#555555"),
    ]
    return "\n".join(head + out + ["</svg>"]) + "\n"


def _areas(amap: AddressMap) -> list[tuple[list[_Item], float]]:
    """The rows, cut into areas at large gaps; each area with its scale in
    pixels per byte."""
    areas: list[list[_Item]] = []
    current: list[_Item] = []
    end = None
    for entry, inner in amap.top_level:
        if end is not None and entry.base > end:
            gap = _Item(end, entry.base - end, None)
            extent = end - current[0].base if current else 0
            if gap.size > extent:
                areas.append(current)
                areas.append([_Item(gap.base, gap.size, None, is_break=True)])
                current = []
            else:
                current.append(gap)
        current.append(_Item(entry.base, entry.size, entry, inner))
        end = entry.end if end is None else max(end, entry.end)
    if current:
        areas.append(current)
    out = []
    for items in areas:
        sizes = sorted(i.size for i in items if i.entry is not None)
        median = sizes[len(sizes) // 2] if sizes else 0
        out.append((items, _median_height(median) / median if median else 0.0))
    return out


def _median_height(size: int) -> float:
    """How tall the median range of an area is drawn."""
    share = (size.bit_length() - SMALL.bit_length()) / (LARGE.bit_length() - SMALL.bit_length())
    return MIN_HEIGHT + (MAX_HEIGHT - MIN_HEIGHT) * min(1.0, max(0.0, share))


def _address_labels(labels: list[tuple[float, str, bool]]) -> list[str]:
    """The address labels left of the column, leaving out any that would
    overlap the one above (starts of ranges win over ends and gaps)."""
    kept: list[tuple[float, str, bool]] = []
    for y, text, minor in labels:
        if kept and y - kept[-1][0] < LABEL_SPACING:
            if minor or not kept[-1][2]:
                continue
            kept.pop()
        kept.append((y, text, minor))
    return [_text(BAR_X - 8, y, text, size=10, anchor="end", fill="#777777" if minor else "#000000",
                  family="DejaVu Sans Mono, monospace") for y, text, minor in kept]


def _height(item: _Item, scale: float) -> float:
    low = MIN_HEIGHT if item.entry is not None else MIN_GAP
    return round(max(low, min(MAX_HEIGHT, item.size * scale)), 1)


def _box(item: _Item, y: float, height: float, scale: float) -> list[str]:
    e = item.entry
    assert e is not None  # svg() draws gaps itself
    colour = COLOURS.get(e.kind, "#dddddd")
    out = [f'<rect x="{BAR_X}" y="{y}" width="{BAR_WIDTH}" height="{height}" fill="{colour}"'
           f' stroke="#333333" stroke-width="1"/>']
    label = f"{e.what} · {human_size(e.size)}"
    detail = e.source + (f" · layout: {e.layout}" if e.layout else "")
    if height >= 30:
        # Centred, or at the top when inset ranges need the room below.
        label_y = y + 16 if item.inner else y + height / 2 - 2
        out.append(_text(LABEL_X, label_y, label, size=12, weight="bold"))
        out.append(_text(LABEL_X, label_y + 14, detail, size=10, fill="#555555"))
        next_label = label_y + 32
    else:
        out.append(_text(LABEL_X, y + height / 2 + 4, f"{label}   {detail}", size=11))
        next_label = y + height + 12
    for k, sub in enumerate(item.inner):
        offset = (sub.base - e.base) / e.size * height if e.size else 0
        sub_height = max(6.0, min(height - offset, sub.size / e.size * height if e.size else 6.0))
        sub_y = round(min(y + offset, y + height - sub_height), 1)
        x = BAR_X + 30 + 12 * (k % 3)
        out.append(f'<rect x="{x}" y="{sub_y}" width="{BAR_WIDTH - 60}" height="{sub_height:.1f}"'
                   f' fill="{COLOURS.get(sub.kind, "#dddddd")}" stroke="#333333"'
                   f' stroke-width="0.8"/>')
        label_y = max(next_label, sub_y + sub_height / 2 + 4)
        next_label = label_y + 13
        out.append(f'<line x1="{x + BAR_WIDTH - 60}" y1="{sub_y + sub_height / 2:.1f}"'
                   f' x2="{LABEL_X + 8}" y2="{label_y - 4:.1f}" stroke="#777777" stroke-width="0.6"/>')
        out.append(_text(LABEL_X + 12, label_y, f"{sub.what} · {human_size(sub.size)}"
                         f" at {sub.base:#x} · {sub.source}", size=10))
    if e.size * scale > height + 0.5:  # drawn shorter than to scale
        mid = y + height / 2
        out.append(_zigzag(mid - 4, "#ffffff", 3))
        out.append(_zigzag(mid - 4, "#333333", 1))
    return out


def _break(amap: AddressMap, item: _Item, y: float) -> list[str]:
    mid = y + BREAK_HEIGHT / 2
    unused = amap.layout_regions_in(Range(item.base, item.size))
    label = f"{human_size(item.size)} not described"
    if unused:
        label += f" (layout: {', '.join(unused)})"
    return [
        _zigzag(mid - 6, "#888888", 1),
        _zigzag(mid + 4, "#888888", 1),
        _text(LABEL_X, mid + 4, label, size=11, fill="#666666", style="italic"),
    ]


def _zigzag(y: float, colour: str, width: float) -> str:
    points = []
    steps = 10
    for i in range(steps + 1):
        x = BAR_X - 6 + i * (BAR_WIDTH + 12) / steps
        points.append(f"{x:.1f},{y + (4 if i % 2 else 0):.1f}")
    return (f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}"'
            f' stroke-width="{width}"/>')


def _text(x: float, y: float, content: str, *, size: int, anchor: str = "start",
          weight: str = "normal", fill: str = "#000000", family: str | None = None,
          style: str = "normal") -> str:
    font = f' font-family="{family}"' if family else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"'
            f' font-weight="{weight}" font-style="{style}" fill="{fill}"{font}>'
            f"{_xml(content)}</text>")


def _xml(text: str) -> str:
    """`text` escaped for SVG character data and attributes; characters XML
    forbids become \\xNN."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif code < 0x20 or 0xD800 <= code < 0xE000 or code in (0xFFFE, 0xFFFF):
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)
