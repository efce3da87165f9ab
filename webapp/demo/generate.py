"""Demo data: a small, believable community of people, businesses, posts and challenge rounds.

Every post is published as a person's would be, backdated and in the order it was written, so
challenge rounds come out exactly as the site's own rule makes them.
"""

from __future__ import annotations

import dataclasses
import random
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp.demo.seed import (
    BUSINESSES,
    CATEGORIES,
    CLOSERS,
    FOLLOW_UPS,
    GENERIC,
    OPENERS,
    RESOLUTION_NOTES,
    STAFF,
    USER_WEIGHTS,
    USERNAMES,
)
from webapp.extensions import db
from webapp.models import Business, ChallengeRound, Kind, Post, User, utcnow
from webapp.services import accounts, businesses, challenge, posts

BASE_POSTS = 196
FOLLOW_UP_POSTS = 4
PRAISE_SHARE = 0.7
SPAN = timedelta(days=150)
NEWEST = timedelta(hours=1)
ALTERNATIVES_RE = re.compile(r"\[([^\[\]]+)\]")


@dataclass
class Plan:
    """A post decided on before any business exists, so creators and dates can follow from it."""

    author: int
    business: int
    kind: Kind
    created_at: datetime


@dataclass
class Story:
    """A post decided on in full: who writes what and when, and how a complaint ends."""

    author: User
    draft: posts.Draft
    created_at: datetime
    resolved_at: datetime | None = None
    resolution_note: str | None = None
    follows_up: Story | None = None  # the complaint a thank-you follows up
    post: Post | None = None  # once published


def fill(seed: int) -> dict[str, int]:
    """Fill an empty database with a believable community; return counts."""
    rng = random.Random(seed)  # nosec B311 # repeatable demo data, no secrets
    now = utcnow()
    users = [accounts.create_user(name, secrets.token_urlsafe(16)) for name in USERNAMES]
    plans = plan_posts(rng, now)
    firms = create_businesses(rng, plans, users, now)
    date_users(rng, plans, users)
    seen: set[str] = set()
    stories = [write_story(rng, plan, users, firms, now, seen) for plan in plans]
    stories += follow_ups(rng, stories, now)
    publish_all(rng, stories, now)
    completed = db.session.scalar(
        sa.select(sa.func.count()).where(ChallengeRound.completed_at.is_not(None))
    )
    return {
        "users": len(users),
        "businesses": len(firms),
        "posts": len(stories),
        "completed": completed,
    }


def plan_posts(rng: random.Random, now: datetime) -> list[Plan]:
    """Decide who writes about which business, what kind and when."""
    praise_count = round(BASE_POSTS * PRAISE_SHARE)
    kinds = [Kind.PRAISE] * praise_count + [Kind.COMPLAINT] * (BASE_POSTS - praise_count)
    rng.shuffle(kinds)
    # Regulars keep praising the same few places, which is what makes a feed feel real.
    favourites = [rng.sample(range(len(BUSINESSES)), 3) for _ in USERNAMES]
    plans = []
    for kind in kinds:
        author = rng.choices(range(len(USERNAMES)), weights=USER_WEIGHTS)[0]
        slot = 0 if kind == Kind.PRAISE else 1
        weights = [CATEGORIES[b[2]]["weights"][slot] for b in BUSINESSES]
        if kind == Kind.PRAISE:
            for i in favourites[author]:
                weights[i] *= 3
        business = rng.choices(range(len(BUSINESSES)), weights=weights)[0]
        age = timedelta(seconds=rng.uniform(NEWEST.total_seconds(), SPAN.total_seconds()))
        plans.append(Plan(author, business, kind, now - age))
    plans.sort(key=lambda p: p.created_at)
    return plans


def create_businesses(
    rng: random.Random, plans: list[Plan], users: list[User], now: datetime
) -> list[Business]:
    """Create each business as added by whoever first wrote about it, just before that post."""
    firsts: dict[int, Plan] = {}
    for plan in plans:
        firsts.setdefault(plan.business, plan)
    firms = []
    for i, (name, domain, category, handle) in enumerate(BUSINESSES):
        first = firsts.get(i)
        business = businesses.create_business(
            name,
            website=f"https://{domain}",
            handle=f"@{handle}@{domain}" if handle else None,
            category=category,
            created_by=users[first.author] if first else rng.choice(users),
        )
        if first:
            business.created_at = first.created_at - timedelta(minutes=rng.uniform(2, 15))
        else:
            business.created_at = now - SPAN * rng.random()
        firms.append(business)
    return firms


def date_users(rng: random.Random, plans: list[Plan], users: list[User]) -> None:
    """Backdate each account to a little before its first post."""
    for i, user in enumerate(users):
        first = min((p.created_at for p in plans if p.author == i), default=None)
        if first is not None:
            user.created_at = first - timedelta(minutes=rng.uniform(20, 60 * 24 * 10))


def write_story(
    rng: random.Random,
    plan: Plan,
    users: list[User],
    firms: list[Business],
    now: datetime,
    seen: set[str],
) -> Story:
    """Turn a plan into a story with text, rating, channel and, for complaints, how it ended."""
    business = firms[plan.business]
    category = CATEGORIES[business.category]
    kind = plan.kind.value
    # A few tries are enough to keep two posts from reading exactly alike.
    for _ in range(20):
        templates = category[kind]
        if rng.random() < 0.25:
            templates = GENERIC[(category["remote"], kind)]
        channel, moment, *ask = rng.choice(templates)
        fills = {"biz": business.name, "staff": rng.choice(STAFF)}
        parts = []
        if rng.random() < 0.35:
            parts.append(rng.choice(OPENERS[kind]))
        parts.append(moment)
        if rng.random() < 0.55:
            parts.append(rng.choice(CLOSERS[kind]))
        body = render(rng, " ".join(parts), fills)
        if body not in seen:
            break
    seen.add(body)
    story = Story(
        author=users[plan.author],
        draft=posts.Draft(
            kind=plan.kind,
            business=business,
            body=body,
            rating=rating(rng, plan.kind),
            happened_on=(plan.created_at - timedelta(days=rng.randint(0, 2))).date(),
            channel=channel,
            is_on_wall=rng.random() < 0.9,
            shows_name=rng.random() < 0.85,
        ),
        created_at=plan.created_at,
    )
    if plan.kind == Kind.COMPLAINT:
        end_complaint(rng, story, ask[0], fills, now)
    return story


def end_complaint(
    rng: random.Random, story: Story, ask: str, fills: dict[str, str], now: datetime
) -> None:
    """Give a complaint its wish, and resolve about 40% of those old enough to have been."""
    if rng.random() < 0.8:
        story.draft = dataclasses.replace(story.draft, make_right=render(rng, ask, fills))
    room = min(timedelta(days=20), now - timedelta(minutes=10) - story.created_at)
    if rng.random() < 0.4 and room >= timedelta(days=1):
        seconds = rng.uniform(timedelta(days=1).total_seconds(), room.total_seconds())
        story.resolved_at = story.created_at + timedelta(seconds=seconds)
        if rng.random() < 0.6:
            story.resolution_note = rng.choice(RESOLUTION_NOTES)


def follow_ups(rng: random.Random, stories: list[Story], now: datetime) -> list[Story]:
    """Write thank-you praise after a few resolved complaints, by the same author."""
    latest = now - NEWEST
    candidates = [
        s for s in stories if s.resolved_at and s.resolved_at + timedelta(hours=2) <= latest
    ]
    extra = []
    chosen = rng.sample(candidates, min(FOLLOW_UP_POSTS, len(candidates)))
    for complaint, template in zip(chosen, rng.sample(FOLLOW_UPS, len(chosen)), strict=True):
        delay = timedelta(seconds=rng.uniform(2 * 3600, 4 * 24 * 3600))
        created_at = min(complaint.resolved_at + delay, latest)
        happened = max(
            complaint.resolved_at.date(),
            (created_at - timedelta(days=rng.randint(0, 2))).date(),
        )
        business = complaint.draft.business
        fills = {"biz": business.name, "staff": rng.choice(STAFF)}
        extra.append(
            Story(
                author=complaint.author,
                draft=posts.Draft(
                    kind=Kind.PRAISE,
                    business=business,
                    body=render(rng, template, fills),
                    rating=rng.choice([4, 5, 5, None]),
                    happened_on=happened,
                    channel=complaint.draft.channel,
                    is_on_wall=True,
                    shows_name=complaint.draft.shows_name,
                ),
                created_at=created_at,
                follows_up=complaint,
            )
        )
    return extra


def publish_all(rng: random.Random, stories: list[Story], now: datetime) -> None:
    """Publish every story in the order it was written, as its author would have.

    Some who finish a round press "start a new round" a few days later: that press is
    replayed before their next post, so the round counts what the site would count.
    """
    restarts: dict[User, datetime] = {}
    finished: set[int] = set()
    for story in sorted(stories, key=lambda s: s.created_at):
        author = story.author
        if author in restarts and restarts[author] <= story.created_at:
            challenge.start_round(author, at=restarts.pop(author))
        draft = story.draft
        if story.follows_up is not None and story.follows_up.post is not None:
            draft = dataclasses.replace(draft, fixes=story.follows_up.post.id)
        post = story.post = posts.publish(author, draft, written_at=story.created_at).post
        if story.resolved_at is not None:
            posts.resolve_complaint(post, story.resolution_note)
            post.resolved_at = story.resolved_at
        round_ = challenge.current_round(author)
        if round_ is not None and round_.completed_at is not None and round_.id not in finished:
            finished.add(round_.id)
            restart = maybe_restart(rng, round_.completed_at, now)
            if restart is not None:
                restarts[author] = restart
    for author, at in sorted(restarts.items(), key=lambda item: item[0].id):
        challenge.start_round(author, at=at)
    db.session.flush()


def maybe_restart(rng: random.Random, finished: datetime, now: datetime) -> datetime | None:
    """Decide when someone who finished a round then starts another, if they do at all."""
    # Most who finish stop there; some go again, a few only recently.
    restart = finished + timedelta(days=rng.randint(3, 40))
    if rng.random() < 0.5:
        restart = max(restart, now - timedelta(days=rng.randint(1, 12)))
    if rng.random() < 0.6 and restart < now:
        return restart
    return None


def rating(rng: random.Random, kind: Kind) -> int | None:
    """Pick a rating: mostly 4–5 for praise, 1–3 for complaints, sometimes none."""
    if rng.random() < 0.2:
        return None
    if kind == Kind.PRAISE:
        return rng.choices([5, 4, 3], weights=[60, 33, 7])[0]
    return rng.choices([1, 2, 3], weights=[35, 40, 25])[0]


def render(rng: random.Random, template: str, fills: dict[str, str]) -> str:
    """Pick one of each [a|b] alternative, then fill in {biz} and {staff}."""
    text = ALTERNATIVES_RE.sub(lambda m: rng.choice(m.group(1).split("|")), template)
    return text.format(**fills)
