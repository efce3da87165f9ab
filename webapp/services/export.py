"""Everything a person has given us, as one JSON document."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.infra.links import safe_remote_url
from webapp.models import (
    ApiToken,
    BlueskyAccount,
    Business,
    BusinessManager,
    BusinessReply,
    ChallengeRound,
    Crosspost,
    MailMessage,
    Passkey,
    Post,
    RecoveryCode,
    ReplyReport,
    Report,
    User,
)
from webapp.services import challenge, owners

# Columns exported under another name, by table.
EXPORTED_AS = {
    "post": {
        "is_on_wall": "on_public_wall",
        "make_right": "what_would_make_it_right",
        "fixes_id": "follows_up_complaint",
        "business_id": "business",
    },
    "mastodon_account": {"created_at": "connected_at", "server_id": "server"},
    "bluesky_account": {"created_at": "connected_at", "pds_url": "server"},
    "report": {"post_id": "post"},
    "user": {"new_email": "unconfirmed_email"},
    "business_manager": {"business_id": "business"},
    "business_reply": {"post_id": "post", "business_id": "business"},
    "reply_report": {"reply_id": "reply"},
}
CREDENTIAL = "a credential, not the person's data"
# Columns left out of the export, each with the reason. Every other column is exported; the
# tests hold each table to this, so a new column is either exported or listed here.
NOT_EXPORTED = {
    "user": {
        "password_hash": CREDENTIAL,
        "session_token": CREDENTIAL,
        "reset_counter": "counts reset links, so old ones stop working",
    },
    "mail_message": {
        "user_id": "the person exporting",
        "key": "an internal key that stops duplicate messages",
        "body_encrypted": "may hold a sign-in link, a credential",
        "next_attempt_at": "our queue's schedule",
    },
    "post": {"author_id": "the person exporting"},
    "crosspost": {
        "post_id": "given by the post it sits under",
        "account_id": "the person's own Mastodon account, exported once",
        "business_id": "given by the post's business",
        "idempotency_key": "an internal key that stops duplicate statuses",
        "next_attempt_at": "our queue's schedule",
        "first_attempt_at": "our queue's schedule",
        "next_reply_check_at": "our queue's schedule",
        "reply_checked_at": "our queue's schedule",
        "mention_account_id": "the business's id on the person's server",
    },
    "report": {"reporter_id": "the person exporting"},
    "business_manager": {"user_id": "the person exporting"},
    "business_reply": {
        "author_id": "the person exporting",
        "seen_at": "when the post's author read it: theirs, not the writer's",
    },
    "reply_report": {"reporter_id": "the person exporting"},
    "challenge_round": {"user_id": "the person exporting"},
    "api_token": {
        "user_id": "the person exporting",
        "token_hash": CREDENTIAL,
    },
    "mastodon_account": {
        "user_id": "the person exporting",
        "access_token": CREDENTIAL,
    },
    "bluesky_account": {
        "user_id": "the person exporting",
        "access_token": CREDENTIAL,
        "refresh_token": CREDENTIAL,
        "dpop_key": CREDENTIAL,
        "dpop_nonces": "the servers' latest one-time numbers, for our next request",
        "token_version": "counts refreshes, so two at once can't both keep a token",  # nosec B105 # a reason, not a secret
        "expires_at": "when our access token needs refreshing",
    },
    "audit_entry": {"actor_id": "given as actor_name"},
    "passkey": {
        "user_id": "the person exporting",
        "credential_id": CREDENTIAL,
        "public_key": CREDENTIAL,
        "sign_count": "the device's counter, kept to spot a copied key",
        "user_handle": "a random name the device files the passkey under",
    },
    "recovery_code": {
        "user_id": "the person exporting",
        "code_hash": CREDENTIAL,
    },
}


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
        "moderation": post.moderation,
        "featured_at": iso(post.featured_at),
        "featured_by_id": post.featured_by_id,
        "restored_at": iso(post.restored_at),
        "submission_key": post.submission_key,
        "created_at": iso(post.created_at),
        "updated_at": iso(post.updated_at),
        "crossposts": [crosspost_json(crosspost) for crosspost in post.crossposts],
    }


def crosspost_json(crosspost: Crosspost) -> dict:
    """Describe a post's status on Mastodon: its state, where it is, and any reply."""
    return {
        "id": crosspost.id,
        "network": crosspost.network,
        "state": crosspost.state,
        "visibility": crosspost.visibility,
        "spoiler_text": crosspost.spoiler_text,
        "post_url": crosspost.post_url,
        "status_text": crosspost.status_text,
        "mention_acct": crosspost.mention_acct,
        "mention_resolved": crosspost.mention_resolved,
        "attempts": crosspost.attempts,
        "last_error": crosspost.last_error,
        "remote_id": crosspost.remote_id,
        "remote_url": safe_remote_url(crosspost.remote_url),
        "sent_at": iso(crosspost.sent_at),
        "replied_at": iso(crosspost.replied_at),
        "reply_url": safe_remote_url(crosspost.reply_url),
        "reply_text": crosspost.reply_text,
        "created_at": iso(crosspost.created_at),
    }


def audit_json(entry: AuditEntry) -> dict:
    """Describe an audit entry by or about the person."""
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor_name": entry.actor_name,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "detail": entry.detail,
    }


def export_user(user: User) -> dict:
    """Gather everything we hold about the person; credentials only by name."""
    user_posts = db.session.scalars(
        sa.select(Post)
        .where(Post.author_id == user.id)
        .options(so.joinedload(Post.business), so.selectinload(Post.crossposts))
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
    helping = db.session.execute(
        sa.select(BusinessManager, Business.slug)
        .join(Business, Business.id == BusinessManager.business_id)
        .where(BusinessManager.user_id == user.id)
        .order_by(BusinessManager.id)
    ).all()
    answered = db.session.execute(
        sa.select(BusinessReply, Business.slug)
        .join(Business, Business.id == BusinessReply.business_id)
        .where(BusinessReply.author_id == user.id)
        .order_by(BusinessReply.id)
    ).all()
    reply_reports = db.session.scalars(
        sa.select(ReplyReport).where(ReplyReport.reporter_id == user.id).order_by(ReplyReport.id)
    ).all()
    account = user.mastodon_account
    tokens = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    ).all()
    keys = db.session.scalars(
        sa.select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.id)
    ).all()
    codes = db.session.scalars(
        sa.select(RecoveryCode).where(RecoveryCode.user_id == user.id).order_by(RecoveryCode.id)
    ).all()
    reports = db.session.scalars(
        sa.select(Report).where(Report.reporter_id == user.id).order_by(Report.id)
    ).all()
    mail = db.session.scalars(
        sa.select(MailMessage).where(MailMessage.user_id == user.id).order_by(MailMessage.id)
    ).all()
    audit_entries = db.session.scalars(
        sa.select(AuditEntry)
        .where(
            sa.or_(
                AuditEntry.actor_id == user.id,
                sa.and_(AuditEntry.target_type == "user", AuditEntry.target_id == user.id),
            )
        )
        .order_by(AuditEntry.id)
    ).all()
    return {
        "account": {
            "id": user.id,
            "username": user.username,
            "is_admin": user.is_admin,
            "created_at": iso(user.created_at),
            "email": user.email,
            "unconfirmed_email": user.new_email,
            # The emails they chose, each with when it was turned on (None: off).
            "notify_replies_since": iso(user.notify_replies_since),
            "notify_status_since": iso(user.notify_status_since),
            "notify_rounds_since": iso(user.notify_rounds_since),
            "notify_nudge_since": iso(user.notify_nudge_since),
            "post_to_mastodon": user.post_to_mastodon,
            "post_to_bluesky": user.post_to_bluesky,
        },
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
                "verified_website": safe_remote_url(b.verified_website),
                "featured_posts": [p.id for p in owners.featured_posts(b)],
            }
            for b in managed
        ],
        "managing_for_owner": [
            {"id": m.id, "business": slug, "added_at": iso(m.added_at)} for m, slug in helping
        ],
        # What they wrote under customers' posts, speaking for a business.
        "business_replies_written": [
            {
                "id": r.id,
                "post": r.post_id,
                "business": slug,
                "body": r.body,
                "created_at": iso(r.created_at),
                "edited_at": iso(r.edited_at),
                "moderation": r.moderation,
            }
            for r, slug in answered
        ],
        "reply_reports_filed": [
            {
                "id": r.id,
                "reply": r.reply_id,
                "reason": r.reason,
                "detail": r.detail,
                "created_at": iso(r.created_at),
            }
            for r in reply_reports
        ],
        # Where it is and since when; its token is a credential, kept out like the API tokens'.
        "mastodon_account": {
            "id": account.id,
            "server": account.server.base_url,
            "remote_id": account.remote_id,
            "acct": account.acct,
            "profile_url": safe_remote_url(account.profile_url),
            "scopes": account.scopes,
            "needs_login": account.needs_login,
            "connected_at": iso(account.created_at),
        }
        if account is not None
        else None,
        "bluesky_account": bluesky_json(user.bluesky_account),
        "challenge_rounds": [
            {
                "id": r.id,
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
                "id": t.id,
                "name": t.name,
                "created_at": iso(t.created_at),
                "last_used_at": iso(t.last_used_at),
            }
            for t in tokens
        ],
        # Names and dates only: the keys are credentials.
        "passkeys": [
            {
                "id": p.id,
                "name": p.name,
                "created_at": iso(p.created_at),
                "last_used_at": iso(p.last_used_at),
            }
            for p in keys
        ],
        # How many are left and when they were made; the codes themselves are never kept.
        "recovery_codes": [{"id": c.id, "created_at": iso(c.created_at)} for c in codes],
        "reports_filed": [
            {
                "id": r.id,
                "post": r.post_id,
                "reason": r.reason,
                "detail": r.detail,
                "created_at": iso(r.created_at),
            }
            for r in reports
        ],
        # What we sent them, without the bodies: a body can hold a link that signs them in.
        "mail": [
            {
                "id": m.id,
                "to_address": m.to_address,
                "subject": m.subject,
                "state": m.state,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "sent_at": iso(m.sent_at),
                "created_at": iso(m.created_at),
            }
            for m in mail
        ],
        # Admin actions they took, and those taken on their account.
        "audit_entries": [audit_json(entry) for entry in audit_entries],
    }


def bluesky_json(account: BlueskyAccount | None) -> dict | None:
    """Describe the person's Bluesky connection: who, where, since when; never its secrets."""
    if account is None:
        return None
    return {
        "id": account.id,
        "did": account.did,
        "handle": account.handle,
        "server": account.pds_url,
        "kind": account.kind,
        "issuer": account.issuer,
        "scopes": account.scopes,
        "needs_login": account.needs_login,
        "connected_at": iso(account.created_at),
    }
