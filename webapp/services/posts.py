"""Posts: publishing, editing and deleting them, the complaint lifecycle, and who may see what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import url_for
from sqlalchemy.exc import IntegrityError

from webapp import networks
from webapp.extensions import db
from webapp.models import (
    VISIBLE_MODERATION,
    Business,
    BusinessReply,
    Channel,
    ComplaintStatus,
    Crosspost,
    CrosspostState,
    Kind,
    Moderation,
    Post,
    User,
    Visibility,
    parse_id,
    utcnow,
)
from webapp.services import businesses, challenge, crosspost, owners, stats, submissions


def with_people(stmt: sa.Select, *, author: bool = True, business: bool = True) -> sa.Select:
    """Load each post's author, business and wall reply in the same query, and its crossposts.

    A list of one business's or one person's posts leaves that one out with `business=False`
    or `author=False`: the caller holds it, so each post finds it in the session without a
    query, and the join would only read the same row once per post.
    """
    people = [Post.author] * author + [Post.business] * business
    return stmt.options(
        *(so.joinedload(relation) for relation in people),
        so.selectinload(Post.crossposts),
        so.joinedload(Post.wall_reply),
    )


def public_posts(*, author: bool = True, business: bool = True) -> sa.Select:
    """Select the posts anyone may see, with their authors and businesses (see with_people)."""
    return with_people(
        sa.select(Post).where(Post.is_on_wall.is_(True), Post.moderation.in_(VISIBLE_MODERATION)),
        author=author,
        business=business,
    )


def wall_posts() -> sa.Select:
    """Select everyone's public praise."""
    return public_posts().where(Post.kind == Kind.PRAISE)


def business_posts(business: Business, kind: str) -> sa.Select:
    """Select a business's public praise or complaints; the caller holds the business."""
    return public_posts(business=False).where(Post.business_id == business.id, Post.kind == kind)


def business_wall_posts(business: Business, kind: str) -> sa.Select:
    """Select a business's public praise or complaints, with the complaint each praise fixes."""
    return business_posts(business, kind).options(so.joinedload(Post.fixes))


def unanswered_praise(business: Business, per_page: int) -> sa.Select:
    """Select public, named praise whose public status named the business, still unanswered
    there or on the wall.

    Anonymous praise is left out: its link to the status would name its author.
    """
    waiting = sa.and_(
        Crosspost.business_id == business.id,
        Crosspost.state == CrosspostState.SENT,
        Crosspost.visibility == Visibility.PUBLIC,
        Crosspost.mention_resolved.is_(True),
        Crosspost.sent_at.is_not(None),
        Crosspost.remote_url.is_not(None),
        Crosspost.replied_at.is_(None),
    )
    named = public_posts(business=False).where(
        Post.shows_name.is_(True), ~sa.exists().where(BusinessReply.post_id == Post.id)
    )
    named = named.options(so.joinedload(Post.fixes))
    if few_unanswered(business, per_page):
        # Read the few from ix_crosspost_business_unanswered and sort them, rather than walk
        # the praise to find them. Nothing here may lead a planner to a post index instead:
        # a crosspost's business is its post's (kept in step by webapp/services/stats.py), and
        # the kind is compared as an expression. SQLite without statistics guesses any
        # indexed equality finds ten rows, and would walk every praise newest first.
        return named.where(
            Post.id.in_(sa.select(Crosspost.post_id).where(waiting)),
            Post.kind.concat("") == Kind.PRAISE,
        )
    # Many wait: walking the business's praise newest first finds a page of them soon.
    return named.where(
        Post.business_id == business.id,
        Post.kind == Kind.PRAISE,
        sa.exists().where(Crosspost.post_id == Post.id, waiting),
    )


def few_unanswered(business: Business, per_page: int) -> bool:
    """Tell whether reading all the business's unanswered statuses costs less than walking its
    praise until a page of them is found, judged by its counters."""
    waiting = max(business.mentioned_count - business.replied_count, 0)
    # Sorting all `waiting` against walking about per_page × praise ÷ waiting posts.
    return waiting * waiting <= per_page * business.praise_count


def latest_praise(business: Business, limit: int) -> list[Post]:
    """Return a business's newest public praise."""
    return list(
        db.session.scalars(
            business_posts(business, Kind.PRAISE)
            .order_by(Post.created_at.desc(), Post.id.desc())
            .limit(limit)
        ).unique()
    )


def profile_posts(user: User) -> sa.Select:
    """Select a person's public posts that carry their name; the caller holds the person."""
    return public_posts(author=False).where(Post.author_id == user.id, Post.shows_name.is_(True))


def my_posts(user: User) -> sa.Select:
    """Select all of a person's own posts; the caller holds the person."""
    return with_people(sa.select(Post).where(Post.author_id == user.id), author=False)


def can_view(post: Post, user: User | None) -> bool:
    """Tell whether this user may open the post's page."""
    if post.is_public:
        return True
    if user is None or not user.is_authenticated:
        return False
    return post.author_id == user.id or user.is_admin


def fixable_complaint(user: User, complaint_id: str | int | None) -> Post | None:
    """Return the user's own resolved complaint that a new praise may follow up."""
    wanted = parse_id(complaint_id)
    post = db.session.get(Post, wanted) if wanted else None
    if post is None or post.author_id != user.id or post.kind != Kind.COMPLAINT:
        return None
    if post.complaint_status != ComplaintStatus.RESOLVED:
        return None
    return post


@dataclass(frozen=True)
class Crossposting:
    """The wish to send a post to its author's accounts on the networks too, and how."""

    visibility: str = Visibility.PUBLIC
    spoiler_text: str | None = None
    networks: tuple[str, ...] = ("mastodon",)


@dataclass(frozen=True)
class Draft:
    """A post as its author wrote it, checked and ready to publish or to save over an old one."""

    kind: Kind
    business: Business | businesses.NewBusiness
    body: str
    happened_on: date
    rating: int | None = None
    channel: str = Channel.IN_PERSON
    make_right: str | None = None
    is_on_wall: bool = True
    shows_name: bool = True
    fixes: int | None = None  # the id of the author's resolved complaint this praise follows up
    crosspost: Crossposting | None = None


@dataclass(frozen=True)
class Published:
    """The post a submission made, the crossposts to deliver, and whether it is new."""

    post: Post
    crossposts: tuple[Crosspost, ...] = ()
    is_new: bool = True


def earlier_submission(author: User, key: str | None) -> Published | None:
    """Return what an earlier send of the same submission published, if it got through."""
    earlier = submissions.earlier_post(author, key)
    return Published(earlier, is_new=False) if earlier is not None else None


def publish(
    author: User,
    draft: Draft,
    key: str | None = None,
    *,
    written_at: datetime | None = None,
) -> Published:
    """Write a new post, count it toward the challenge, and start its crosspost if wished.

    Flushes but does not commit: the caller commits, and hands a lost race for the key to
    `lost_race`. `written_at` backdates a post imported or made up for a demo.

    :raise sqlalchemy.exc.IntegrityError: when a concurrent request claimed the key first.
    """
    earlier = earlier_submission(author, key)
    if earlier is not None:
        return earlier
    # Before the post joins the session: looking the connections up then writes nothing, so
    # it happens before the write lock is taken.
    remember_networks(author, draft.crosspost)
    post = Post()
    if written_at is not None:
        post.created_at = written_at
    fill_post(post, draft, author)
    complaint = fixable_complaint(author, draft.fixes) if post.kind == Kind.PRAISE else None
    if complaint is not None and complaint.business_id == post.business.id:
        post.fixes = complaint
    # Set last: the author's posts would take an unfinished post into the session early.
    post.author = author
    # Before the flush, so the key goes in with the post: one INSERT, no UPDATE after it.
    submissions.claim(post, key)
    db.session.add(post)
    db.session.flush()
    challenge.record_praise(post)
    return Published(post, start_crossposts(post, draft.crosspost))


def lost_race(author: User, key: str | None, error: IntegrityError) -> Published:
    """Roll back a publish whose key a concurrent send claimed first, and return that post.

    :raise sqlalchemy.exc.IntegrityError: the error given, when it wasn't about the key.
    """
    db.session.rollback()
    earlier = earlier_submission(author, key)
    if earlier is None:
        raise error
    return earlier


def remember_networks(author: User, wish: Crossposting | None) -> None:
    """Keep which connected networks the author chose, as the switches' default next time."""
    chosen = wish.networks if wish is not None else ()
    for name in networks.names():
        if networks.get(name).account_of(author) is not None:
            setattr(author, f"post_to_{name}", name in chosen)


def start_crossposts(post: Post, wish: Crossposting | None) -> tuple[Crosspost, ...]:
    """Add a crosspost row for each network the author asked for and is connected to."""
    if wish is None:
        return ()
    started = []
    for name in wish.networks:
        account = networks.get(name).account_of(post.author)
        if account is None:
            continue
        # Only Mastodon has audiences and content warnings; a Bluesky post is public.
        mastodon = name == "mastodon"
        started.append(
            crosspost.start(
                post,
                account,
                visibility=wish.visibility if mastodon else Visibility.PUBLIC,
                spoiler_text=wish.spoiler_text if mastodon else None,
                post_url=url_for("posts.show", post_id=post.id, _external=True),
            )
        )
    return tuple(started)


def business_for(draft: Draft, author: User) -> Business:
    """Return the business a draft is about, adding it first when it is new."""
    if isinstance(draft.business, Business):
        return draft.business
    return businesses.create_business(
        draft.business.name,
        website=draft.business.website,
        handle=draft.business.handle,
        bluesky_handle=draft.business.bluesky_handle,
        created_by=author,
    )


def fill_post(post: Post, draft: Draft, author: User) -> None:
    """Copy a draft onto an author's post."""
    post.kind = draft.kind
    post.business = business_for(draft, author)
    post.body = draft.body
    post.rating = draft.rating
    post.happened_on = draft.happened_on
    post.channel = draft.channel
    post.is_on_wall = draft.is_on_wall
    post.shows_name = draft.shows_name
    if post.kind == Kind.COMPLAINT:
        post.make_right = draft.make_right or None
        post.complaint_status = post.complaint_status or ComplaintStatus.OPEN
        post.fixes = None
    else:
        post.make_right = None
        post.complaint_status = None
        post.resolved_at = None
        post.resolution_note = None


def update_post(post: Post, draft: Draft) -> Post:
    """Save an edit over a post.

    An owner featured, and an admin restored, the words they read: new words or another
    business end the feature, and any edit puts a restored post back in reach of reports.
    """
    before = endorsed_content(post)
    fill_post(post, draft, post.author)
    db.session.flush()
    if endorsed_content(post) != before:
        owners.end_feature(post)
    if post.fixes is not None and post.fixes.business_id != post.business_id:
        post.fixes = None  # a follow-up of one business's complaint can't praise another
    if post.moderation == Moderation.RESTORED:
        post.moderation = Moderation.OK
    challenge.record_praise(post)
    return post


def endorsed_content(post: Post) -> tuple:
    """Return what an owner's feature vouches for: the business, the kind and the words."""
    return (post.business_id, post.kind, post.body, post.rating, post.make_right)


def delete_post(post: Post) -> list[Crosspost]:
    """Delete a post (its statuses on the networks go too); return the crossposts left to delete.

    Challenge progress drops with the post because it is counted, not stored.
    """
    leftover = crosspost.start_deleting(post)
    db.session.delete(post)
    db.session.flush()
    return leftover


def resolve_complaint(post: Post, note: str | None) -> None:
    """Mark a complaint resolved now; resolving it again changes nothing."""
    if post.complaint_status == ComplaintStatus.RESOLVED:
        return
    post.complaint_status = ComplaintStatus.RESOLVED
    post.resolved_at = utcnow()
    post.resolution_note = note or None


def reopen_complaint(post: Post) -> None:
    """Put a resolved complaint back to open."""
    post.complaint_status = ComplaintStatus.OPEN
    post.resolved_at = None
    post.resolution_note = None


def shown_together(first: Post, second: Post) -> bool:
    """Tell whether two linked posts may point at each other in public.

    Linking a named post to an anonymous one would name the anonymous author, and a follow-up
    only follows up a complaint about the same business.
    """
    return (
        first.is_public
        and second.is_public
        and first.shows_name == second.shows_name
        and first.business_id == second.business_id
    )


def fixed_complaint(praise: Post) -> Post | None:
    """Return the complaint a praise followed up, when the link may be shown."""
    complaint = praise.fixes
    return complaint if complaint is not None and shown_together(praise, complaint) else None


def arcs(page_posts: list[Post]) -> dict[int, list[tuple[Post, Post]]]:
    """Find each wall post's complaint-to-praise arcs, as (complaint, praise) pairs by post id.

    A praise has the complaint it followed up; a resolved complaint, the praise that followed
    it. Pairs that would name an anonymous author are left out. One query at most.
    """
    found: dict[int, list[tuple[Post, Post]]] = {}
    for post in page_posts:
        complaint = fixed_complaint(post) if post.is_praise and post.fixes_id else None
        if complaint is not None and complaint.complaint_status == ComplaintStatus.RESOLVED:
            found[post.id] = [(complaint, post)]
    resolved = {p.id: p for p in page_posts if p.complaint_status == ComplaintStatus.RESOLVED}
    if resolved:
        # Only each follow-up's own columns show in an arc: no author, business or replies.
        praise = db.session.scalars(
            sa.select(Post).where(
                stats.is_public(), Post.fixes_id.in_(resolved), Post.kind == Kind.PRAISE
            )
        )
        # Sorted here: an ORDER BY lets SQLite walk every praise by date instead of by fixes_id.
        for post in sorted(praise, key=lambda p: (p.created_at, p.id)):
            complaint = resolved[post.fixes_id]
            if shown_together(post, complaint):
                found.setdefault(complaint.id, []).append((complaint, post))
    return found


def follow_ups(complaint: Post) -> list[Post]:
    """Return the praise that followed up a complaint, where the link may be shown."""
    praise = db.session.scalars(public_posts().where(Post.fixes_id == complaint.id))
    return [post for post in praise if shown_together(post, complaint)]


# Nobody anywhere is further ahead of UTC than this, so "today" there is not the future.
LATEST_TIMEZONE = timedelta(hours=14)


def latest_today() -> date:
    """Return the latest date that is today somewhere on Earth."""
    return (datetime.now(UTC) + LATEST_TIMEZONE).date()
