"""Everything a person has given us, as one JSON document."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.extensions import db
from webapp.models import ApiToken, Business, ChallengeRound, Post, User
from webapp.services import challenge, owners


def iso(value) -> str | None:
    """Format a date or time as ISO 8601, keeping None."""
    return value.isoformat() if value is not None else None


def post_json(post: Post) -> dict:
    """Describe one of the person's posts."""
    return {
        "id": post.id,
        "kind": post.kind,
        "business": {
            "id": post.business_id,
            "name": post.business.name,
            "slug": post.business.slug,
        },
        "body": post.body,
        "rating": post.rating,
        "happened_on": iso(post.happened_on),
        "channel": post.channel,
        "on_public_wall": post.is_on_wall,
        "shows_name": post.shows_name,
        "what_would_make_it_right": post.make_right,
        "complaint_status": post.complaint_status,
        "resolved_at": iso(post.resolved_at),
        "resolution_note": post.resolution_note,
        "follows_up_complaint": post.fixes_id,
        "created_at": iso(post.created_at),
        "updated_at": iso(post.updated_at),
    }


def export_user(user: User) -> dict:
    """Gather the person's account, posts, businesses, challenge rounds and API tokens."""
    user_posts = db.session.scalars(
        sa.select(Post)
        .where(Post.author_id == user.id)
        .options(so.joinedload(Post.business))
        .order_by(Post.created_at, Post.id)
    ).all()
    added = db.session.scalars(
        sa.select(Business).where(Business.created_by_id == user.id).order_by(Business.id)
    ).all()
    rounds = db.session.scalars(
        sa.select(ChallengeRound)
        .where(ChallengeRound.user_id == user.id)
        .order_by(ChallengeRound.started_at)
    ).all()
    managed = db.session.scalars(
        sa.select(Business).where(Business.owner_id == user.id).order_by(Business.id)
    ).all()
    account = user.mastodon_account
    tokens = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    ).all()
    return {
        "account": {"username": user.username, "created_at": iso(user.created_at)},
        "posts": [post_json(post) for post in user_posts],
        "businesses_added": [
            {
                "id": b.id,
                "name": b.name,
                "slug": b.slug,
                "website": b.website,
                "handle": b.handle,
                "created_at": iso(b.created_at),
            }
            for b in added
        ],
        "businesses_managed": [
            {
                "name": b.name,
                "slug": b.slug,
                "claimed_at": iso(b.claimed_at),
                "website": b.website,
                "description": b.description,
                "verified_website": b.verified_website,
                "featured_posts": [p.id for p in owners.featured_posts(b)],
            }
            for b in managed
        ],
        # Where it is and since when; its token is a credential, kept out like the API tokens'.
        "mastodon_account": {
            "acct": account.acct,
            "profile_url": account.profile_url,
            "connected_at": iso(account.created_at),
        }
        if account is not None
        else None,
        "challenge_rounds": [
            {
                "started_at": iso(r.started_at),
                "completed_at": iso(r.completed_at),
                "goal": r.goal,
                "posts_counted": [p.id for p in challenge.progress(r).posts],
            }
            for r in rounds
        ],
        # Names and dates only: a token's hash is a credential, not the person's data.
        "api_tokens": [
            {
                "name": t.name,
                "created_at": iso(t.created_at),
                "last_used_at": iso(t.last_used_at),
            }
            for t in tokens
        ],
    }
