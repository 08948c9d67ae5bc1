"""Horizontal grouped bar charts as inline SVG, so index.html needs no plotting library, no
scripts and no network: it opens from disk in any browser, and in CI artifact viewers."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

# Colour-blind-safe palette (Okabe-Ito), without the colours the fixed series use.
_PALETTE = ("#E69F00", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_FIXED = {"raw": "#999999", "published": "#0072B2", "aggregate": "#009E73"}


@dataclass
class Bar:
    series: str
    value: float
    label: str | None = None  # shown after the bar; defaults to the formatted value
    failed: bool = False


@dataclass
class Group:
    name: str
    bars: list[Bar] = field(default_factory=list)


@dataclass
class ReferenceLine:
    """A vertical line across the chart, for example the file system's expected baseline."""

    label: str
    value: float
    colour: str = "#D55E00"


def series_colour(name: str, order: list[str]) -> str:
    if name in _FIXED:
        return _FIXED[name]
    others = [n for n in order if n not in _FIXED]
    return _PALETTE[others.index(name) % len(_PALETTE)] if name in others else _PALETTE[0]


def format_value(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def bar_chart(
    title: str,
    unit: str,
    groups: list[Group],
    references: list[ReferenceLine] | None = None,
    width: int = 760,
) -> str:
    references = references or []
    series_order: list[str] = []
    for group in groups:
        for bar in group.bars:
            if bar.series not in series_order:
                series_order.append(bar.series)
    bar_height, bar_gap, group_gap = 16, 3, 14
    left, right, top = 150, 90, 48
    plot_width = width - left - right
    peak = max(
        [bar.value for group in groups for bar in group.bars] + [r.value for r in references] + [0]
    )
    scale_max = _nice_ceiling(peak) if peak > 0 else 1.0
    y = top
    body: list[str] = []
    for group in groups:
        group_height = len(group.bars) * (bar_height + bar_gap) - bar_gap
        body.append(
            f'<text x="{left - 8}" y="{y + group_height / 2 + 4:.1f}" text-anchor="end" '
            f'class="g">{escape(group.name)}</text>'
        )
        for bar in group.bars:
            length = max(0.0, bar.value / scale_max * plot_width)
            colour = series_colour(bar.series, series_order)
            pattern = (
                ' stroke="#D55E00" stroke-width="2" stroke-dasharray="4 2"' if bar.failed else ""
            )
            body.append(
                f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar_height}" '
                f'fill="{colour}"{pattern}><title>{escape(group.name)} / {escape(bar.series)}: '
                f"{format_value(bar.value)} {escape(unit)}</title></rect>"
            )
            text = bar.label or f"{format_value(bar.value)}"
            body.append(
                f'<text x="{left + length + 4:.1f}" y="{y + bar_height - 4}" class="v">'
                f"{escape(text)}</text>"
            )
            y += bar_height + bar_gap
        y += group_gap
    plot_bottom = y - group_gap + 4
    axis = [f'<line x1="{left}" y1="{top - 4}" x2="{left}" y2="{plot_bottom}" class="axis"/>']
    for step in range(5):
        value = scale_max * step / 4
        x = left + plot_width * step / 4
        axis.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{plot_bottom}" class="grid"/>'
            f'<text x="{x:.1f}" y="{plot_bottom + 14}" text-anchor="middle" class="t">'
            f"{format_value(value)}</text>"
        )
    for reference in references:
        x = left + reference.value / scale_max * plot_width
        axis.append(
            f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{plot_bottom}" '
            f'stroke="{reference.colour}" stroke-width="2" stroke-dasharray="6 3"/>'
            f'<text x="{x:.1f}" y="{top - 12}" text-anchor="middle" class="t" '
            f'fill="{reference.colour}">{escape(reference.label)}</text>'
        )
    legend: list[str] = []
    legend_x = left
    for name in series_order:
        legend.append(
            f'<rect x="{legend_x}" y="{plot_bottom + 24}" width="12" height="12" '
            f'fill="{series_colour(name, series_order)}"/>'
            f'<text x="{legend_x + 16}" y="{plot_bottom + 34}" class="t">{escape(name)}</text>'
        )
        legend_x += 24 + 7 * len(name)
    height = plot_bottom + 48
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}">'
        "<style>.g{font:12px sans-serif;fill:#222}.v{font:11px sans-serif;fill:#333}"
        ".t{font:11px sans-serif;fill:#555}.axis{stroke:#444}.grid{stroke:#ddd}"
        ".h{font:bold 14px sans-serif;fill:#111}</style>"
        f'<text x="8" y="18" class="h">{escape(title)} ({escape(unit)})</text>'
        + "".join(axis)
        + "".join(body)
        + "".join(legend)
        + "</svg>"
    )


def _nice_ceiling(value: float) -> float:
    """The next 1, 2, 2.5 or 5 times a power of ten, so axis ticks are round numbers."""
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= value:
            return factor * magnitude
    return 10 * magnitude
