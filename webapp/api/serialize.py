"""What the API says about businesses, posts and people: only what their pages show."""

from __future__ import annotations

from datetime import date, datetime

from flask import url_for

from webapp.infra.links import safe_remote_url
from webapp.models import CHALLENGE_GOAL, Business, Crosspost, Kind, Post, User
from webapp.services import businesses, posts, tone
from webapp.services.stats import BusinessNumbers
from webapp.web.pagination import Page


def iso(value: date | datetime | None) -> str | None:
    """Format a date or time as ISO 8601, keeping None."""
    return value.isoformat() if value is not None else None


def business_summary(business: Business) -> dict:
    """Describe a business in a search result, with links to its wall and its API resource."""
    return businesses.business_json(business) | {
        "url": url_for("businesses.wall", slug=business.slug, _external=True),
        "api_url": url_for("api.business", slug=business.slug, _external=True),
    }


def numbers_json(numbers: BusinessNumbers) -> dict:
    """Give a business's numbers, as its wall shows them."""
    return {
        "praise": numbers.praise,
        "complaints": numbers.complaints,
        "resolved": numbers.resolved,
        "resolved_share": numbers.resolved_share,
        "median_days_to_resolve": numbers.median_days_to_resolve,
        "average_rating": numbers.average_rating,
        "mentioned": numbers.mentioned,
        "replied": numbers.replied,
        "answered_on_wall": numbers.wall_replied,
        "reply_rate": numbers.reply_rate,
        "median_reply_seconds": (
            numbers.median_reply.total_seconds() if numbers.median_reply is not None else None
        ),
        "replied_by_network": dict(numbers.replied_on),
    }


def business_detail(business: Business, numbers: BusinessNumbers) -> dict:
    """Describe a business with its numbers and where to find its posts."""
    return business_summary(business) | {
        "verified": business.is_verified,
        "numbers": numbers_json(numbers),
        "posts_url": url_for("api.business_posts", slug=business.slug, _external=True),
    }


def post_json(post: Post) -> dict:
    """Describe a public post as its page shows it to anyone."""
    complaint = post.kind == Kind.COMPLAINT
    follows_up = posts.fixed_complaint(post) if post.fixes_id else None
    reply = post.business_reply
    author = post.shown_author
    return {
        "id": post.id,
        "kind": post.kind,
        "url": url_for("posts.show", post_id=post.id, _external=True),
        "api_url": url_for("api.post", post_id=post.id, _external=True),
        "business": {
            "id": post.business.id,
            "name": post.business.name,
            "slug": post.business.slug,
            "api_url": url_for("api.business", slug=post.business.slug, _external=True),
        },
        "author": author,
        "author_url": url_for("main.profile", username=author, _external=True) if author else None,
        "body": post.body,
        "rating": post.rating,
        "channel": post.channel,
        "happened_on": iso(post.happened_on),
        "created_at": iso(post.created_at),
        "make_right": post.make_right if complaint else None,
        "complaint_status": post.complaint_status if complaint else None,
        "resolved_at": iso(post.resolved_at) if complaint else None,
        "resolution_note": post.resolution_note if complaint else None,
        "follows_up": follows_up.id if follows_up else None,
        "business_reply": (
            {
                "replied_at": iso(reply.replied_at),
                "url": safe_remote_url(reply.reply_url) if post.shows_mastodon_links else None,
                "network": reply.network,
            }
            if reply
            else None
        ),
        "wall_reply": wall_reply_json(post),
    }


def wall_reply_json(post: Post) -> dict | None:
    """Describe the business's answer on its wall under the post, or None."""
    reply = post.shown_wall_reply
    if reply is None:
        return None
    return {
        "body": reply.body,
        "created_at": iso(reply.created_at),
        "edited_at": iso(reply.edited_at),
        "seconds_to_reply": int(reply.delay.total_seconds()),
    }


def own_post_json(post: Post) -> dict:
    """Describe a post to its author: the public view plus its privacy and delivery state."""
    outgoing = post.crosspost_on("mastodon")
    return post_json(post) | {
        "on_wall": post.is_on_wall,
        "show_name": post.shows_name,
        "crosspost": crosspost_state(outgoing) if outgoing is not None else None,
        "crossposts": [
            {"network": crosspost.network} | crosspost_state(crosspost)
            for crosspost in post.crossposts
        ],
        "tone_suggestions": tone.tone_suggestions(post.body) if post.kind == Kind.COMPLAINT else [],
    }


def crosspost_state(crosspost: Crosspost) -> dict:
    """Describe where a post's status on one network stands, for its author."""
    return {
        "state": crosspost.state,
        "url": safe_remote_url(crosspost.remote_url),
        "error": crosspost.last_error,
    }


def page_json(page: Page, endpoint: str, **args) -> dict:
    """Give a page of posts with the cursor, and link, for the next one."""
    return {
        "items": [post_json(post) for post in page.items],
        "next_cursor": page.next_cursor,
        "next": (
            url_for(endpoint, cursor=page.next_cursor, _external=True, **args)
            if page.next_cursor
            else None
        ),
    }


def challenge_json(user: User, completed: int) -> dict:
    """Give what a person's public profile says about their challenge."""
    return {
        "username": user.username,
        "url": url_for("main.profile", username=user.username, _external=True),
        "member_since": iso(user.created_at),
        "goal": CHALLENGE_GOAL,
        "completed_rounds": completed,
    }
