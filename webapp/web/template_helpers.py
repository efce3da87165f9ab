"""Filters and globals for the templates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlencode

from flask import Flask, request
from markupsafe import Markup

from webapp.infra.fragments import Rendered
from webapp.infra.links import safe_remote_url
from webapp.models import CHALLENGE_GOAL
from webapp.networks.replies import reply_delay
from webapp.services.challenge import Progress
from webapp.services.posts import latest_today
from webapp.text import duration, xml_safe
from webapp.web import links


def init_app(app: Flask) -> None:
    """Register the filters and globals, and keep characters XML forbids out of every page."""
    app.jinja_env.finalize = printable
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["day"] = day
    app.jinja_env.filters["iso"] = iso
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["days"] = days
    app.jinja_env.filters["rating"] = rating
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["until"] = until
    app.jinja_env.filters["web_url"] = safe_remote_url
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["ring"] = ring
    app.jinja_env.globals["latest_today"] = latest_today
    app.jinja_env.globals["reply_delay"] = reply_delay
    app.jinja_env.globals["rating_stars"] = rating_stars
    # The links each post in a list repeats, built without the routing map's per-call work.
    app.jinja_env.globals["fixed_url"] = links.fixed_url
    app.jinja_env.globals["post_url"] = links.post_url
    app.jinja_env.globals["profile_url"] = links.profile_url
    app.jinja_env.globals["wall_url"] = links.wall_url


def rating_stars(rating: int | None) -> Markup:
    """Draw a 1 to 5 rating as filled and dim stars, with its words for screen readers."""
    if not rating:
        return Markup("")
    # Built by hand: Markup.format costs more than the rest of a post's header together.
    count = int(rating)
    return Markup(  # nosec B704 # only our own tags around a number and star characters
        f'<span class="stars" role="img" aria-label="Rated {count} of 5">{"★" * count}'
        f'<span class="dim">{"★" * (5 - count)}</span></span>'
    )


def printable(value: object) -> object:
    """Drop characters XML forbids from what a template prints."""
    # Rows written before such characters were refused may still hold them.
    if type(value) is Rendered:
        return value  # printed once already, value by value
    if isinstance(value, Markup):
        return Markup(xml_safe(str(value)))  # nosec B704 # already-escaped markup, characters only dropped
    return xml_safe(value) if isinstance(value, str) else value


def ago(when: datetime | None) -> str:
    """Say how long ago something was, roughly."""
    if when is None:
        return ""
    seconds = (datetime.now(UTC) - when).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            if unit == "day" and n > 30:
                return day(when)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def iso(when: datetime) -> str:
    """Write a moment for machines, as <time datetime> takes it: UTC to the second, with Z."""
    # HTML allows at most three digits of a second; Python writes six.
    utc = when.astimezone(UTC) if when.tzinfo else when
    return f"{utc:%Y-%m-%dT%H:%M:%S}Z"


def day(when: date | datetime | None) -> str:
    """Format a date like "3 Nov 2026"."""
    if when is None:
        return ""
    return f"{when.day} {when:%b %Y}"


def percent(share: float | None) -> str:
    """Format a share as a whole percentage, or a dash when unknown."""
    return "–" if share is None else f"{round(share * 100)}%"


def rating(average: float | None) -> str:
    """Format an average rating to one decimal, or a dash when there is none."""
    return "–" if average is None else f"{average:.1f}"


def days(value: float | None) -> str:
    """Format a number of days for people."""
    if value is None:
        return "–"
    if value < 1:
        hours = round(value * 24)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    rounded = round(value, 1)
    text = f"{rounded:g}"
    return f"{text} day{'s' if rounded != 1 else ''}"


def until(when: datetime | None) -> str:
    """Say how soon something will happen, like "in 4 min"."""
    if when is None:
        return "soon"
    span = when - datetime.now(UTC)
    return "in a moment" if span.total_seconds() < 60 else f"in {duration(span)}"


def page_url(cursor: str) -> str:
    """Link to the next page of the current list, keeping the other query arguments."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
    return f"{request.path}?{urlencode([*args, ('cursor', cursor)])}"


def ring(progress: Progress | None, size: int = 120) -> dict:
    """Work out the arcs of the progress ring for a round."""
    radius = size / 2 - 10
    circumference = 2 * 3.14159265 * radius
    fraction = progress.fraction if progress else 0
    return {
        "count": progress.count if progress else 0,
        "goal": progress.round.goal if progress else CHALLENGE_GOAL,
        "size": size,
        "center": size / 2,
        "radius": radius,
        "circumference": round(circumference, 2),
        "filled": round(circumference * fraction, 2),
    }
