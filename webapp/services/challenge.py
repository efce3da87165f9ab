"""The three-praise challenge: rounds and progress counted from posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.extensions import db
from webapp.models import (
    VISIBLE_MODERATION,
    ChallengeRound,
    Crosspost,
    CrosspostState,
    Kind,
    Post,
    User,
    Visibility,
    utcnow,
)


@dataclass
class Progress:
    """Where a round stands: the posts that counted and the goal."""

    round: ChallengeRound
    posts: list[Post]
    # Counted only from posts that carry the person's name, as anyone may see the round.
    public: bool = False

    @property
    def count(self) -> int:
        """Return how many posts counted, at most the goal; a finished round stays finished."""
        if self.is_complete:
            return self.round.goal
        return min(len(self.posts), self.round.goal)

    @property
    def is_complete(self) -> bool:
        """Tell whether the round reached its goal."""
        if self.public:
            return len(self.posts) >= self.round.goal
        return self.round.completed_at is not None

    @property
    def remaining(self) -> int:
        """Return how many more posts the round needs."""
        return self.round.goal - self.count

    @property
    def fraction(self) -> float:
        """Return progress as a share of the goal, for the ring."""
        return self.count / self.round.goal


def counted(user_id, started_at) -> list[sa.ColumnElement[bool]]:
    """Return what a praise meets to count for a person's round begun then (values or columns)."""
    sent_publicly = Post.crossposts.any(
        sa.and_(Crosspost.state == CrosspostState.SENT, Crosspost.visibility == Visibility.PUBLIC)
    )
    return [
        Post.author_id == user_id,
        Post.kind == Kind.PRAISE,
        sa.or_(Post.is_on_wall.is_(True), sent_publicly),
        Post.moderation.in_(VISIBLE_MODERATION),
        Post.created_at >= started_at,
    ]


def counting_posts(round_: ChallengeRound) -> sa.Select:
    """Select the praise that counts for a round: public here or on Mastodon, since it began."""
    stmt = (
        sa.select(Post)
        .options(so.joinedload(Post.business))
        .where(*counted(round_.user_id, round_.started_at))
    )
    if round_.completed_at is not None:
        stmt = stmt.where(Post.created_at <= round_.completed_at)
    return stmt.order_by(Post.created_at, Post.id)


def counts(post: Post) -> bool:
    """Tell whether a praise counts: public on the wall, or sent publicly to Mastodon."""
    if post.kind != Kind.PRAISE or post.moderation not in VISIBLE_MODERATION:
        return False
    return post.is_on_wall or any(crosspost.is_public for crosspost in post.crossposts)


def current_round(user: User) -> ChallengeRound | None:
    """Return the user's latest round, finished or not."""
    return db.session.scalars(
        sa.select(ChallengeRound)
        .where(ChallengeRound.user_id == user.id)
        .order_by(ChallengeRound.started_at.desc(), ChallengeRound.id.desc())
        .limit(1)
    ).first()


def latest_progress(user: User) -> Progress | None:
    """Return the progress of the user's latest round, or None before their first."""
    round_ = current_round(user)
    return progress(round_) if round_ else None


def progress(round_: ChallengeRound) -> Progress:
    """Count the round's progress from the user's posts."""
    posts = list(db.session.scalars(counting_posts(round_).limit(round_.goal)))
    return Progress(round_, posts)


def public_progress(user: User) -> Progress | None:
    """Return the latest round's progress as anyone may see it, or None before the first round.

    Only posts that carry the person's name count here: an anonymous praise must not move their
    public card the moment it appears on the wall.
    """
    round_ = current_round(user)
    if round_ is None:
        return None
    named = counting_posts(round_).where(Post.shows_name.is_(True)).limit(round_.goal)
    return Progress(round_, list(db.session.scalars(named)), public=True)


def start_round(user: User, at: datetime | None = None) -> ChallengeRound:
    """Start a new round now (or at a past moment, for history), unless one is under way."""
    latest = current_round(user)
    if latest is not None and latest.completed_at is None:
        return latest
    round_ = ChallengeRound(user_id=user.id, started_at=at or utcnow())
    db.session.add(round_)
    db.session.flush()
    return round_


def record_praise(post: Post) -> Progress | None:
    """Let a public praise start its author's first round or advance the current one.

    Only the first round starts by itself; later rounds start with "start a new round".
    """
    if not counts(post):
        return None
    latest = current_round(post.author)
    if latest is None:
        latest = ChallengeRound(user_id=post.author_id, started_at=post.created_at)
        db.session.add(latest)
        db.session.flush()
    elif latest.completed_at is not None:
        return None
    return check_completion(latest)


def check_completion(round_: ChallengeRound) -> Progress:
    """Mark the round complete when its posts reach the goal, and return its progress."""
    result = progress(round_)
    if round_.completed_at is None and len(result.posts) >= round_.goal:
        round_.completed_at = result.posts[round_.goal - 1].created_at
    return result


def i_did_it(progress: Progress, link: str) -> str:
    """Draft the "I did it" status for a finished round."""
    names = [post.business.name for post in progress.posts]
    praised = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
    return (
        "I did the three-praise challenge: the next three times a business impressed me, "
        f"I said so in public. Thank you, {praised}! #ThreePraiseChallenge\n{link}"
    )


def completed_rounds(user: User) -> int:
    """Count the person's finished rounds anyone may see: those their named praise finished.

    A round an anonymous praise helped finish stays private, or its finishing would name the
    author of that praise.
    """
    named_posts = (
        sa.select(sa.func.count(Post.id))
        .where(
            *counted(ChallengeRound.user_id, ChallengeRound.started_at),
            Post.created_at <= ChallengeRound.completed_at,
            Post.shows_name.is_(True),
        )
        .correlate(ChallengeRound)
        .scalar_subquery()
    )
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ChallengeRound)
        .where(
            ChallengeRound.user_id == user.id,
            ChallengeRound.completed_at.is_not(None),
            named_posts >= ChallengeRound.goal,
        )
    )


def community_totals() -> dict[str, int]:
    """Count everyone who has taken part and every finished round."""
    participants, completed = db.session.execute(
        sa.select(
            sa.func.count(sa.distinct(ChallengeRound.user_id)),
            sa.func.count(ChallengeRound.completed_at),
        )
    ).one()
    return {"participants": participants, "completed": completed}
