"""Geometry of the portal's requests-over-time chart, drawn by the template as inline SVG (no script needed).

Only numbers and labels are computed here; colours are CSS classes (the CSP forbids inline styles), and the
SVG uses presentation attributes (x, y, width, height), which the CSP allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

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


@dataclass
class Bar:
    """One bucket: its stacked segments and a label for screen readers and tooltips."""

    time: datetime
    x: float
    width: float
    total: int
    label: str
    segments: list[Segment] = field(default_factory=list)


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
