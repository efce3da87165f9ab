"""A business's numbers: praise, complaints, how many got resolved and how fast, ratings.

The counts live on the business row and are kept up to date whenever posts or crossposts
change, by the session hooks at the end of this module: every flush counts what the posts it
touches contributed before and after, and adds the difference. So a wall with a hundred
thousand posts costs no more to show than one with ten. The medians come from a bounded
sample, the latest MEDIAN_SAMPLE resolved complaints and replies, read through an index.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.extensions import db
from webapp.models import (
    VISIBLE_MODERATION,
    Business,
    ComplaintStatus,
    Crosspost,
    Kind,
    Post,
    User,
)

MEDIAN_SAMPLE = 500  # the medians are of the latest this many resolved complaints and replies
COUNTERS = (
    "praise_count",
    "complaint_count",
    "resolved_count",
    "rating_sum",
    "rating_count",
    "mentioned_count",
    "replied_count",
)
CHUNK = 500  # post ids per IN (...) list


@dataclass
class BusinessNumbers:
    """The headline figures on a business's wall."""

    praise: int
    complaints: int
    resolved: int
    median_days_to_resolve: float | None
    average_rating: float | None
    mentioned: int = 0  # statuses sent that mentioned the business's resolved handle
    replied: int = 0
    median_reply: timedelta | None = None
    sample: int = MEDIAN_SAMPLE

    @property
    def reply_rate(self) -> float | None:
        """Return the share of mentioning statuses the business replied to."""
        return self.replied / self.mentioned if self.mentioned else None

    @property
    def resolved_share(self) -> float | None:
        """Return the share of complaints resolved, or None with no complaints."""
        return self.resolved / self.complaints if self.complaints else None

    @property
    def resolve_median_sampled(self) -> bool:
        """Tell whether the median time to resolve is of the latest `sample` only."""
        return self.resolved > self.sample

    @property
    def reply_median_sampled(self) -> bool:
        """Tell whether the median reply time is of the latest `sample` replies only."""
        return self.replied > self.sample


def is_public() -> sa.ColumnElement[bool]:
    """Return the condition for a post anyone may see."""
    return sa.and_(Post.is_on_wall.is_(True), Post.moderation.in_(VISIBLE_MODERATION))


def business_numbers(business: Business) -> BusinessNumbers:
    """Read a business's numbers: counts from its row, medians from a bounded sample."""
    resolved = (
        sa.select(sa.literal_column("0").label("what"), Post.created_at, Post.resolved_at)
        .where(
            Post.business_id == business.id,
            Post.resolved_at.is_not(None),
            Post.kind == Kind.COMPLAINT,
            Post.complaint_status == ComplaintStatus.RESOLVED,
            is_public(),
        )
        .order_by(Post.resolved_at.desc())
        .limit(MEDIAN_SAMPLE)
        .subquery()
    )
    replies = (
        sa.select(sa.literal_column("1").label("what"), Crosspost.sent_at, Crosspost.replied_at)
        .join(Post, Crosspost.post_id == Post.id)
        .where(
            Crosspost.business_id == business.id,
            Crosspost.replied_at.is_not(None),
            Crosspost.sent_at.is_not(None),
            Crosspost.mention_resolved.is_(True),
            Post.business_id == business.id,
            is_public(),
        )
        .order_by(Crosspost.replied_at.desc())
        .limit(MEDIAN_SAMPLE)
        .subquery()
    )
    days, delays = [], []
    # Both samples come back in one round trip, told apart by `what`.
    for what, start, end in db.session.execute(
        sa.union_all(sa.select(resolved), sa.select(replies))
    ):
        if what == 0:
            days.append((end - start).total_seconds() / 86400)
        else:
            delays.append(end - start)
    return BusinessNumbers(
        praise=business.praise_count,
        complaints=business.complaint_count,
        resolved=business.resolved_count,
        median_days_to_resolve=statistics.median(days) if days else None,
        average_rating=(
            business.rating_sum / business.rating_count if business.rating_count else None
        ),
        mentioned=business.mentioned_count,
        replied=business.replied_count,
        median_reply=statistics.median(delays) if delays else None,
        sample=MEDIAN_SAMPLE,
    )


def tally(connection: sa.Connection, post_ids: Iterable[int] | None = None) -> dict[int, list[int]]:
    """Count what posts contribute to their businesses' counters, by business id.

    :param post_ids: the posts to count; None counts every post.
    """
    ids = sorted(set(post_ids)) if post_ids is not None else None
    found: dict[int, list[int]] = {}
    chunks = [ids[n : n + CHUNK] for n in range(0, len(ids), CHUNK)] if ids is not None else [None]
    is_complaint = Post.kind == Kind.COMPLAINT
    for chunk in chunks:
        wanted = Post.id.in_(chunk) if chunk is not None else sa.true()
        posts = (
            sa.select(
                Post.business_id,
                sa.func.count().filter(Post.kind == Kind.PRAISE),
                sa.func.count().filter(is_complaint),
                sa.func.count().filter(
                    is_complaint, Post.complaint_status == ComplaintStatus.RESOLVED
                ),
                sa.func.coalesce(sa.func.sum(Post.rating), 0),
                sa.func.count(Post.rating),
            )
            .where(wanted, is_public())
            .group_by(Post.business_id)
        )
        for business_id, *numbers in connection.execute(posts):
            counts = found.setdefault(business_id, [0] * len(COUNTERS))
            for n, value in enumerate(numbers):
                counts[n] += int(value)
        statuses = (
            sa.select(Post.business_id, sa.func.count(), sa.func.count(Crosspost.replied_at))
            .select_from(Crosspost)
            .join(Post, Crosspost.post_id == Post.id)
            .where(
                wanted,
                is_public(),
                Crosspost.sent_at.is_not(None),
                Crosspost.mention_resolved.is_(True),
            )
            .group_by(Post.business_id)
        )
        for business_id, mentioned, replied in connection.execute(statuses):
            counts = found.setdefault(business_id, [0] * len(COUNTERS))
            counts[5] += mentioned
            counts[6] += replied
    return found


def apply_change(
    connection: sa.Connection, before: dict[int, list[int]], after: dict[int, list[int]]
) -> set[int]:
    """Add the difference between two tallies to the businesses' counters; return those changed."""
    changed = set()
    business = Business.__table__
    for business_id in set(before) | set(after):
        old = before.get(business_id, [0] * len(COUNTERS))
        new = after.get(business_id, [0] * len(COUNTERS))
        delta = {
            name: business.c[name] + (b - a)
            for name, a, b in zip(COUNTERS, old, new, strict=True)
            if a != b
        }
        if delta:
            connection.execute(
                business.update().where(business.c.id == business_id).values(**delta)
            )
            changed.add(business_id)
    return changed


def rebuild_counters(connection: sa.Connection) -> None:
    """Recount every business's counters and every crosspost's business from scratch."""
    crosspost = Crosspost.__table__
    connection.execute(
        crosspost.update().values(
            business_id=sa.select(Post.business_id)
            .where(Post.id == crosspost.c.post_id)
            .scalar_subquery()
        )
    )
    business = Business.__table__
    connection.execute(business.update().values(**dict.fromkeys(COUNTERS, 0)))
    rows = [
        {"b_id": business_id, **dict(zip(COUNTERS, counts, strict=True))}
        for business_id, counts in tally(connection).items()
    ]
    if rows:
        connection.execute(
            business.update()
            .where(business.c.id == sa.bindparam("b_id"))
            .values(**{name: sa.bindparam(name) for name in COUNTERS}),
            rows,
        )


# Keeping the counters: every flush that touches posts or crossposts, and every bulk UPDATE or
# DELETE of them, counts the touched posts' contributions before and after and applies the
# difference, in the same transaction.

PENDING = "stats.pending"
EXPIRE = "stats.expire"


def touched_posts(session: so.Session) -> tuple[set[int], list[object]]:
    """Find the stored posts a flush may change the counts of, and the new rows to add after."""
    ids: set[int] = set()
    new = [obj for obj in session.new if isinstance(obj, Post | Crosspost)]
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Post):
            ids.add(obj.id)
        elif isinstance(obj, Crosspost):
            history = so.attributes.get_history(obj, "post_id")
            ids.update(i for i in (*history.unchanged, *history.deleted, *history.added) if i)
        elif isinstance(obj, User) and obj in session.deleted:
            # Their posts go by ON DELETE CASCADE, which no flush sees.
            ids.update(
                session.connection().scalars(sa.select(Post.id).where(Post.author_id == obj.id))
            )
    ids.discard(None)
    return ids, new


@sa.event.listens_for(so.Session, "before_flush")
def _count_before(session: so.Session, flush_context, instances) -> None:
    """Note what the touched posts counted before this flush."""
    ids, new = touched_posts(session)
    if not ids and not new:
        return
    before = tally(session.connection(), ids) if ids else {}
    session.info[PENDING] = (ids, new, before)


@sa.event.listens_for(so.Session, "after_flush")
def _count_after(session: so.Session, flush_context) -> None:
    """Apply what the touched posts count now, and keep crossposts' business in step."""
    pending = session.info.pop(PENDING, None)
    if pending is None:
        return
    ids, new, before = pending
    for obj in new:
        ids.add(obj.id if isinstance(obj, Post) else obj.post_id)
    ids.discard(None)
    connection = session.connection()
    changed = apply_change(connection, before, tally(connection, ids))
    crosspost = Crosspost.__table__
    for n in range(0, len(ids), CHUNK):
        chunk = sorted(ids)[n : n + CHUNK]
        connection.execute(
            crosspost.update()
            .where(crosspost.c.post_id.in_(chunk))
            .values(
                business_id=sa.select(Post.business_id)
                .where(Post.id == crosspost.c.post_id)
                .scalar_subquery()
            )
        )
    session.info.setdefault(EXPIRE, set()).update(changed)


@sa.event.listens_for(so.Session, "after_flush_postexec")
def _expire_counters(session: so.Session, flush_context) -> None:
    """Make loaded businesses read their new counts from the database."""
    expire_loaded(session, session.info.pop(EXPIRE, set()))


def expire_loaded(session: so.Session, business_ids: Iterable[int]) -> None:
    """Expire the counters of these businesses where the session holds them."""
    for business_id in business_ids:
        loaded = session.identity_map.get(so.util.identity_key(Business, business_id))
        if loaded is not None:
            session.expire(loaded, list(COUNTERS))


@sa.event.listens_for(so.Session, "do_orm_execute")
def _count_bulk(state: so.ORMExecuteState):
    """Count around a bulk UPDATE or DELETE of posts or crossposts."""
    if not (state.is_update or state.is_delete):
        return None
    entity = state.bind_mapper.class_ if state.bind_mapper is not None else None
    if entity is Post:
        column = Post.id
    elif entity is Crosspost:
        column = Crosspost.post_id
    else:
        return None
    query = sa.select(column)
    if state.statement.whereclause is not None:
        query = query.where(state.statement.whereclause)
    connection = state.session.connection()
    ids = {i for i in connection.scalars(query) if i is not None}
    before = tally(connection, ids)
    result = state.invoke_statement()
    changed = apply_change(connection, before, tally(connection, ids))
    expire_loaded(state.session, changed)
    return result
