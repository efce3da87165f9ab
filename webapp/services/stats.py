"""A business's numbers: praise, complaints, how many got resolved and how fast, ratings.

The counts live on the business row, the praise and complaints of each week in business_week,
and the replies on each network in business_network; all are kept up to date whenever posts or
crossposts change, by the session hooks at the end of this module: every flush counts what the
posts it touches contributed before and after, and adds the difference. The medians, of the
latest MEDIAN_SAMPLE resolved complaints and replies, are worked out again when a flush adds or
removes a resolution or a reply, and kept on the row too. So a wall with a million posts costs
no more to show than one with ten.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import cast

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from webapp.models import (
    NETWORK_LABELS,
    VISIBLE_MODERATION,
    Business,
    BusinessNetwork,
    BusinessReply,
    BusinessWeek,
    ComplaintStatus,
    Crosspost,
    Kind,
    Post,
    User,
    as_utc,
)
from webapp.services import trend

MEDIAN_SAMPLE = 500  # the medians are of the latest this many resolved complaints and replies
COUNTERS = (
    "praise_count",
    "complaint_count",
    "resolved_count",
    "rating_sum",
    "rating_count",
    "mentioned_count",
    "replied_count",
    "askable_count",
    "answered_count",
    "wall_replied_count",
)
MEDIANS = ("median_resolve_days", "median_reply_seconds")
RESOLVED, ANSWERED = COUNTERS.index("resolved_count"), COUNTERS.index("answered_count")
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
    replied: int = 0  # of those, the ones it replied to on the network
    median_reply: timedelta | None = None
    sample: int = MEDIAN_SAMPLE
    # Posts the business was asked to answer (a status naming it) or answered on its wall,
    # the ones it answered either way, and those answered on its wall.
    askable: int = 0
    answered: int = 0
    wall_replied: int = 0
    # Of `replied`, how many on each network, by the network's name, in a stable order.
    replied_on: dict[str, int] = field(default_factory=dict)

    @property
    def reply_rate(self) -> float | None:
        """Return the share of posts the business answered, on its wall or on a network."""
        return self.answered / self.askable if self.askable else None

    @property
    def answers_by_source(self) -> list[tuple[str, int]]:
        """Return how many answers came from each source, those with none left out."""
        on_networks = self.replied_on or {"mastodon": self.replied}
        sources = [("on the wall", self.wall_replied)]
        sources += [
            (f"on {NETWORK_LABELS.get(name, name)}", count) for name, count in on_networks.items()
        ]
        return [(source, count) for source, count in sources if count]

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
        """Tell whether the median reply time is of the latest `sample` answers only."""
        return self.answered > self.sample


def is_public() -> sa.ColumnElement[bool]:
    """Return the condition for a post anyone may see."""
    return sa.and_(Post.is_on_wall.is_(True), Post.moderation.in_(VISIBLE_MODERATION))


def replies_by_network(business: Business) -> dict[str, int]:
    """Read the business's replies to public statuses naming it, by network, as `replied`
    counts them: a row per network, kept with the counters."""
    session = so.object_session(business)
    if session is None:
        return {}
    rows = session.execute(
        sa.select(BusinessNetwork.network, BusinessNetwork.replied)
        .where(BusinessNetwork.business_id == business.id, BusinessNetwork.replied > 0)
        .order_by(BusinessNetwork.network)
    )
    return {name: count for name, count in rows}


def business_numbers(business: Business, by_network: bool = True) -> BusinessNumbers:
    """Read a business's numbers, kept on its row; replies by network need one small query."""
    reply = business.median_reply_seconds
    return BusinessNumbers(
        praise=business.praise_count,
        complaints=business.complaint_count,
        resolved=business.resolved_count,
        median_days_to_resolve=business.median_resolve_days,
        average_rating=(
            business.rating_sum / business.rating_count if business.rating_count else None
        ),
        mentioned=business.mentioned_count,
        replied=business.replied_count,
        median_reply=timedelta(seconds=reply) if reply is not None else None,
        sample=MEDIAN_SAMPLE,
        askable=business.askable_count,
        answered=business.answered_count,
        wall_replied=business.wall_replied_count,
        replied_on=replies_by_network(business) if by_network and business.replied_count else {},
    )


def resolution_spans() -> tuple[sa.Select, so.InstrumentedAttribute]:
    """Select (business_id, start, end) of public resolved complaints; return it and its end."""
    stmt = sa.select(
        Post.business_id.label("business_id"),
        Post.created_at.label("start"),
        Post.resolved_at.label("end"),
    ).where(
        Post.resolved_at.is_not(None),
        Post.kind == Kind.COMPLAINT,
        Post.complaint_status == ComplaintStatus.RESOLVED,
        is_public(),
    )
    return stmt, Post.resolved_at


def reply_spans(business_id: int | None = None) -> tuple[sa.Select, sa.ColumnElement]:
    """Select (business_id, start, end) of each public post's first answer; return it and its end.

    An answer is a reply to a status naming the business (from when it was sent), or the
    business's answer on its wall (from when the post was written): the earlier one counts.

    :param business_id: one business's answers only, read through its indexes; None: all.
    """
    network = (
        sa.select(
            Post.id.label("post_id"),
            Post.business_id.label("business_id"),
            Crosspost.sent_at.label("start"),
            Crosspost.replied_at.label("end"),
        )
        .join(Post, Crosspost.post_id == Post.id)
        .where(
            Crosspost.replied_at.is_not(None),
            Crosspost.sent_at.is_not(None),
            Crosspost.mention_resolved.is_(True),
            is_public(),
        )
    )
    wall = (
        sa.select(
            Post.id.label("post_id"),
            Post.business_id.label("business_id"),
            Post.created_at.label("start"),
            BusinessReply.created_at.label("end"),
        )
        .join(Post, BusinessReply.post_id == Post.id)
        .where(BusinessReply.moderation.in_(VISIBLE_MODERATION), is_public())
    )
    if business_id is not None:
        network = network.where(
            Crosspost.business_id == business_id, Post.business_id == business_id
        )
        wall = wall.where(BusinessReply.business_id == business_id)
    answers = sa.union_all(network, wall).subquery()
    first = sa.select(
        answers,
        sa.func.row_number()
        .over(partition_by=answers.c.post_id, order_by=answers.c.end)
        .label("nth"),
    ).subquery()
    stmt = sa.select(first.c.business_id, first.c.start, first.c.end).where(first.c.nth == 1)
    return stmt, first.c.end


Samples = dict[int, tuple[list[float], list[float]]]  # business id -> (resolutions, replies)


def latest_samples(connection: sa.Connection, business_ids: list[int]) -> Samples:
    """Read these businesses' latest MEDIAN_SAMPLE spans, newest first, through their indexes."""
    found: Samples = {}
    for business_id in business_ids:
        (resolved, resolved_end), (replies, replied_end) = (
            resolution_spans(),
            reply_spans(business_id),
        )
        resolved = resolved.where(Post.business_id == business_id).order_by(resolved_end.desc())
        replies = replies.order_by(replied_end.desc())
        days, delays = (
            [spans_seconds(row) for row in connection.execute(stmt.limit(MEDIAN_SAMPLE))]
            for stmt in (resolved, replies)
        )
        found[business_id] = (days, delays)
    return found


def every_sample(connection: sa.Connection) -> Samples:
    """Read every business's latest MEDIAN_SAMPLE spans in two passes, for a recount."""
    found: Samples = {}
    for what, (stmt, end) in enumerate((resolution_spans(), reply_spans())):
        business_id = stmt.selected_columns.business_id
        numbered = stmt.add_columns(
            sa.func.row_number().over(partition_by=business_id, order_by=end.desc()).label("n")
        ).subquery()
        rows = connection.execute(
            sa.select(numbered.c.business_id, numbered.c.start, numbered.c.end).where(
                numbered.c.n <= MEDIAN_SAMPLE
            )
        )
        for row in rows:
            found.setdefault(row.business_id, ([], []))[what].append(spans_seconds(row))
    return found


def spans_seconds(row: sa.Row) -> float:
    """Return how long a span took, in seconds."""
    return (as_utc(row.end) - as_utc(row.start)).total_seconds()


def refresh_medians(connection: sa.Connection, business_ids: Iterable[int] | None = None) -> None:
    """Work out the medians again, from the latest MEDIAN_SAMPLE of each, for these businesses.

    :param business_ids: the businesses to refresh; None refreshes every one.
    """
    business = Business.__table__
    if business_ids is None:
        connection.execute(
            business.update().values(median_resolve_days=None, median_reply_seconds=None)
        )
        samples = every_sample(connection)
    else:
        samples = latest_samples(connection, sorted(set(business_ids)))
    updates = [
        {
            "b_id": business_id,
            "median_resolve_days": statistics.median(days) / 86400 if days else None,
            "median_reply_seconds": statistics.median(delays) if delays else None,
        }
        for business_id, (days, delays) in sorted(samples.items())
    ]
    if updates:
        connection.execute(
            business.update()
            .where(business.c.id == sa.bindparam("b_id"))
            .values(
                median_resolve_days=sa.bindparam("median_resolve_days"),
                median_reply_seconds=sa.bindparam("median_reply_seconds"),
            ),
            updates,
        )


def id_chunks(post_ids: Iterable[int] | None) -> list[sa.ColumnElement[bool]]:
    """Return conditions that pick these posts a CHUNK at a time; None picks every post."""
    if post_ids is None:
        return [sa.true()]
    ids = sorted(set(post_ids))
    return [Post.id.in_(ids[n : n + CHUNK]) for n in range(0, len(ids), CHUNK)]


def tally_weeks(
    connection: sa.Connection, post_ids: Iterable[int] | None = None
) -> dict[tuple[int, date], list[int]]:
    """Count posts' public praise and complaints by (business id, week): [praise, complaints]."""
    found: dict[tuple[int, date], list[int]] = {}
    for wanted in id_chunks(post_ids):
        rows = connection.execute(
            sa.select(Post.business_id, Post.kind, Post.created_at).where(wanted, is_public())
        )
        for business_id, kind, created in rows:
            week = trend.monday_of(as_utc(created).date())  # weeks run in UTC
            counts = found.setdefault((business_id, week), [0, 0])
            counts[0 if kind == Kind.PRAISE else 1] += 1
    return found


def apply_week_change(
    connection: sa.Connection,
    before: dict[tuple[int, date], list[int]],
    after: dict[tuple[int, date], list[int]],
) -> None:
    """Add the difference between two weekly tallies to the businesses' weeks."""
    rows = []
    for business_id, week in sorted(set(before) | set(after)):
        old = before.get((business_id, week), [0, 0])
        new = after.get((business_id, week), [0, 0])
        if old != new:
            rows.append(
                {
                    "business_id": business_id,
                    "week": week,
                    "praise": new[0] - old[0],
                    "complaints": new[1] - old[1],
                }
            )
    if rows:
        connection.execute(
            adding_upsert(
                BusinessWeek.__table__,
                ("business_id", "week"),
                ("praise", "complaints"),
                connection.dialect.name,
            ),
            rows,
        )


def apply_network_change(
    connection: sa.Connection,
    before: dict[tuple[int, str], int],
    after: dict[tuple[int, str], int],
) -> None:
    """Add the difference between two tallies of replies by network to the businesses' rows."""
    rows = [
        {"business_id": business_id, "network": network, "replied": change}
        for business_id, network in sorted(set(before) | set(after))
        if (change := after.get((business_id, network), 0) - before.get((business_id, network), 0))
    ]
    if rows:
        connection.execute(
            adding_upsert(
                BusinessNetwork.__table__,
                ("business_id", "network"),
                ("replied",),
                connection.dialect.name,
            ),
            rows,
        )


@functools.cache
def adding_upsert(
    table: sa.Table, keys: tuple[str, ...], counted: tuple[str, ...], dialect: str
) -> sa.Insert:
    """Return the INSERT of counts that adds them to the row with the same keys if there is one.

    Built once per table: making the statement (its `excluded` alias) costs more than running it.
    """
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key] for key in keys],
        set_={name: table.c[name] + stmt.excluded[name] for name in counted},
    )


def apply_all_changes(connection: sa.Connection, before: Tallies, after: Tallies) -> set[int]:
    """Apply counters, weeks, replies by network and medians between two tallies; return the
    businesses changed."""
    changed = apply_change(connection, before.counters, after.counters)
    apply_week_change(connection, before.weeks, after.weeks)
    apply_network_change(connection, before.networks, after.networks)
    touched = medians_touched(before.counters, after.counters)
    refresh_medians(connection, touched)
    return changed | touched


def medians_touched(before: dict[int, list[int]], after: dict[int, list[int]]) -> set[int]:
    """Return the businesses that gained or lost a resolution or a reply in these tallies.

    An edit that leaves both alone (a reworded resolved complaint, a report) costs nothing.
    Each of these businesses had a counter changed, so on PostgreSQL this transaction already
    holds its row lock when the medians are read: two writers can't leave a stale median.
    """
    zero = [0] * len(COUNTERS)
    return {
        business_id
        for business_id in set(before) | set(after)
        if any(
            before.get(business_id, zero)[n] != after.get(business_id, zero)[n]
            for n in (RESOLVED, ANSWERED)
        )
    }


@dataclass
class Tallies:
    """What some posts contribute: to their businesses' counters, weeks and replies by network."""

    counters: dict[int, list[int]]
    weeks: dict[tuple[int, date], list[int]]
    networks: dict[tuple[int, str], int] = field(default_factory=dict)


def tally_all(connection: sa.Connection, post_ids: Iterable[int] | None) -> Tallies:
    """Count what these posts contribute to counters and weeks.

    Every post at once is counted by the database, grouped; a few (a flush's) are read one row
    each in a single query and counted here, as `tally` and `tally_weeks` would count them.
    """
    if post_ids is None:
        return Tallies(tally(connection), tally_weeks(connection), tally_networks(connection))
    found = Tallies({}, {})
    for wanted in id_chunks(post_ids):
        for row in connection.execute(contributions(wanted)):
            add_contribution(found, row)
        add_networks(found.networks, connection, wanted)
    return found


def tally_networks(
    connection: sa.Connection, post_ids: Iterable[int] | None = None
) -> dict[tuple[int, str], int]:
    """Count replies to posts' public statuses that named the business, by (business, network)."""
    found: dict[tuple[int, str], int] = {}
    for wanted in id_chunks(post_ids):
        add_networks(found, connection, wanted)
    return found


def add_networks(
    found: dict[tuple[int, str], int], connection: sa.Connection, wanted: sa.ColumnElement[bool]
) -> None:
    """Add the wanted posts' replies, by (business, network), to found, as `replied` counts."""
    rows = connection.execute(
        sa.select(Post.business_id, Crosspost.network, sa.func.count())
        .select_from(Crosspost)
        .join(Post, Crosspost.post_id == Post.id)
        .where(
            wanted,
            is_public(),
            Crosspost.sent_at.is_not(None),
            Crosspost.mention_resolved.is_(True),
            Crosspost.replied_at.is_not(None),
        )
        .group_by(Post.business_id, Crosspost.network)
    )
    for business_id, network, replied in rows:
        found[(business_id, network)] = found.get((business_id, network), 0) + replied


def add_contribution(tallies: Tallies, row) -> None:
    """Add what one public post counts (a row of `contributions`, or a post) to tallies."""
    counts = tallies.counters.setdefault(row.business_id, [0] * len(COUNTERS))
    praise = row.kind == Kind.PRAISE
    complaint = row.kind == Kind.COMPLAINT
    asked, replied, on_wall = row.mentioned > 0, row.replied > 0, bool(row.on_wall)
    for n, value in enumerate(
        (
            praise,
            complaint,
            complaint and row.complaint_status == ComplaintStatus.RESOLVED,
            row.rating or 0,
            row.rating is not None,
            row.mentioned,
            row.replied,
            asked or on_wall,
            replied or on_wall,
            on_wall,
        )
    ):
        counts[n] += int(value)
    week = trend.monday_of(as_utc(row.created_at).date())  # weeks run in UTC
    tallies.weeks.setdefault((row.business_id, week), [0, 0])[0 if praise else 1] += 1


@dataclass(frozen=True)
class FreshPost:
    """What a post written in this very flush counts, from its own fields: no status sent
    yet, no answer on the wall."""

    business_id: int
    kind: str
    created_at: datetime
    complaint_status: str | None
    rating: int | None
    mentioned: int = 0
    replied: int = 0
    on_wall: bool = False


def contributions(wanted: sa.ColumnElement[bool]) -> sa.Select:
    """Select, for each public post wanted, what it counts: one row per post.

    Its business, kind, time, status and rating; how many of its statuses named the business
    (`mentioned`) and how many of those got a reply (`replied`); and whether the business
    answered it on its wall.
    """
    named = sa.and_(
        Crosspost.post_id == Post.id,
        Crosspost.sent_at.is_not(None),
        Crosspost.mention_resolved.is_(True),
    )
    return sa.select(
        Post.business_id,
        Post.kind,
        Post.created_at,
        Post.complaint_status,
        Post.rating,
        sa.select(sa.func.count()).where(named).scalar_subquery().label("mentioned"),
        sa.select(sa.func.count(Crosspost.replied_at))
        .where(named)
        .scalar_subquery()
        .label("replied"),
        sa.exists()
        .where(BusinessReply.post_id == Post.id, BusinessReply.moderation.in_(VISIBLE_MODERATION))
        .label("on_wall"),
    ).where(wanted, is_public())


def tally(connection: sa.Connection, post_ids: Iterable[int] | None = None) -> dict[int, list[int]]:
    """Count what posts contribute to their businesses' counters, by business id.

    :param post_ids: the posts to count; None counts every post.
    """
    found: dict[int, list[int]] = {}
    is_complaint = Post.kind == Kind.COMPLAINT
    for wanted in id_chunks(post_ids):
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
        for business_id, askable, answered, on_wall in connection.execute(answers(wanted)):
            counts = found.setdefault(business_id, [0] * len(COUNTERS))
            counts[7] += askable
            counts[8] += answered
            counts[9] += on_wall
    return found


def answers(wanted: sa.ColumnElement[bool]) -> sa.Select:
    """Count, by business, public posts it was asked to answer, answered, and answered on its wall.

    A post is asked about when its status named the business, or answered when it replied to
    that status or answered on its wall.
    """
    named = sa.and_(
        Crosspost.post_id == Post.id,
        Crosspost.sent_at.is_not(None),
        Crosspost.mention_resolved.is_(True),
    )
    asked = sa.exists().where(named)
    replied = sa.exists().where(named, Crosspost.replied_at.is_not(None))
    on_wall = sa.exists().where(
        BusinessReply.post_id == Post.id, BusinessReply.moderation.in_(VISIBLE_MODERATION)
    )
    return (
        sa.select(
            Post.business_id,
            sa.func.count().filter(sa.or_(asked, on_wall)),
            sa.func.count().filter(sa.or_(replied, on_wall)),
            sa.func.count().filter(on_wall),
        )
        .where(wanted, is_public(), sa.or_(asked, on_wall))
        .group_by(Post.business_id)
    )


def apply_change(
    connection: sa.Connection, before: dict[int, list[int]], after: dict[int, list[int]]
) -> set[int]:
    """Add the difference between two tallies to the businesses' counters; return those changed."""
    changed = set()
    business = Business.__table__
    # In id order, as every writer does, so two transactions never wait on each other's rows.
    for business_id in sorted(set(before) | set(after)):
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
    """Recount every business's counters, weeks and medians, and crossposts' businesses."""
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
    connection.execute(BusinessWeek.__table__.delete())
    apply_week_change(connection, {}, tally_weeks(connection))
    connection.execute(BusinessNetwork.__table__.delete())
    apply_network_change(connection, {}, tally_networks(connection))
    refresh_medians(connection)


# Keeping the counters: every flush that touches posts or crossposts, and every bulk UPDATE or
# DELETE of them, counts the touched posts' contributions before and after and applies the
# difference, in the same transaction.

PENDING = "stats.pending"
EXPIRE = "stats.expire"


def touched_posts(
    session: so.Session,
) -> tuple[set[int], list[Post | Crosspost | BusinessReply]]:
    """Find the stored posts a flush may change the counts of, and the new rows to add after."""
    ids: set[int] = set()
    new = [obj for obj in session.new if isinstance(obj, Post | Crosspost | BusinessReply)]
    for obj in new:
        if isinstance(obj, Crosspost | BusinessReply):
            # A new row on a stored post changes what that post counted before.
            post = obj.post
            ids.add(obj.post_id or (post.id if post is not None else None))
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Post):
            ids.add(obj.id)
        elif isinstance(obj, Crosspost | BusinessReply):
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
    before = tally_all(session.connection(), ids) if ids else Tallies({}, {})
    session.info[PENDING] = (ids, new, before)


@sa.event.listens_for(so.Session, "after_flush")
def _count_after(session: so.Session, flush_context) -> None:
    """Apply what the touched posts count now, and keep crossposts' business in step."""
    pending = session.info.pop(PENDING, None)
    if pending is None:
        return
    ids, new, before = pending
    # A post written in this flush has no stored crosspost to keep in step: only its new ones.
    in_step = set(ids)
    for obj in new:
        ids.add(obj.id if isinstance(obj, Post) else obj.post_id)
        if isinstance(obj, Crosspost):
            in_step.add(obj.post_id)
    ids.discard(None)
    in_step.discard(None)
    # One written in this flush with no row about it written beside it counts what its own
    # fields say, so the database needn't be asked (the commonest flush: publishing a post).
    related = {obj.post_id for obj in new if not isinstance(obj, Post)}
    fresh = [obj for obj in new if isinstance(obj, Post) and obj.id not in related]
    connection = session.connection()
    # First, so the medians worked out next read the new crossposts' replies as their business's.
    crosspost = Crosspost.__table__
    for n in range(0, len(in_step), CHUNK):
        chunk = sorted(in_step)[n : n + CHUNK]
        connection.execute(
            crosspost.update()
            .where(crosspost.c.post_id.in_(chunk))
            .values(
                business_id=sa.select(Post.business_id)
                .where(Post.id == crosspost.c.post_id)
                .scalar_subquery()
            )
        )
    after = tally_all(connection, ids - {post.id for post in fresh})
    for post in fresh:
        if post.is_public:
            add_contribution(
                after,
                FreshPost(
                    post.business_id, post.kind, post.created_at, post.complaint_status, post.rating
                ),
            )
    changed = apply_all_changes(connection, before, after)
    session.info.setdefault(EXPIRE, set()).update(changed)


@sa.event.listens_for(so.Session, "after_flush_postexec")
def _expire_counters(session: so.Session, flush_context) -> None:
    """Make loaded businesses read their new counts from the database."""
    expire_loaded(session, session.info.pop(EXPIRE, set()))


def expire_loaded(session: so.Session, business_ids: Iterable[int]) -> None:
    """Expire the counters and medians of these businesses where the session holds them."""
    for business_id in business_ids:
        loaded = session.identity_map.get(so.util.identity_key(Business, business_id))
        if loaded is not None:
            session.expire(loaded, [*COUNTERS, *MEDIANS])


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
    elif entity is BusinessReply:
        column = BusinessReply.post_id
    else:
        return None
    query = sa.select(column)
    statement = cast(sa.Update | sa.Delete, state.statement)
    if statement.whereclause is not None:
        query = query.where(statement.whereclause)
    connection = state.session.connection()
    ids = {i for i in connection.scalars(query) if i is not None}
    before = tally_all(connection, ids)
    result = state.invoke_statement()
    changed = apply_all_changes(connection, before, tally_all(connection, ids))
    expire_loaded(state.session, changed)
    return result
