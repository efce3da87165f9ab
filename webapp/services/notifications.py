"""Email notifications people choose: what to mail, found from the database, and unsubscribing.

Nothing is mailed from the code that records an event: a periodic scan finds committed events
(a business's reply, a finished challenge round, a quiet month) and queues one outbox message
per event under a key naming it, so a scan run twice, or twice at once, mails it once. Only
events after the person turned that kind on, and only to a confirmed address, are mailed.
Each message carries a signed one-click unsubscribe link (RFC 8058) for its kind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app, has_request_context, url_for
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.infra import mail
from webapp.models import (
    VISIBLE_MODERATION,
    BusinessReply,
    ChallengeRound,
    ComplaintStatus,
    Crosspost,
    Kind,
    MailMessage,
    Post,
    User,
)
from webapp.services import signed_links

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoticeKind:
    """One kind of notification a person can turn on: its name, column and words."""

    name: str
    column: str
    label: str
    hint: str


KINDS = (
    NoticeKind(
        "replies",
        "notify_replies_since",
        "A business replied to my post",
        "When a business answers your post on its wall, or a post we sent to Mastodon for you.",
    ),
    NoticeKind(
        "status",
        "notify_status_since",
        "My complaint changed status",
        "When a business's reply moves your complaint to “Business replied”.",
    ),
    NoticeKind(
        "rounds",
        "notify_rounds_since",
        "I finished a challenge round",
        "When your third praise finishes a round of the three-praise challenge.",
    ),
    NoticeKind(
        "nudge",
        "notify_nudge_since",
        "A monthly nudge: “Has a company impressed you lately?”",
        "At most once a month, and only after 30 days without a praise from you.",
    ),
)
BY_NAME = {kind.name: kind for kind in KINDS}

# Events older than this are not looked at again: the scan stays cheap however old the site.
LOOKBACK = timedelta(days=30)
QUIET_FOR = timedelta(days=30)  # no praise for this long before a nudge
BATCH = 500  # events of each kind queued per scan; the next scan takes the rest
UNSUBSCRIBE_SALT = "notify-unsubscribe"
# An unsubscribe link must work as long as an old message may be read.
UNSUBSCRIBE_LASTS = timedelta(days=365 * 2)
QUOTE_MAX = 500


@dataclass
class Notice:
    """One message to queue: its key, whom it is for, which kind, and what it says."""

    key: str
    user: User
    kind: str
    subject: str
    paragraphs: list[str]
    link: str
    label: str


def choices(user: User) -> dict[str, bool]:
    """Return which kinds the person has turned on."""
    return {kind.name: getattr(user, kind.column) is not None for kind in KINDS}


def can_choose(user: User) -> bool:
    """Tell whether the person has a confirmed address to send notifications to."""
    return bool(user.email)


def choose(user: User, wanted: dict[str, bool], now: datetime) -> None:
    """Turn kinds on (from now, keeping an earlier start) or off, as the person chose."""
    for kind in KINDS:
        if not wanted.get(kind.name):
            setattr(user, kind.column, None)
        elif getattr(user, kind.column) is None:
            setattr(user, kind.column, now)


def stop_all(user: User) -> None:
    """Turn every kind off."""
    for kind in KINDS:
        setattr(user, kind.column, None)


def turn_off(user: User, kind: str) -> None:
    """Stop one kind of notification."""
    setattr(user, BY_NAME[kind].column, None)


def unsubscribe_signer():
    """Sign unsubscribe links, under their own salt."""
    return signed_links.serializer(UNSUBSCRIBE_SALT)


def unsubscribe_token(user: User, kind: str) -> str:
    """Return the token that turns one kind off for one person, without signing in."""
    return unsubscribe_signer().dumps({"u": user.id, "k": kind})


def read_unsubscribe(token: str) -> tuple[User, str] | None:
    """Return the person and kind an unsubscribe token names, if it is genuine."""
    found = signed_links.read(unsubscribe_signer(), token, UNSUBSCRIBE_LASTS)
    if found is None:
        return None
    user, data = found
    kind = data.get("k")
    return (user, kind) if kind in BY_NAME else None


def mailed(prefix: sa.ColumnElement[str]) -> sa.Exists:
    """Select whether a message with this key is already in the outbox."""
    return sa.exists().where(MailMessage.key == prefix)


def key_for(
    prefix: str, row_id: so.InstrumentedAttribute[int], suffix: str = ""
) -> sa.ColumnElement:
    """Build an event's outbox key in SQL, as `prefix` + id + `suffix`."""
    key = sa.literal(prefix, sa.String) + sa.cast(row_id, sa.String)
    return key + sa.literal(suffix, sa.String) if suffix else key


def wants_answer_news(answered_at: so.InstrumentedAttribute) -> sa.ColumnElement[bool]:
    """Select whether the post's author asked, before this answer came, to hear of it."""
    wants_replies = sa.and_(
        User.notify_replies_since.is_not(None),
        answered_at >= User.notify_replies_since,
    )
    # The answer moved the complaint to "Business replied": the status kind asks for that too.
    wants_status = sa.and_(
        Post.kind == Kind.COMPLAINT,
        Post.complaint_status == ComplaintStatus.REPLIED,
        User.notify_status_since.is_not(None),
        answered_at >= User.notify_status_since,
    )
    return sa.or_(wants_replies, wants_status)


def reply_notices(now: datetime) -> list[Notice]:
    """Find business replies not mailed yet, to people who asked before the reply came."""
    rows = db.session.execute(
        sa.select(Crosspost, Post, User)
        .join(Post, Post.id == Crosspost.post_id)
        .join(User, User.id == Post.author_id)
        .where(
            Crosspost.replied_at.is_not(None),
            Crosspost.replied_at >= now - LOOKBACK,
            User.email.is_not(None),
            wants_answer_news(Crosspost.replied_at),
            ~mailed(key_for("notify:reply:", Crosspost.id)),
        )
        .order_by(Crosspost.id)
        .limit(BATCH)
    ).all()
    return [reply_notice(row, post, user) for row, post, user in rows]


def reply_notice(row: Crosspost, post: Post, user: User) -> Notice:
    """Word the message about a business's reply on Mastodon."""
    return answer_notice(
        f"notify:reply:{row.id}", post, user, row.replied_at, "on Mastodon", row.reply_text
    )


def wall_reply_notices(now: datetime) -> list[Notice]:
    """Find businesses' answers on their walls not mailed yet, to people who asked before."""
    rows = db.session.execute(
        sa.select(BusinessReply, Post, User)
        .join(Post, Post.id == BusinessReply.post_id)
        .join(User, User.id == Post.author_id)
        .where(
            BusinessReply.created_at >= now - LOOKBACK,
            BusinessReply.moderation.in_(VISIBLE_MODERATION),
            User.email.is_not(None),
            wants_answer_news(BusinessReply.created_at),
            ~mailed(key_for("notify:wall-reply:", BusinessReply.id)),
        )
        .order_by(BusinessReply.id)
        .limit(BATCH)
    ).all()
    return [wall_reply_notice(reply, post, user) for reply, post, user in rows]


def wall_reply_notice(reply: BusinessReply, post: Post, user: User) -> Notice:
    """Word the message about a business's answer on its wall."""
    return answer_notice(
        f"notify:wall-reply:{reply.id}",
        post,
        user,
        reply.created_at,
        "on its Praisewall page",
        reply.body,
    )


def answer_notice(
    key: str, post: Post, user: User, answered_at: datetime, where: str, text: str | None
) -> Notice:
    """Word the message about a business's answer, wherever it came."""
    what = "complaint" if post.kind == Kind.COMPLAINT else "praise"
    name = post.business.name
    paragraphs = [f"Hello {user.username},", f"{name} replied to your {what} {where}."]
    if text:
        quote = text[:QUOTE_MAX] + ("…" if len(text) > QUOTE_MAX else "")
        paragraphs.append(f"“{quote}”")
    if post.kind == Kind.COMPLAINT and post.complaint_status == ComplaintStatus.REPLIED:
        paragraphs.append("Your complaint now shows “Business replied”.")
    # Named after the kind they asked for; with both on, the reply is what happened.
    status_only = user.notify_replies_since is None or answered_at < user.notify_replies_since
    return Notice(
        key=key,
        user=user,
        kind="status" if status_only else "replies",
        subject=f"{name} replied to your {what}",
        paragraphs=paragraphs,
        link=url_for("posts.show", post_id=post.id, _external=True),
        label="See your post",
    )


def round_notices(now: datetime) -> list[Notice]:
    """Find challenge rounds finished after their person asked to hear, not mailed yet."""
    rows = db.session.execute(
        sa.select(ChallengeRound, User)
        .join(User, User.id == ChallengeRound.user_id)
        .where(
            ChallengeRound.completed_at.is_not(None),
            ChallengeRound.completed_at >= now - LOOKBACK,
            User.email.is_not(None),
            User.notify_rounds_since.is_not(None),
            ChallengeRound.completed_at >= User.notify_rounds_since,
            ~mailed(key_for("notify:round:", ChallengeRound.id)),
        )
        .order_by(ChallengeRound.id)
        .limit(BATCH)
    ).all()
    return [
        Notice(
            key=f"notify:round:{round_.id}",
            user=user,
            kind="rounds",
            subject="You finished a round of the three-praise challenge",
            paragraphs=[
                f"Hello {user.username},",
                "Three times a business impressed you, and three times you said so in public. "
                "That's a round of the three-praise challenge finished: thank you.",
                "You can tell your followers, or start another round whenever you like.",
            ],
            link=url_for("challenge.show", _external=True),
            label="See your challenge",
        )
        for round_, user in rows
    ]


def nudge_notices(now: datetime) -> list[Notice]:
    """Find people who asked for the monthly nudge, praised nobody and had no nudge for 30 days."""
    month = f":{now:%Y-%m}"
    praised_lately = (
        sa.exists()
        .where(
            Post.author_id == User.id,
            Post.kind == Kind.PRAISE,
            Post.created_at >= now - QUIET_FOR,
        )
        .correlate(User)
    )
    # Once a calendar month is not enough: the 31st and the 1st are a day apart.
    nudged_lately = (
        sa.exists()
        .where(
            MailMessage.user_id == User.id,
            MailMessage.key.startswith("notify:nudge:"),
            MailMessage.created_at > now - QUIET_FOR,
        )
        .correlate(User)
    )
    users = db.session.scalars(
        sa.select(User)
        .where(
            User.email.is_not(None),
            User.notify_nudge_since.is_not(None),
            ~praised_lately,
            ~nudged_lately,
            ~mailed(key_for("notify:nudge:", User.id, month)),
        )
        .order_by(User.id)
        .limit(BATCH)
    ).all()
    return [
        Notice(
            key=f"notify:nudge:{user.id}{month}",
            user=user,
            kind="nudge",
            subject="Has a company impressed you lately?",
            paragraphs=[
                f"Hello {user.username},",
                "Has a company impressed you lately? A shop that kept something aside, a "
                "phone call that fixed things, a repair done right?",
                "A few words of praise take a minute, and they reach the people who did it.",
            ],
            link=url_for("posts.new", kind=Kind.PRAISE, _external=True),
            label="Praise someone",
        )
        for user in users
    ]


def due_notifications(now: datetime) -> list[MailMessage]:
    """Queue a message for every event people asked to hear about that has none yet.

    Returns the rows queued; the caller commits, then queues their sending.
    """
    with site_links() as ready:
        if not ready:
            if anyone_asked():
                log.warning("notifications not sent: set WEBAPP_SITE_URL to the site's address")
            return []
        notices = [
            *reply_notices(now),
            *wall_reply_notices(now),
            *round_notices(now),
            *nudge_notices(now),
        ]
        return [row for notice in notices if (row := queue_once(notice, now)) is not None]


def queue_once(notice: Notice, now: datetime) -> MailMessage | None:
    """Queue one notice under its key, dated by the scan; another scan at the same moment wins."""
    unsubscribe = url_for(
        "settings.unsubscribe",
        token=unsubscribe_token(notice.user, notice.kind),
        _external=True,
    )
    text, html = mail.compose(notice.paragraphs, notice.link, notice.label, unsubscribe)
    headers = {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    try:
        with db.session.begin_nested():
            row = mail.queue(
                notice.key, notice.user.email, notice.subject, text, html, notice.user, headers
            )
            row.created_at = now  # the scan's clock, which the nudge's 30 days count by
            return row
    except IntegrityError:
        return None


@contextmanager
def site_links() -> Iterator[bool]:
    """Let url_for make full links outside a request, from SITE_URL or SERVER_NAME.

    Yields False when neither is set: a link in a mail must name the site, and the worker
    can't guess it.
    """
    site_url = current_app.config.get("SITE_URL")
    if has_request_context() or (current_app.config.get("SERVER_NAME") and not site_url):
        yield True
    elif site_url:
        with current_app.test_request_context("/", base_url=site_url):
            yield True
    else:
        yield False


def anyone_asked() -> bool:
    """Tell whether anyone with a confirmed address has a kind of notification on."""
    on = sa.or_(*(getattr(User, kind.column).is_not(None) for kind in KINDS))
    return db.session.scalar(sa.select(sa.exists().where(User.email.is_not(None), on)))
