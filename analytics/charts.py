"""Geometry of the portal's usage charts, drawn by templates as inline SVG (no script needed): requests by status
class, outcomes (2xx, 4xx, 401/403, 429, 5xx) and latency percentiles over time.

Only numbers and labels are computed here; colours are CSS classes (the CSP forbids inline styles), and the
SVG uses presentation attributes (x, y, width, height), which the CSP allows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from analytics.models import UsageRollup

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 12, 28
STATUS_CLASSES = (1, 2, 3, 4, 5)  # stacked bottom-up
X_LABELS = 6
Y_TICKS = 4
_LABEL_FORMAT: dict[str, str] = {
    UsageRollup.Granularity.MINUTE: "%H:%M",
    UsageRollup.Granularity.HOUR: "%H:00",
    UsageRollup.Granularity.DAY: "%d %b",
}


@dataclass
class Segment:
    """One status class's part of a bar."""

    status_class: int
    count: int
    y: float
    height: float


def _stacked_bar(css: str, bar: Any, pieces: Iterable[tuple[Any, float, float]]) -> SafeString:
    """A stacked bar's `<g>`: its label as the title, a rect per (class suffix, y, height) piece."""
    rects = format_html_join(
        "",
        '<rect class="' + css + '{}" x="{}" y="{}" width="{}" height="{}"></rect>',
        ((suffix, bar.x, y, bar.width, height) for suffix, y, height in pieces),
    )
    return format_html("<g><title>{}</title>{}</g>", bar.label, rects)


@dataclass
class Bar:
    """One bucket: its stacked segments and a label for screen readers and tooltips."""

    time: datetime
    x: float
    width: float
    total: int
    label: str
    segments: list[Segment] = field(default_factory=list)

    def svg(self) -> SafeString:
        """The bar as SVG markup: a bar per bucket and a rect per class are many for the template engine."""
        return _stacked_bar("chart-s", self, ((s.status_class, s.y, s.height) for s in self.segments))


@dataclass
class Tick:
    """An axis label at a position (y for the value axis, x for the time axis)."""

    at: float
    text: str


@dataclass
class Chart:
    """Everything the template needs to draw the chart."""

    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    y_max: int
    total: int
    peak: int

    def bars_svg(self) -> SafeString:
        """Every bar with requests, as SVG markup."""
        return format_html_join("", "{}", ((bar.svg(),) for bar in self.bars if bar.total))


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (and at least Y_TICKS)."""
    if value <= Y_TICKS:
        return Y_TICKS
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            # Each tick must be an integer, so the ceiling is a multiple of Y_TICKS.
            candidate = factor * magnitude * Y_TICKS
            if candidate >= value:
                return candidate
        magnitude *= 10


def _compact(value: int) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return str(value)


def requests_chart(
    *, granularity: str, start: datetime, end: datetime, step: timedelta, counts: dict[datetime, dict[int, int]]
) -> Chart:
    """Stacked bars by status class for every bucket in [start, end), empty buckets included."""
    buckets: list[datetime] = []
    moment = start
    while moment < end:
        buckets.append(moment)
        moment += step
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(buckets), 1)
    totals = [sum(counts.get(b, {}).values()) for b in buckets]
    peak = max(totals, default=0)
    y_max = nice_ceiling(peak)
    scale = plot_height / y_max
    label_format = _LABEL_FORMAT.get(granularity, "%d %b %H:%M")
    bars = []
    for index, (bucket, total) in enumerate(zip(buckets, totals, strict=True)):
        by_class = counts.get(bucket, {})
        parts = ", ".join(f"{by_class[c]} {c}xx" for c in STATUS_CLASSES if by_class.get(c))
        label = f"{bucket:%d %b %H:%M} UTC: {total} request{'' if total == 1 else 's'}"
        bar = Bar(
            time=bucket,
            x=round(LEFT + index * slot + slot * 0.125, 2),
            width=round(slot * 0.75, 2),
            total=total,
            label=f"{label} ({parts})" if parts else label,
        )
        base: float = TOP + plot_height
        for status_class in STATUS_CLASSES:
            count = by_class.get(status_class, 0)
            if count:
                height = count * scale
                base -= height
                bar.segments.append(Segment(status_class, count, round(base, 2), round(height, 2)))
        bars.append(bar)
    every = max(1, -(-len(buckets) // X_LABELS))
    x_ticks = [
        Tick(round(LEFT + (i + 0.5) * slot, 2), f"{bucket:{label_format}}")
        for i, bucket in enumerate(buckets)
        if i % every == 0
    ]
    y_ticks = [
        Tick(round(TOP + plot_height - plot_height * i / Y_TICKS, 2), _compact(y_max * i // Y_TICKS))
        for i in range(Y_TICKS + 1)
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=TOP + plot_height,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        y_max=y_max,
        total=sum(totals),
        peak=peak,
    )


# --- Outcomes over time (stacked bars by named category) and latency percentiles over time (lines) -------------


@dataclass
class Part:
    """One category's part of an outcome bar (its CSS class is `chart-o-<key>`)."""

    key: str
    label: str
    count: int
    y: float
    height: float


@dataclass
class OutcomeBar:
    """One bucket of the outcome chart."""

    time: datetime
    x: float
    width: float
    total: int
    label: str
    counts: dict[str, int]
    parts: list[Part] = field(default_factory=list)

    def svg(self) -> SafeString:
        """The bar as SVG markup, as Bar.svg."""
        return _stacked_bar("chart-o-", self, ((p.key, p.y, p.height) for p in self.parts))


@dataclass
class OutcomeChart:
    """The outcome chart: geometry, axes, and the categories in stacking order (for the legend and data table)."""

    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    bars: list[OutcomeBar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    categories: tuple[tuple[str, str], ...]
    totals: dict[str, int]
    total: int

    def bars_svg(self) -> SafeString:
        """Every bar with requests, as SVG markup."""
        return format_html_join("", "{}", ((bar.svg(),) for bar in self.bars if bar.total))

    @property
    def description(self) -> str:
        """The totals per category in words, for the chart's <desc>."""
        return ", ".join(f"{self.totals[key]:,} {label}" for key, label in self.categories)


def _buckets(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    buckets = []
    moment = start
    while moment < end:
        buckets.append(moment)
        moment += step
    return buckets


def _x_ticks(buckets: list[datetime], slot: float, granularity: str) -> list[Tick]:
    label_format = _LABEL_FORMAT.get(granularity, "%d %b %H:%M")
    every = max(1, -(-len(buckets) // X_LABELS))
    return [
        Tick(round(LEFT + (i + 0.5) * slot, 2), f"{bucket:{label_format}}")
        for i, bucket in enumerate(buckets)
        if i % every == 0
    ]


def _y_ticks(y_max: int, plot_height: float, unit: str = "") -> list[Tick]:
    return [
        Tick(round(TOP + plot_height - plot_height * i / Y_TICKS, 2), _compact(y_max * i // Y_TICKS) + unit)
        for i in range(Y_TICKS + 1)
    ]


def outcomes_chart(
    *,
    granularity: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    counts: dict[datetime, dict[str, int]],
    categories: tuple[tuple[str, str], ...],
) -> OutcomeChart:
    """Stacked bars by outcome category (bottom-up in `categories` order) for every bucket in [start, end)."""
    buckets = _buckets(start, end, step)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(buckets), 1)
    empty = dict.fromkeys((key for key, _ in categories), 0)
    per_bucket = [counts.get(b, empty) for b in buckets]
    totals = [sum(c.values()) for c in per_bucket]
    y_max = nice_ceiling(max(totals, default=0))
    scale = plot_height / y_max
    bars = []
    for index, (bucket, by_key, total) in enumerate(zip(buckets, per_bucket, totals, strict=True)):
        parts = ", ".join(f"{by_key[key]} {label}" for key, label in categories if by_key.get(key))
        label = f"{bucket:%d %b %H:%M} UTC: {total} request{'' if total == 1 else 's'}"
        bar = OutcomeBar(
            time=bucket,
            x=round(LEFT + index * slot + slot * 0.125, 2),
            width=round(slot * 0.75, 2),
            total=total,
            label=f"{label} ({parts})" if parts else label,
            counts={key: by_key.get(key, 0) for key, _ in categories},
        )
        base: float = TOP + plot_height
        for key, name in categories:
            count = by_key.get(key, 0)
            if count:
                height = count * scale
                base -= height
                bar.parts.append(Part(key, name, count, round(base, 2), round(height, 2)))
        bars.append(bar)
    return OutcomeChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=TOP + plot_height,
        bars=bars,
        y_ticks=_y_ticks(y_max, plot_height),
        x_ticks=_x_ticks(buckets, slot, granularity),
        categories=categories,
        totals={key: sum(bar.counts[key] for bar in bars) for key, _ in categories},
        total=sum(totals),
    )


@dataclass
class Dot:
    """One percentile of one bucket, with its tooltip."""

    x: float
    y: float
    label: str


@dataclass
class Line:
    """One percentile over time: polylines broken where a bucket had no measured request, and its dots."""

    name: str  # p50, p95, p99
    polylines: list[str]  # SVG `points` attributes
    dots: list[Dot]

    def svg(self) -> SafeString:
        """The polylines and dots as SVG markup (inside the line's <g>)."""
        lines = format_html_join("", '<polyline points="{}"></polyline>', ((points,) for points in self.polylines))
        dots = format_html_join(
            "", '<circle cx="{}" cy="{}" r="2.5"><title>{}</title></circle>', ((d.x, d.y, d.label) for d in self.dots)
        )
        return format_html("{}{}", lines, dots)


@dataclass
class LatencyRow:
    """One bucket of the latency data table."""

    time: datetime
    requests: int
    percentiles: dict[str, float | None]


@dataclass
class LatencyChart:
    """The latency chart: one line per percentile on a millisecond axis."""

    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    rows: list[LatencyRow]
    peak_ms: float


def latency_chart(
    *,
    granularity: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    points: dict[datetime, tuple[int, dict[str, float | None]]],
    names: tuple[str, ...] = ("p50", "p95", "p99"),
) -> LatencyChart:
    """Lines of p50/p95/p99 (ms) per bucket in [start, end); `points` maps a bucket to (requests, percentiles)."""
    buckets = _buckets(start, end, step)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(buckets), 1)
    values = [v for _, p in points.values() for name, v in p.items() if name in names and v is not None]
    peak = max(values, default=0.0)
    y_max = nice_ceiling(math.ceil(peak))
    scale = plot_height / y_max
    lines = []
    for name in names:
        runs: list[list[str]] = [[]]
        dots = []
        for index, bucket in enumerate(buckets):
            value = points.get(bucket, (0, {}))[1].get(name)
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            x, y = round(LEFT + (index + 0.5) * slot, 2), round(TOP + plot_height - value * scale, 2)
            runs[-1].append(f"{x},{y}")
            dots.append(Dot(x, y, f"{bucket:%d %b %H:%M} UTC: {name} {value:.1f} ms"))
        lines.append(Line(name, [" ".join(run) for run in runs if run], dots))
    rows = [LatencyRow(b, points[b][0], points[b][1]) for b in buckets if b in points and points[b][0]]
    return LatencyChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=TOP + plot_height,
        lines=lines,
        y_ticks=_y_ticks(y_max, plot_height, " ms"),
        x_ticks=_x_ticks(buckets, slot, granularity),
        rows=rows,
        peak_ms=round(peak, 1),
    )
