"""The reply watch: after a status went out, look for the business's reply in its thread.

Minutes at first, then hours, then daily, for two weeks; a reply counts once the business's own
server confirms it (the network's `find_reply`). A reply to a complaint marks it answered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.links import safe_remote_url
from webapp.models import ComplaintStatus, Crosspost, CrosspostState, Kind, utcnow
from webapp.networks import CallFailed, Session, get
from webapp.networks.log import log_line, where
from webapp.networks.rows import load

WATCH_FOR = timedelta(days=14)


def next_reply_check(age: timedelta) -> timedelta:
    """Return the wait before looking again: minutes at first, then hours, then daily."""
    if age < timedelta(hours=1):
        return timedelta(minutes=5)
    if age < timedelta(hours=6):
        return timedelta(minutes=30)
    if age < timedelta(days=2):
        return timedelta(hours=3)
    return timedelta(days=1)


def watch_due(limit: int = 100) -> list[int]:
    """Return sent crossposts whose reply check is due."""
    return list(
        db.session.scalars(
            sa.select(Crosspost.id)
            .where(
                Crosspost.state == CrosspostState.SENT,
                Crosspost.next_reply_check_at <= utcnow(),
            )
            .order_by(Crosspost.next_reply_check_at)
            .limit(limit)
        )
    )


def check_reply(crosspost_id: int) -> str | None:
    """Look once for the business's reply in the thread; the watch ends at a reply or 14 days."""
    crosspost = load(crosspost_id)
    if crosspost is None or crosspost.state != CrosspostState.SENT:
        return None
    if crosspost.next_reply_check_at is None:
        return None
    if crosspost.account is None or crosspost.post is None:
        # Disconnected, or the post is gone: there is no one left to watch for.
        crosspost.next_reply_check_at = None
        return None
    now = utcnow()
    try:
        session = get(crosspost.network).session(crosspost.account)
    except crypto.InvalidToken:
        crosspost.next_reply_check_at = None
        return None
    with db.session.no_autoflush:
        return look_for_reply(crosspost, session, now)


def look_for_reply(crosspost: Crosspost, session: Session, now: datetime) -> str:
    """Read the thread once and record a reply, a vanished status, or when to look again."""
    crosspost.reply_checked_at = now
    try:
        reply = find_reply(crosspost, session)
    except CallFailed as failure:
        outcome = failure.outcome
        if outcome.kind == "gone":
            crosspost.state = CrosspostState.GONE
            crosspost.next_reply_check_at = None
            result = "gone"
        else:
            if outcome.kind == "needs_login":
                crosspost.account.needs_login = True
            crosspost.next_reply_check_at = schedule_next_check(crosspost, now)
            result = "error"
        log_reply_check(crosspost, failure.name)
        return result
    if reply is not None:
        record_reply(crosspost, reply.created_at, reply.url, reply.text)
        log_reply_check(crosspost, "replied")
        return "replied"
    crosspost.next_reply_check_at = schedule_next_check(crosspost, now)
    log_reply_check(crosspost, "waiting")
    return "waiting"


def find_reply(crosspost: Crosspost, session: Session):
    """Return the business's first reply, as the business's own server confirms it."""
    return session.find_reply(
        crosspost.remote_id,
        mention_id=crosspost.mention_account_id or "",
        mention_handle=crosspost.mention_acct,
        since=crosspost.sent_at,
    )


def log_reply_check(crosspost: Crosspost, outcome: str) -> None:
    """Log the one line a reply check leaves, with when it looks next."""
    log_line(
        "check-reply",
        crosspost.id,
        where(crosspost),
        outcome,
        crosspost.state,
        crosspost.next_reply_check_at,
    )


def schedule_next_check(crosspost: Crosspost, now: datetime) -> datetime | None:
    """Return when to look again, or None once the watch is over."""
    age = now - crosspost.sent_at
    if age >= WATCH_FOR:
        return None
    return now + next_reply_check(age)


def record_reply(
    crosspost: Crosspost, replied_at: datetime, url: str | None, text: str | None = None
) -> None:
    """Store the first reply and move a waiting complaint to "business replied"."""
    crosspost.replied_at = replied_at
    crosspost.reply_url = safe_remote_url(url)
    crosspost.reply_text = text or None
    crosspost.next_reply_check_at = None
    post = crosspost.post
    if post is not None and post.kind == Kind.COMPLAINT:
        if post.complaint_status == ComplaintStatus.OPEN:
            post.complaint_status = ComplaintStatus.REPLIED


def reply_delay(crosspost: Crosspost) -> timedelta | None:
    """Return how long the business took to reply, if it did."""
    if crosspost.replied_at is None or crosspost.sent_at is None:
        return None
    return max(crosspost.replied_at - crosspost.sent_at, timedelta(0))
