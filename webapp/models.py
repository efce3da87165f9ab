"""The database: people, businesses, posts, challenge rounds and reports."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.text import xml_safe

CHALLENGE_GOAL = 3  # praise posts that finish a round

# The largest id a PostgreSQL integer column holds; bigger numbers can name no row.
MAX_ID = 2**31 - 1


def parse_id(value: object) -> int | None:
    """Read a row id from user input, or None when it can't be one."""
    try:
        number = int(str(value), 10)
    except ValueError:
        return None
    return number if 0 < number <= MAX_ID else None


def new_session_token() -> str:
    """Return a fresh random token that signs a user's sessions."""
    return secrets.token_urlsafe(16)


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, so without this a value would come back naive there
    and aware on PostgreSQL.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store the value converted to UTC (naive values are taken as UTC)."""
        return as_utc(value)

    def process_result_value(self, value, dialect):
        """Read the value back as an aware UTC datetime."""
        return as_utc(value)


def as_utc(value: datetime | None) -> datetime | None:
    """Return the time in UTC, reading a naive time as UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Kind(enum.StrEnum):
    """What a post says about a business."""

    PRAISE = "praise"
    COMPLAINT = "complaint"


class Channel(enum.StrEnum):
    """Where the service happened."""

    IN_PERSON = "in_person"
    PHONE = "phone"
    ONLINE = "online"
    SOCIAL = "social"

    @property
    def label(self) -> str:
        """Return the words shown to people."""
        return CHANNEL_LABELS[self]


CHANNEL_LABELS = {
    Channel.IN_PERSON: "In person",
    Channel.PHONE: "Phone",
    Channel.ONLINE: "Online",
    Channel.SOCIAL: "Social media",
}


class ComplaintStatus(enum.StrEnum):
    """Where a complaint stands: open, answered by the business, or fixed."""

    OPEN = "open"
    REPLIED = "replied"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        """Return the words shown to people."""
        return {"open": "Open", "replied": "Business replied", "resolved": "Resolved"}[self]


class Moderation(enum.StrEnum):
    """A post's standing with the moderators."""

    OK = "ok"
    PENDING = "pending"  # hidden automatically after enough reports
    HIDDEN = "hidden"  # an admin agreed with the reports
    RESTORED = "restored"  # an admin overruled the reports

    @property
    def label(self) -> str:
        """Return the standing in words, for the admins' page."""
        return MODERATION_LABELS[self]


MODERATION_LABELS = {
    Moderation.OK: "Visible",
    Moderation.PENDING: "Hidden, awaiting you",
    Moderation.HIDDEN: "Hidden",
    Moderation.RESTORED: "Restored",
}


VISIBLE_MODERATION = (Moderation.OK, Moderation.RESTORED)
HIDDEN_BECAUSE = {
    Moderation.PENDING: "while reports are reviewed",
    Moderation.HIDDEN: "by a moderator",
}


class User(UserMixin, db.Model):
    """A person with a local account."""

    # Never reuse a deleted user's id: old cookies and links must not reach a newcomer.
    __table_args__ = {"sqlite_autoincrement": True}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    username: so.Mapped[str] = so.mapped_column(sa.String(30), unique=True)
    password_hash: so.Mapped[str | None] = so.mapped_column(sa.String(256))
    session_token: so.Mapped[str] = so.mapped_column(sa.String(32), default=new_session_token)
    is_admin: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # The confirmed address, the only one mail goes to; a new one waits in new_email until
    # its link is followed.
    email: so.Mapped[str | None] = so.mapped_column(sa.String(254), index=True)
    new_email: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    # Password reset links carry this number: a newer link, a use or a new password moves it
    # on, so every earlier link stops working without the links being stored.
    reset_counter: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    # When the person turned each kind of notification on, None while it is off: only what
    # happens after then is mailed (webapp/services/notifications.py).
    notify_replies_since: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    notify_status_since: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    notify_rounds_since: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    notify_nudge_since: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # The compose page's switch for each network, as the person last left it.
    post_to_mastodon: so.Mapped[bool] = so.mapped_column(default=True, server_default=sa.true())
    post_to_bluesky: so.Mapped[bool] = so.mapped_column(default=True, server_default=sa.true())

    posts: so.WriteOnlyMapped[Post] = so.relationship(
        back_populates="author", cascade="all, delete-orphan", passive_deletes=True
    )
    # No delete cascade: a leaving person's connection outlives them until the statuses they
    # asked us to delete are gone (webapp/services/accounts.py, delete_account).
    mastodon_account: so.Mapped[MastodonAccount | None] = so.relationship(
        back_populates="user", cascade="save-update, merge", passive_deletes=True
    )
    bluesky_account: so.Mapped[BlueskyAccount | None] = so.relationship(
        back_populates="user", cascade="save-update, merge", passive_deletes=True
    )

    @so.validates("username")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)

    def set_password(self, password: str) -> None:
        """Store a salted hash of the password."""
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        self.password_hash = generate_password_hash(password, method=method)
        self.end_sessions()
        self.reset_counter = (self.reset_counter or 0) + 1

    def end_sessions(self) -> None:
        """Make every session and remember-me cookie signed in as this user stop working."""
        self.session_token = new_session_token()

    def check_password(self, password: str) -> bool:
        """Tell whether the password matches the stored hash."""
        return self.password_hash is not None and check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """Identify the user in cookies by id and token, so a new password ends old sessions."""
        return f"{self.id}:{self.session_token}"

    @property
    def needs_mastodon_login(self) -> bool:
        """Tell whether their Mastodon server stopped accepting our sign-in."""
        return self.mastodon_account is not None and self.mastodon_account.needs_login

    @property
    def needs_bluesky_login(self) -> bool:
        """Tell whether their Bluesky server stopped accepting our sign-in."""
        return self.bluesky_account is not None and self.bluesky_account.needs_login

    def __repr__(self) -> str:
        """Show the username when debugging."""
        return f"<User {self.username}>"


class Business(db.Model):
    """A company or shop that people praise or complain about."""

    # Never reuse an id: compose forms, phones' offline queues and the audit log hold them.
    __table_args__ = {"sqlite_autoincrement": True}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    slug: so.Mapped[str] = so.mapped_column(sa.String(140), unique=True)
    normalized_name: so.Mapped[str] = so.mapped_column(sa.String(120), unique=True)
    website: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    domain: so.Mapped[str | None] = so.mapped_column(sa.String(253), unique=True)
    handle: so.Mapped[str | None] = so.mapped_column(sa.String(320))
    # Its Bluesky handle (a domain name), resolved to a DID whenever a post mentions it.
    bluesky_handle: so.Mapped[str | None] = so.mapped_column(sa.String(253))
    category: so.Mapped[str | None] = so.mapped_column(sa.String(60))
    description: so.Mapped[str | None] = so.mapped_column(sa.Text)  # written by the owner
    # The person signed in with the business's own Mastodon account, once they claim the wall.
    owner_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    claimed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # A website link the business's Mastodon profile shows as verified (rel="me").
    verified_website: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    website_verified_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # When the claim's proof last held, and when to prove it again (services/owners.py).
    claim_checked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    claim_next_check_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    # How the claim was proven: "mastodon" or "bluesky" (signed in as the handle) or "website"
    # (a token published on the business's website). Checked again the same way.
    claim_proof: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    created_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # The wall's numbers, kept up to date as posts change (webapp/services/stats.py), so a
    # busy wall costs no more to show than a quiet one. Public posts only.
    praise_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    complaint_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    resolved_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    rating_sum: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    rating_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    mentioned_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    replied_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    # Posts it was asked to answer (a status naming it) or answered on its wall; those answered
    # either way; and those answered on its wall (webapp/services/stats.py, answers).
    askable_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    answered_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    wall_replied_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    # Worked out again whenever a resolved complaint or a reply comes or goes, from the latest
    # MEDIAN_SAMPLE of each, so reading them costs nothing.
    median_resolve_days: so.Mapped[float | None]
    median_reply_seconds: so.Mapped[float | None]

    created_by: so.Mapped[User | None] = so.relationship(foreign_keys=[created_by_id])
    owner: so.Mapped[User | None] = so.relationship(foreign_keys=[owner_id])
    words: so.Mapped[list[BusinessWord]] = so.relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    @so.validates(
        "name", "website", "handle", "bluesky_handle", "category", "description", "verified_website"
    )
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)

    @property
    def is_verified(self) -> bool:
        """Tell whether the business itself has claimed this wall."""
        return self.owner_id is not None

    @property
    def proven_at(self) -> datetime | None:
        """Return when the claim's proof last held, or when it was first made."""
        return self.claim_checked_at or self.claimed_at

    @property
    def may_be_claimed(self) -> bool:
        """Tell whether nobody has claimed the wall yet and it names a way to prove it."""
        return not self.is_verified and bool(self.handle or self.bluesky_handle or self.website)

    @property
    def verified_domain(self) -> str | None:
        """Return the host of the website the business's Mastodon profile verifies."""
        if not self.verified_website:
            return None
        return (urlsplit(self.verified_website).hostname or "").removeprefix("www.") or None

    def __repr__(self) -> str:
        """Show the slug when debugging."""
        return f"<Business {self.slug}>"


class BusinessManager(db.Model):
    """Someone the verified owner lets manage the wall with them (services/owners.py)."""

    __table_args__ = (sa.UniqueConstraint("business_id", "user_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    business_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("business.id", ondelete="CASCADE"), index=True
    )
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    added_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    user: so.Mapped[User] = so.relationship()

    def __repr__(self) -> str:
        """Show who manages which wall when debugging."""
        return f"<BusinessManager {self.business_id}:{self.user_id}>"


class BusinessWeek(db.Model):
    """A business's public praise and complaints in one ISO week (UTC), for its trend chart.

    Kept up to date with the counters (webapp/services/stats.py), so the chart reads twelve
    rows however many posts the weeks hold.
    """

    business_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("business.id", ondelete="CASCADE"), primary_key=True
    )
    week: so.Mapped[date] = so.mapped_column(primary_key=True)  # its Monday
    praise: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    complaints: so.Mapped[int] = so.mapped_column(default=0, server_default="0")


class BusinessNetwork(db.Model):
    """A business's replies on one network to the public statuses that named it, for its wall.

    Kept up to date with the counters (webapp/services/stats.py), so the wall reads a row per
    network however many replies there are.
    """

    business_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("business.id", ondelete="CASCADE"), primary_key=True
    )
    network: so.Mapped[str] = so.mapped_column(sa.String(20), primary_key=True)
    replied: so.Mapped[int] = so.mapped_column(default=0, server_default="0")


class BusinessWord(db.Model):
    """One word of a business's normalized name, so "a word starts with" is an index range."""

    __table_args__ = (sa.Index("ix_business_word_word", "word", "business_id"),)

    business_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("business.id", ondelete="CASCADE"), primary_key=True
    )
    word: so.Mapped[str] = so.mapped_column(sa.String(120), primary_key=True)


# The longest story a post may tell, in characters.
BODY_MAX = 2000


class Post(db.Model):
    """One person's praise or complaint about one business."""

    __table_args__ = (
        sa.Index("ix_post_wall", "kind", "created_at", "id"),
        sa.Index("ix_post_business_kind", "business_id", "kind", "created_at", "id"),
        sa.Index("ix_post_author_created", "author_id", "created_at", "id"),
        # A business's feed and weekly trend: both kinds, newest first.
        sa.Index("ix_post_business_created", "business_id", "created_at", "id"),
        # A business's wall sorted best rated first (webapp/web/pagination.py RATING_KEY).
        sa.Index(
            "ix_post_business_rating",
            "business_id",
            "kind",
            sa.text("coalesce(rating, 0)"),
            "created_at",
            "id",
        ),
        # A business's latest resolved complaints, for the median time to resolve.
        sa.Index(
            "ix_post_business_resolved",
            "business_id",
            "resolved_at",
            sqlite_where=sa.text("resolved_at IS NOT NULL"),
            postgresql_where=sa.text("resolved_at IS NOT NULL"),
        ),
        # The praise that followed up complaints. Only follow-ups are indexed: an index full of
        # NULLs looks useless to SQLite's planner, which then walks every praise instead.
        sa.Index(
            "ix_post_fixes_id",
            "fixes_id",
            sqlite_where=sa.text("fixes_id IS NOT NULL"),
            postgresql_where=sa.text("fixes_id IS NOT NULL"),
        ),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        # A post sent again from a phone's offline queue must not appear twice.
        sa.UniqueConstraint("author_id", "submission_key", name="uq_post_submission"),
        # Permalinks are shared: a deleted post's id must never name a later one.
        {"sqlite_autoincrement": True},
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    author_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    business_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("business.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    rating: so.Mapped[int | None]
    happened_on: so.Mapped[date]
    channel: so.Mapped[str] = so.mapped_column(sa.String(16))
    is_on_wall: so.Mapped[bool] = so.mapped_column(default=True)
    shows_name: so.Mapped[bool] = so.mapped_column(default=True)
    make_right: so.Mapped[str | None] = so.mapped_column(sa.Text)
    complaint_status: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    resolved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    resolution_note: so.Mapped[str | None] = so.mapped_column(sa.Text)
    fixes_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("post.id", ondelete="SET NULL")
    )
    moderation: so.Mapped[str] = so.mapped_column(sa.String(16), default=Moderation.OK)
    featured_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)  # pinned by the owner
    # The business whose owner pinned it: the feature shows on that wall only, and only while
    # the post is about it. Only ever compared, and businesses are never deleted: no foreign key.
    featured_by_id: so.Mapped[int | None]
    # When an admin last restored it: reports filed before then were answered.
    restored_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    submission_key: so.Mapped[str | None] = so.mapped_column(sa.String(64))  # from the device
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, onupdate=utcnow)

    author: so.Mapped[User] = so.relationship(back_populates="posts")
    business: so.Mapped[Business] = so.relationship()
    fixes: so.Mapped[Post | None] = so.relationship(remote_side=[id])
    # At most one per network, in a stable order.
    crossposts: so.Mapped[list[Crosspost]] = so.relationship(
        back_populates="post", order_by="Crosspost.network"
    )
    wall_reply: so.Mapped[BusinessReply | None] = so.relationship(
        back_populates="post", cascade="all, delete-orphan", passive_deletes=True
    )

    @so.validates("body", "make_right", "resolution_note")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)

    @property
    def is_praise(self) -> bool:
        """Tell whether this post is praise."""
        return self.kind == Kind.PRAISE

    @property
    def is_public(self) -> bool:
        """Tell whether anyone may see this post."""
        return self.is_on_wall and self.moderation in VISIBLE_MODERATION

    @property
    def shown_author(self) -> str | None:
        """Return the author's name as the public sees it, None for "a customer"."""
        return self.author.username if self.shows_name else None

    @property
    def shows_mastodon_links(self) -> bool:
        """Tell whether the public may follow this post to its status and quote the reply."""
        # The status is on the author's account, and a reply answers (and usually names) them.
        return self.shows_name

    def shows_mastodon_links_to(self, author: bool) -> bool:
        """Tell whether a reader (its author, or anyone) may follow its status and reply."""
        return author or self.shows_mastodon_links

    @property
    def shown_wall_reply(self) -> BusinessReply | None:
        """Return the business's answer on its wall, while the moderators let it show."""
        reply = self.wall_reply
        return reply if reply is not None and reply.is_visible else None

    def crosspost_on(self, network: str) -> Crosspost | None:
        """Return the post's status on the network of this name, if it has one."""
        return next((c for c in self.crossposts if c.network == network), None)

    @property
    def business_reply(self) -> Crosspost | None:
        """Return the status the business first replied to on a network, if it did.

        Its answer on the wall is `shown_wall_reply`; `answered_at` is the first of the two.
        """
        replied = [c for c in self.crossposts if c.replied_at is not None]
        return min(replied, key=lambda c: c.replied_at) if replied else None

    @property
    def has_new_wall_reply(self) -> bool:
        """Tell whether the business answered on its wall since the author last opened the post."""
        reply = self.shown_wall_reply
        return reply is not None and reply.seen_at is None

    @property
    def answered_at(self) -> datetime | None:
        """Return when the business first answered, on its wall or on a network."""
        times = [
            answer
            for answer in (
                self.business_reply.replied_at if self.business_reply else None,
                self.shown_wall_reply.created_at if self.shown_wall_reply else None,
            )
            if answer is not None
        ]
        return min(times) if times else None

    @property
    def last_changed_at(self) -> datetime:
        """Return when the post, or the business's answer on the wall, last changed."""
        reply = self.shown_wall_reply
        answered = (reply.edited_at or reply.created_at) if reply else None
        return max(t for t in (self.created_at, self.updated_at, answered) if t is not None)

    @property
    def has_sent_status(self) -> bool:
        """Tell whether its status is already out on a network."""
        return any(c.state == CrosspostState.SENT for c in self.crossposts)

    @property
    def is_resolved(self) -> bool:
        """Tell whether this is a complaint the business fixed."""
        return self.complaint_status == ComplaintStatus.RESOLVED

    @property
    def is_unresolved(self) -> bool:
        """Tell whether this is a complaint still waiting to be fixed."""
        return self.complaint_status is not None and not self.is_resolved

    @property
    def days_to_resolve(self) -> float | None:
        """Return how many days the complaint took to be resolved, if it was."""
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.created_at).total_seconds() / 86400

    @property
    def is_hidden(self) -> bool:
        """Tell whether the moderators keep it off the walls, for now or for good."""
        return self.moderation not in VISIBLE_MODERATION

    @property
    def hidden_because(self) -> str | None:
        """Say why the post is off the walls ("while reports are reviewed"), or None."""
        if not self.is_hidden:
            return None
        return HIDDEN_BECAUSE[Moderation(self.moderation)]

    @property
    def moderation_label(self) -> str:
        """Return the post's standing with the moderators in words."""
        return Moderation(self.moderation).label

    @property
    def status_label(self) -> str:
        """Return the complaint's state in words."""
        return ComplaintStatus(self.complaint_status).label if self.complaint_status else ""

    @property
    def channel_label(self) -> str:
        """Return the channel in words."""
        return Channel(self.channel).label

    def __repr__(self) -> str:
        """Show the id and kind when debugging."""
        return f"<Post {self.id} {self.kind}>"


# The longest answer a business may give under a post, in characters.
REPLY_MAX = 1000


class BusinessReply(db.Model):
    """The business's one public answer under a post on its wall, by its owner or a manager.

    It sits next to the customer's words and never changes them.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    post_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("post.id", ondelete="CASCADE"), unique=True
    )
    business_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("business.id", ondelete="CASCADE"), index=True
    )
    # Who wrote it for the business; kept, without a name, after they leave.
    author_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    edited_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # When the post's author first opened the post after the reply came (or was last edited).
    seen_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    moderation: so.Mapped[str] = so.mapped_column(sa.String(16), default=Moderation.OK)

    post: so.Mapped[Post] = so.relationship(back_populates="wall_reply")
    business: so.Mapped[Business] = so.relationship()
    author: so.Mapped[User | None] = so.relationship()

    @so.validates("body")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)

    @property
    def is_visible(self) -> bool:
        """Tell whether the moderators let everyone see it."""
        return self.moderation in VISIBLE_MODERATION

    @property
    def delay(self) -> timedelta:
        """Return how long after the post the business answered."""
        return max(self.created_at - self.post.created_at, timedelta(0))

    @property
    def moderation_label(self) -> str:
        """Return the reply's standing with the moderators in words."""
        return Moderation(self.moderation).label

    @property
    def is_edited(self) -> bool:
        """Tell whether the business changed its answer after publishing it."""
        return self.edited_at is not None

    def __repr__(self) -> str:
        """Show which post it answers when debugging."""
        return f"<BusinessReply on {self.post_id}>"


class ChallengeRound(db.Model):
    """One attempt at the three-praise challenge; progress is counted from posts."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    goal: so.Mapped[int] = so.mapped_column(default=CHALLENGE_GOAL)
    started_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    completed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()


class Report(db.Model):
    """A person's flag on a public post they think breaks the rules."""

    __table_args__ = (sa.UniqueConstraint("post_id", "reporter_id", name="uq_report_once"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    post_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("post.id", ondelete="CASCADE"), index=True
    )
    reporter_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    reason: so.Mapped[str] = so.mapped_column(sa.String(32))
    detail: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    post: so.Mapped[Post] = so.relationship()
    reporter: so.Mapped[User] = so.relationship()

    @so.validates("detail")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)


class ReplyReport(db.Model):
    """A person's flag on a business's answer on its wall they think breaks the rules."""

    __table_args__ = (sa.UniqueConstraint("reply_id", "reporter_id", name="uq_reply_report_once"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    reply_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("business_reply.id", ondelete="CASCADE"), index=True
    )
    reporter_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    reason: so.Mapped[str] = so.mapped_column(sa.String(32))
    detail: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    reply: so.Mapped[BusinessReply] = so.relationship()
    reporter: so.Mapped[User] = so.relationship()

    @so.validates("detail")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)


class Visibility(enum.StrEnum):
    """Who sees a status on Mastodon."""

    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"
    DIRECT = "direct"

    @property
    def label(self) -> str:
        """Return the words shown to people."""
        return VISIBILITY_LABELS[self]


VISIBILITY_LABELS = {
    Visibility.PUBLIC: "Public",
    Visibility.UNLISTED: "Unlisted (public, but kept off timelines)",
    Visibility.PRIVATE: "Followers only",
    Visibility.DIRECT: "Direct: tell them privately first",
}


# How people read each network's name.
NETWORK_LABELS = {"mastodon": "Mastodon", "bluesky": "Bluesky"}


class CrosspostState(enum.StrEnum):
    """Where a status stands on its way to, or off, Mastodon."""

    PENDING = "pending"  # waiting for its first or next attempt
    SENT = "sent"
    FAILED = "failed"  # the server refused it for good (a 4xx other than 401/403/429)
    NEEDS_LOGIN = "needs_login"  # the account's token no longer works
    GAVE_UP = "gave_up"  # too many failed attempts
    DELETING = "deleting"  # the post was deleted here; the status goes too
    GONE = "gone"  # the status was deleted on the server

    # Where its author may send it again, with the same key.
    RETRYABLE = enum.nonmember(frozenset({FAILED, GAVE_UP, NEEDS_LOGIN}))


class MastodonServer(db.Model):
    """A Mastodon server we have met: our app registration there and its limits."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    base_url: so.Mapped[str] = so.mapped_column(sa.String(300), unique=True)
    client_id: so.Mapped[str | None] = so.mapped_column(sa.Text)  # encrypted
    client_secret: so.Mapped[str | None] = so.mapped_column(sa.Text)  # encrypted
    authorize_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    token_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    revoke_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    supports_pkce: so.Mapped[bool] = so.mapped_column(default=False)
    max_characters: so.Mapped[int | None]
    url_length: so.Mapped[int | None]
    # The domain in its people's handles, as its instance document says (LOCAL_DOMAIN).
    handle_domain: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    refreshed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    registered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    @property
    def domain(self) -> str:
        """Return the server's host name, as people write it."""
        return self.base_url.split("://", 1)[1]


class MastodonAccount(db.Model):
    """A person's connection to their Mastodon account.

    Each network keeps its connected accounts in a table of its own, with what that network
    needs (here: the server, the token); a crosspost names the network and the row's id.
    """

    NETWORK = "mastodon"

    __table_args__ = (
        sa.UniqueConstraint("server_id", "remote_id", name="uq_mastodon_account_remote"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # None once its person has left: a "farewell" that deletes their statuses, then itself.
    user_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), unique=True
    )
    server_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("mastodon_server.id"))
    remote_id: so.Mapped[str] = so.mapped_column(sa.String(64))
    acct: so.Mapped[str] = so.mapped_column(sa.String(320))  # user@domain, as confirmed
    profile_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    access_token: so.Mapped[str] = so.mapped_column(sa.Text)  # encrypted
    scopes: so.Mapped[str] = so.mapped_column(sa.String(200))
    needs_login: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    user: so.Mapped[User | None] = so.relationship(back_populates="mastodon_account")
    server: so.Mapped[MastodonServer] = so.relationship()

    @so.validates("acct", "profile_url")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)


class BlueskyAccount(db.Model):
    """A person's connection to their Bluesky (AT Protocol) account, by its DID.

    Signed in with OAuth (tokens bound to a DPoP key of this connection's own) or, where the
    person's server can't do OAuth, with an app password. Every secret is encrypted.
    """

    NETWORK = "bluesky"

    # Crossposts name a connection by id: a new one must never take a removed one's.
    __table_args__ = {"sqlite_autoincrement": True}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # None once its person has left: a "farewell" that deletes their posts, then itself.
    user_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), unique=True
    )
    did: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    handle: so.Mapped[str] = so.mapped_column(sa.String(253))  # as last proven both ways
    pds_url: so.Mapped[str] = so.mapped_column(sa.String(300))  # from the DID document
    # "oauth" or "app_password".
    kind: so.Mapped[str] = so.mapped_column(sa.String(16), default="oauth")
    issuer: so.Mapped[str | None] = so.mapped_column(sa.String(300))  # the authorization server
    access_token: so.Mapped[str] = so.mapped_column(sa.Text)  # encrypted
    refresh_token: so.Mapped[str | None] = so.mapped_column(sa.Text)  # encrypted
    dpop_key: so.Mapped[str | None] = so.mapped_column(sa.Text)  # encrypted private JWK
    # The servers' latest DPoP nonces, as JSON by origin: not secret.
    dpop_nonces: so.Mapped[str | None] = so.mapped_column(sa.Text)
    expires_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # Moved on by every refresh: two workers refreshing at once can't both keep a token.
    token_version: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    scopes: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    needs_login: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    user: so.Mapped[User | None] = so.relationship(back_populates="bluesky_account")

    @so.validates("handle")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)


# The statuses ix_crosspost_business_unanswered holds, each written as the dialect's compiler
# writes the query's own conditions, so the planners see the query implies them.
UNANSWERED_SQLITE = "sent_at IS NOT NULL AND mention_resolved IS 1 AND replied_at IS NULL"
UNANSWERED_POSTGRESQL = "sent_at IS NOT NULL AND mention_resolved IS true AND replied_at IS NULL"


class Crosspost(db.Model):
    """One post's status on its author's account on a network, and the watch for a reply.

    A row names its network ("mastodon") and the connected account by its id in that
    network's own account table, so a second network adds a table of its own and its rows
    here say so: no column of this table changes.
    """

    __table_args__ = (
        sa.Index("ix_crosspost_due", "state", "next_attempt_at"),
        sa.Index("ix_crosspost_watch", "state", "next_reply_check_at"),
        # A business's latest replies, for the median reply time.
        sa.Index(
            "ix_crosspost_business_replied",
            "business_id",
            "replied_at",
            sqlite_where=sa.text("replied_at IS NOT NULL"),
            postgresql_where=sa.text("replied_at IS NOT NULL"),
        ),
        # A business's statuses still waiting for its answer, for the wall's "Unanswered" tab:
        # only those are indexed, so a business that answers finds the few left without
        # walking all its praise.
        sa.Index(
            "ix_crosspost_business_unanswered",
            "business_id",
            "post_id",
            sqlite_where=sa.text(UNANSWERED_SQLITE),
            postgresql_where=sa.text(UNANSWERED_POSTGRESQL),
        ),
        # One status per post on each network.
        sa.Index("uq_crosspost_post_network", "post_id", "network", unique=True),
        # Queued work names a crosspost by id, and may arrive after it is gone: that id must
        # never name someone else's crosspost.
        {"sqlite_autoincrement": True},
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # Kept after the post is deleted, until its status is deleted too.
    post_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("post.id", ondelete="SET NULL"), index=True
    )
    # The network it goes to, and the connected account there: a row of that network's own
    # account table (mastodon_account for "mastodon"). No foreign key, as the table depends on
    # the network; removing a connection clears its crossposts' account_id (see of_account).
    network: so.Mapped[str] = so.mapped_column(
        sa.String(20), default="mastodon", server_default="mastodon"
    )
    account_id: so.Mapped[int | None] = so.mapped_column(index=True)
    # The post's business, copied here so a business's replies are found without its posts.
    business_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("business.id", ondelete="SET NULL")
    )
    state: so.Mapped[str] = so.mapped_column(sa.String(16), default=CrosspostState.PENDING)
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    visibility: so.Mapped[str] = so.mapped_column(sa.String(16), default=Visibility.PUBLIC)
    spoiler_text: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    post_url: so.Mapped[str] = so.mapped_column(sa.String(500))
    status_text: so.Mapped[str | None] = so.mapped_column(sa.Text)  # as last sent
    mention_acct: so.Mapped[str | None] = so.mapped_column(sa.String(320))
    mention_account_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    mention_resolved: so.Mapped[bool | None]
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    # When the first attempt began: only a status made since can be one an attempt made.
    first_attempt_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    next_attempt_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    remote_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    remote_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    replied_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    reply_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    reply_text: so.Mapped[str | None] = so.mapped_column(sa.Text)  # plain text, tags stripped
    reply_checked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    next_reply_check_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    post: so.Mapped[Post | None] = so.relationship(back_populates="crossposts")
    mastodon_account: so.Mapped[MastodonAccount | None] = so.relationship(
        primaryjoin="and_(Crosspost.network == 'mastodon', "
        "foreign(Crosspost.account_id) == MastodonAccount.id)",
    )
    bluesky_account: so.Mapped[BlueskyAccount | None] = so.relationship(
        primaryjoin="and_(Crosspost.network == 'bluesky', "
        "foreign(Crosspost.account_id) == BlueskyAccount.id)",
        overlaps="mastodon_account",
    )

    @so.validates("spoiler_text", "mention_acct", "reply_text", "reply_url", "remote_url")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)

    @property
    def is_public(self) -> bool:
        """Tell whether the status went out for everyone to see."""
        return self.state == CrosspostState.SENT and self.visibility == Visibility.PUBLIC

    @property
    def network_label(self) -> str:
        """Return the network's name as people read it."""
        return NETWORK_LABELS.get(self.network or "mastodon", self.network)

    @property
    def is_sending(self) -> bool:
        """Tell whether an attempt is under way: it has counted itself but has no error yet."""
        return self.state == CrosspostState.PENDING and not self.last_error

    @property
    def can_retry(self) -> bool:
        """Tell whether its author may send the status again."""
        return self.state in CrosspostState.RETRYABLE

    @property
    def account(self) -> MastodonAccount | BlueskyAccount | None:
        """Return the connected account the status goes out on, on its network."""
        return getattr(self, f"{self.network or 'mastodon'}_account", None)

    @account.setter
    def account(self, account: MastodonAccount | BlueskyAccount | None) -> None:
        """Send the status out on this connected account, on the account's network."""
        if account is not None:
            self.network = account.NETWORK
        setattr(self, f"{self.network or 'mastodon'}_account", account)

    @staticmethod
    def of_account(account: MastodonAccount | BlueskyAccount) -> sa.ColumnElement[bool]:
        """Return the condition that picks the crossposts going out on this account."""
        return sa.and_(Crosspost.network == account.NETWORK, Crosspost.account_id == account.id)


class ApiToken(db.Model):
    """A personal token for the JSON API; only its hash is kept."""

    # Never reuse an id: a revoke button on a page left open must not reach a newer token.
    __table_args__ = {"sqlite_autoincrement": True}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(60))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()

    @so.validates("name")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)


class Passkey(db.Model):
    """A passkey that signs its owner in: only the public half of the key is kept."""

    # Never reuse an id: a remove button on a page left open must not reach a newer passkey.
    __table_args__ = {"sqlite_autoincrement": True}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    # Base64url, as browsers name it; up to 1023 bytes.
    credential_id: so.Mapped[str] = so.mapped_column(sa.String(1400), unique=True)
    public_key: so.Mapped[bytes] = so.mapped_column(sa.LargeBinary)
    sign_count: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    # The random name the authenticator files the passkey under, in place of the username.
    user_handle: so.Mapped[str] = so.mapped_column(sa.String(100))
    name: so.Mapped[str] = so.mapped_column(sa.String(60))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()

    @so.validates("name")
    def drop_forbidden_characters(self, key: str, value: str | None) -> str | None:
        """Keep characters XML forbids out of the row, whichever way the text came in."""
        return xml_safe(value)


class SpentChallenge(db.Model):
    """A passkey challenge already answered, kept until it would have expired anyway.

    The challenge travels in the session cookie, and an old copy of a cookie still holds it:
    this table is what makes an answer count once.
    """

    digest: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    spent_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)


class RecoveryCode(db.Model):
    """A one-time code that signs its owner in without a passkey; only a salted hash is kept."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    code_hash: so.Mapped[str] = so.mapped_column(sa.String(100))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class MailState(enum.StrEnum):
    """Where a message in the outbox stands."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # given up after MAIL_MAX_ATTEMPTS


class MailMessage(db.Model):
    """One message in the outbox; the row, not the queue, says whether it went."""

    __table_args__ = (
        sa.Index("ix_mail_message_due", "state", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # Whom it is for; gone with them, unsent mail included.
    user_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    # One message per key, however often the work that makes it is repeated.
    key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    to_address: so.Mapped[str] = so.mapped_column(sa.String(254))
    subject: so.Mapped[str] = so.mapped_column(sa.String(200))
    # Text and HTML, encrypted: a message can hold a sign-in link.
    body_encrypted: so.Mapped[str] = so.mapped_column(sa.Text)
    state: so.Mapped[str] = so.mapped_column(sa.String(16), default=MailState.PENDING)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    next_attempt_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
