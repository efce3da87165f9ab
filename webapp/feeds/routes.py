"""Atom feeds and the business badge: public posts to take elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Blueprint, abort, make_response, render_template, request, url_for

from webapp.extensions import db
from webapp.infra import fragments
from webapp.infra.fragments import POSTS, business_scope, user_scope
from webapp.models import Business, Post, User
from webapp.services import cards, challenge, feeds, posts, stats
from webapp.web import links, lookups
from webapp.web.caching import cacheable
from webapp.web.lookups import business_or_404, user_or_404

bp = Blueprint("feeds", __name__)
SITE_START = datetime(2026, 1, 1, tzinfo=UTC)  # fixes the date part of every feed's tag: URI


def newest(stmt) -> list[Post]:
    """Return the newest public posts of a query, for a feed."""
    return list(
        db.session.scalars(
            stmt.order_by(Post.created_at.desc(), Post.id.desc()).limit(feeds.FEED_SIZE)
        ).unique()
    )


def feed_response(
    title: Callable[[], str],
    specific: str,
    page_url: Callable[[], str],
    scope: str,
    items: Callable[[], list[Post]],
):
    """Render posts as an Atom feed, kept until its scope changes, cacheable and revalidatable.

    The title and page address are read while rendering, from what the kept feed's key stands for.
    """
    host = request.host

    def render() -> str:
        """Render the feed, its time of last change on the first line."""
        found = items()
        updated = max((p.last_changed_at for p in found), default=SITE_START)
        body = feeds.atom(
            title=title(),
            feed_id=feeds.tag_uri(host, SITE_START, specific),
            self_url=request.base_url,
            page_url=page_url(),
            posts=found,
            link_for=lambda post: links.post_url(post.id, _external=True),
            id_for=lambda post: feeds.tag_uri(host, post.created_at, f"post:{post.id}"),
            updated=updated,
        )
        return f"{updated.isoformat()}\n{body.decode()}"

    kept = str(fragments.cached("feed", (specific, request.base_url), (scope,), render))
    updated, _, body = kept.partition("\n")
    response = make_response(body.encode())
    response.mimetype = "application/atom+xml"
    return cacheable(response, last_modified=datetime.fromisoformat(updated))


@bp.get("/wall/feed.atom")
def wall():
    """Everyone's latest public praise, as Atom."""
    return feed_response(
        lambda: "Praisewall: the latest praise",
        "wall",
        lambda: url_for("main.wall", _external=True),
        POSTS,
        lambda: newest(posts.wall_posts()),
    )


@bp.get("/b/<slug>/feed.atom")
def business(slug: str):
    """A business's public praise and complaints, as Atom."""
    # Only a feed rendered afresh reads the business; a kept one needs its id alone.
    business_id = lookups.business_id_or_404(slug)
    return feed_response(
        lambda: f"{db.get_or_404(Business, business_id).name} on Praisewall",
        f"business:{business_id}",
        lambda: url_for("businesses.wall", slug=slug, _external=True),
        business_scope(business_id),
        lambda: newest(posts.public_posts(business=False).where(Post.business_id == business_id)),
    )


@bp.get("/u/<username>/feed.atom")
def person(username: str):
    """A person's public, named posts, as Atom."""
    # Only a feed rendered afresh reads the person; a kept one needs their id alone.
    user_id = lookups.user_id_or_404(username)

    def user() -> User:
        """Read the person, for a feed rendered afresh."""
        return db.get_or_404(User, user_id)

    return feed_response(
        lambda: f"{user().username} on Praisewall",
        f"user:{user_id}",
        lambda: url_for("main.profile", username=user().username, _external=True),
        user_scope(user_id),
        lambda: newest(posts.profile_posts(user())),
    )


@bp.get("/posts/<int:post_id>/card.png")
def post_card(post_id: int):
    """A 1200×630 share card for a public post (its Open Graph image)."""
    post = db.get_or_404(Post, post_id)
    if not post.is_public:
        abort(404)
    response = make_response(cards.post_card(post))
    response.mimetype = "image/png"
    return cacheable(response)


@bp.get("/b/<slug>/card.png")
def wall_card(slug: str):
    """A 1200×630 share card of a wall and its numbers (its Open Graph image)."""
    business = business_or_404(slug)
    response = make_response(cards.wall_card(business, stats.business_numbers(business)))
    response.mimetype = "image/png"
    return cacheable(response)


@bp.get("/u/<username>/challenge.png")
def challenge_card(username: str):
    """A 1200×630 card of a person's challenge progress, counted from their named posts."""
    user = user_or_404(username)
    progress = challenge.public_progress(user)
    image = cards.challenge_card(user.username, progress, challenge.completed_rounds(user))
    response = make_response(image)
    response.mimetype = "image/png"
    return cacheable(response)


@bp.get("/b/<slug>/badge.svg")
def badge(slug: str):
    """A small badge with the business's praise count and Mastodon reply rate."""
    found = business_or_404(slug)
    numbers = stats.business_numbers(found)
    parts = [f"praise {numbers.praise}"]
    if numbers.reply_rate is not None:
        parts.append(f"replies {round(numbers.reply_rate * 100)}%")
    text = " · ".join(parts)
    badge = cards.Badge(label="Praisewall", text=text)
    svg = render_template("feeds/badge.svg", badge=badge, name=found.name)
    response = make_response(svg)
    response.mimetype = "image/svg+xml"
    return cacheable(response)
