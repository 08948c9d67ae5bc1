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
    value: float  # the bar's length: the median of the repeats
    label: str | None = None  # shown after the bar; defaults to the formatted value
    failed: bool = False
    # The repeats' spread, drawn as a whisker across the bar's end (min-max).
    low: float | None = None
    high: float | None = None


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


_CHART_STYLE = (
    "<style>.g{font:12px sans-serif;fill:#222}.v{font:11px sans-serif;fill:#333}"
    ".t{font:11px sans-serif;fill:#555}.axis{stroke:#444}.grid{stroke:#ddd}"
    ".h{font:bold 14px sans-serif;fill:#111}.whisker{stroke:#111;stroke-width:1.5;fill:none}"
    ".band{opacity:0.18}.line{fill:none;stroke-width:2}</style>"
)


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
        [max(bar.value, bar.high or 0.0) for group in groups for bar in group.bars]
        + [r.value for r in references]
        + [0]
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
            spread = (
                f" (min {format_value(bar.low)}, max {format_value(bar.high)})"
                if bar.low is not None and bar.high is not None
                else ""
            )
            body.append(
                f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar_height}" '
                f'fill="{colour}" class="bar"{pattern}><title>{escape(group.name)} / '
                f"{escape(bar.series)}: {format_value(bar.value)} {escape(unit)}{spread}"
                "</title></rect>"
            )
            label_x = left + length
            if bar.low is not None and bar.high is not None:
                x_low = left + bar.low / scale_max * plot_width
                x_high = left + bar.high / scale_max * plot_width
                middle = y + bar_height / 2
                body.append(
                    f'<path class="whisker" d="M{x_low:.1f} {middle:.1f}H{x_high:.1f}'
                    f"M{x_low:.1f} {y + 3}V{y + bar_height - 3}"
                    f'M{x_high:.1f} {y + 3}V{y + bar_height - 3}"/>'
                )
                label_x = max(label_x, x_high)
            text = bar.label or f"{format_value(bar.value)}"
            body.append(
                f'<text x="{label_x + 4:.1f}" y="{y + bar_height - 4}" class="v">'
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
    axis.append(
        f'<text x="{left + plot_width / 2:.1f}" y="{plot_bottom + 28}" text-anchor="middle" '
        f'class="t axis-title">{escape(unit)}</text>'
    )
    legend: list[str] = []
    legend_x = left
    legend_y = plot_bottom + 38
    for name in series_order:
        legend.append(
            f'<rect x="{legend_x}" y="{legend_y}" width="12" height="12" '
            f'fill="{series_colour(name, series_order)}"/>'
            f'<text x="{legend_x + 16}" y="{legend_y + 10}" class="t">{escape(name)}</text>'
        )
        legend_x += 24 + 7 * len(name)
    legend.append(
        f'<path class="whisker" d="M{legend_x} {legend_y + 6}H{legend_x + 16}'
        f"M{legend_x} {legend_y + 2}V{legend_y + 10}M{legend_x + 16} {legend_y + 2}"
        f'V{legend_y + 10}"/><text x="{legend_x + 20}" y="{legend_y + 10}" class="t">'
        "min-max of the repeats</text>"
    )
    height = legend_y + 24
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)} ({escape(unit)})">'
        f"{_CHART_STYLE}"
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


@dataclass
class Point:
    index: int  # position on the x axis (the bundle's place in time)
    value: float  # the median
    low: float
    high: float


@dataclass
class Series:
    name: str
    points: list[Point] = field(default_factory=list)


def line_chart(
    title: str,
    unit: str,
    x_labels: list[str],
    series: list[Series],
    width: int = 760,
    height: int = 240,
) -> str:
    """Medians over time, one line per series, each point with a vertical min-max whisker."""
    left, right, top, bottom = 70, 20, 34, 64
    plot_width, plot_height = width - left - right, height - top - bottom
    peak = max([p.high for s in series for p in s.points] + [0.0])
    scale_max = _nice_ceiling(peak) if peak > 0 else 1.0
    slots = max(len(x_labels) - 1, 1)

    def x_of(index: int) -> float:
        return left + plot_width * (index / slots if len(x_labels) > 1 else 0.5)

    def y_of(value: float) -> float:
        return top + plot_height * (1 - value / scale_max)

    parts: list[str] = [
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_height}" class="axis"/>'
    ]
    for step in range(5):
        value = scale_max * step / 4
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_width}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="t">'
            f"{format_value(value)}</text>"
        )
    parts.append(
        f'<text x="14" y="{top + plot_height / 2:.1f}" class="t axis-title" '
        f'transform="rotate(-90 14 {top + plot_height / 2:.1f})" text-anchor="middle">'
        f"{escape(unit)}</text>"
    )
    # At most ~12 x labels, so a long history stays readable.
    every = max(1, len(x_labels) // 12 + (1 if len(x_labels) % 12 else 0))
    for index, label in enumerate(x_labels):
        if index % every == 0 or index == len(x_labels) - 1:
            parts.append(
                f'<text x="{x_of(index):.1f}" y="{top + plot_height + 14}" text-anchor="middle" '
                f'class="t">{escape(label)}</text>'
            )
    order = [s.name for s in series]
    for line in series:
        colour = series_colour(line.name, order)
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x_of(p.index):.1f} {y_of(p.value):.1f}"
            for i, p in enumerate(line.points)
        )
        if path:
            parts.append(f'<path class="line" stroke="{colour}" d="{path}"/>')
        for p in line.points:
            x = x_of(p.index)
            parts.append(
                f'<path class="whisker" stroke="{colour}" d="M{x:.1f} {y_of(p.low):.1f}'
                f"V{y_of(p.high):.1f}M{x - 3:.1f} {y_of(p.low):.1f}H{x + 3:.1f}"
                f'M{x - 3:.1f} {y_of(p.high):.1f}H{x + 3:.1f}"/>'
                f'<circle cx="{x:.1f}" cy="{y_of(p.value):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(line.name)} {escape(x_labels[p.index])}: median "
                f"{format_value(p.value)} {escape(unit)} (min {format_value(p.low)}, max "
                f"{format_value(p.high)})</title></circle>"
            )
    legend_x = left
    legend_y = height - 24
    for name in order:
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y}" width="12" height="12" '
            f'fill="{series_colour(name, order)}"/>'
            f'<text x="{legend_x + 16}" y="{legend_y + 10}" class="t">{escape(name)}</text>'
        )
        legend_x += 24 + 7 * len(name)
    parts.append(
        f'<text x="{legend_x}" y="{legend_y + 10}" class="t">dot: median; whisker: min-max of '
        "the repeats</text>"
    )
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)} ({escape(unit)})">'
        f"{_CHART_STYLE}"
        f'<text x="8" y="18" class="h">{escape(title)} ({escape(unit)})</text>'
        + "".join(parts)
        + "</svg>"
    )
