"""Bar charts as inline SVG geometry, computed here and drawn by the templates:
no JavaScript, no CDN, readable without the hub's CSS (each bar has a title)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# One colour per series, distinguishable in light and dark mode.
PALETTE = ("#2b7bb9", "#e07b39", "#3a9d5d", "#8e5ea2", "#c94c4c", "#7f8c8d", "#b8a52e")


@dataclass(frozen=True, slots=True)
class HBar:
    label: str
    value: int
    y: int
    width: float
    href: str = ""


@dataclass(frozen=True, slots=True)
class HChart:
    """Horizontal bars: one row per label (partners, rules, statuses)."""

    bars: list[HBar]
    height: int
    label_width: int
    bar_space: int
    empty: bool


ROW = 22


def hbars(
    items: Sequence[tuple[str, int, str]], *, width: int = 560, label_width: int = 160
) -> HChart:
    """``items``: (label, value, link) rows; bars scaled to the largest value."""
    top = max((v for _, v, _ in items), default=0)
    space = width - label_width - 60
    bars = [
        HBar(label[:28], value, i * ROW, space * value / top if top else 0, href)
        for i, (label, value, href) in enumerate(items)
    ]
    return HChart(bars, max(ROW, len(bars) * ROW), label_width, space, top == 0)


@dataclass(frozen=True, slots=True)
class Segment:
    series: str
    value: int
    y: float
    height: float
    colour: str


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    x: float
    total: int
    segments: list[Segment]


@dataclass(frozen=True, slots=True)
class StackChart:
    """Vertical stacked columns: one per day, one segment per series."""

    columns: list[Column]
    legend: list[tuple[str, str]]
    width: int
    height: int
    column_width: float
    plot_height: int
    top: int
    empty: bool


def stacked(
    columns: Sequence[tuple[str, dict[str, int]]],
    series: Sequence[str],
    *,
    width: int = 560,
    plot_height: int = 140,
) -> StackChart:
    """``columns``: (label, {series: value}); series drawn bottom-up in ``series`` order."""
    top = max((sum(v.values()) for _, v in columns), default=0)
    used = [s for s in series if any(v.get(s) for _, v in columns)]
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    slot = width / max(1, len(columns))
    out = []
    for i, (label, values) in enumerate(columns):
        y = float(plot_height)
        segments = []
        for s in used:
            value = values.get(s, 0)
            if not value:
                continue
            h = plot_height * value / top
            y -= h
            segments.append(Segment(s, value, y, h, colour[s]))
        out.append(Column(label, i * slot, sum(values.values()), segments))
    return StackChart(
        out,
        [(s, colour[s]) for s in used],
        width,
        plot_height + 20,
        slot * 0.7,
        plot_height,
        top,
        top == 0,
    )
