"""A business's last twelve weeks: praise and complaints per ISO week, and the chart of them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Business, BusinessWeek, utcnow

WEEKS = 12


@dataclass
class Week:
    """One ISO week (Monday to Sunday, UTC) and what was posted in it."""

    start: date
    praise: int = 0
    complaints: int = 0

    @property
    def iso(self) -> str:
        """Return the week as ISO 8601 writes it, like "2026-W09"."""
        year, week, _ = self.start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def label(self) -> str:
        """Return the week's Monday for people, like "2 Mar"."""
        return f"{self.start.day} {self.start:%b}"


def monday_of(day: date) -> date:
    """Return the Monday that starts the ISO week a day falls in: how weeks are kept and shown."""
    return day - timedelta(days=day.weekday())


def week_starts(today: date, weeks: int = WEEKS) -> list[date]:
    """Return the Mondays of the last `weeks` weeks, oldest first, today's week last."""
    monday = monday_of(today)
    return [monday - timedelta(weeks=weeks - 1 - n) for n in range(weeks)]


def weekly_counts(business: Business, today: date | None = None) -> list[Week]:
    """Read a business's public praise and complaints in each of the last twelve weeks.

    Twelve rows at most, kept up to date by webapp/services/stats.py; quiet weeks are zeros.
    """
    weeks = [Week(start) for start in week_starts(today or utcnow().date())]
    by_start = {week.start: week for week in weeks}
    rows = db.session.execute(
        sa.select(BusinessWeek.week, BusinessWeek.praise, BusinessWeek.complaints).where(
            BusinessWeek.business_id == business.id,
            BusinessWeek.week >= weeks[0].start,
            BusinessWeek.week <= weeks[-1].start,
        )
    )
    for start, praise, complaints in rows:
        by_start[start].praise, by_start[start].complaints = praise, complaints
    return weeks


@dataclass
class Chart:
    """Where everything goes in the trend's SVG: praise as bars, complaints as a line of dots."""

    weeks: list[Week]
    width: int
    height: int
    top: int
    bars: list[dict] = field(default_factory=list)
    points: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)

    @property
    def line(self) -> str:
        """Return the complaint line's points for a <polyline>."""
        return " ".join(f"{p['x']},{p['y']}" for p in self.points)

    @property
    def praise(self) -> int:
        """Return all the praise in the chart."""
        return sum(week.praise for week in self.weeks)

    @property
    def complaints(self) -> int:
        """Return all the complaints in the chart."""
        return sum(week.complaints for week in self.weeks)


def chart(weeks: list[Week], width: int = 320, height: int = 140) -> Chart:
    """Lay the weeks out in a chart that fits a 360 px wide phone."""
    left, right, top_pad, bottom = 26, 14, 8, 22
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    highest = max([1, *(w.praise for w in weeks), *(w.complaints for w in weeks)])
    top = nice_ceiling(highest)
    slot = plot_w / len(weeks)
    base = top_pad + plot_h

    def y(value: int) -> float:
        """Return the height on the chart for a count."""
        return round(base - plot_h * value / top, 1)

    result = Chart(weeks=weeks, width=width, height=height, top=top)
    for n, week in enumerate(weeks):
        center = left + slot * (n + 0.5)
        bar_w = slot * 0.6
        result.bars.append(
            {
                "x": round(center - bar_w / 2, 1),
                "y": y(week.praise),
                "width": round(bar_w, 1),
                "height": round(base - y(week.praise), 1),
            }
        )
        result.points.append({"x": round(center, 1), "y": y(week.complaints)})
        # Every third week is labelled, ending with this week, so labels never collide.
        if (len(weeks) - 1 - n) % 3 == 0:
            result.labels.append({"x": round(center, 1), "y": height - 6, "text": week.label})
    for value in sorted({0, top // 2, top}):
        result.ticks.append({"y": y(value), "text": axis_label(value)})
    for tick in result.ticks:
        tick["x1"], tick["x2"] = left, width - right
    return result


def axis_label(value: int) -> str:
    """Write a count short enough for the chart's left margin: 950, 2.5k, 10k, 1.2M."""
    if value < 1000:
        return str(value)
    if value < 1_000_000:
        return f"{value / 1000:g}k"
    return f"{value / 1_000_000:g}M"


def nice_ceiling(value: int) -> int:
    """Round a count up to an even number easy to read off an axis (1, 2, 4, 6, 10, 20, ...)."""
    if value <= 2:
        return value
    if value <= 10:
        return value + value % 2
    magnitude = 10 ** int(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value
