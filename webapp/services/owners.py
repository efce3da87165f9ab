"""Verified businesses: claiming a wall, the owner's details and featured praise.

An owner speaks for the business next to its customers; they never change, hide
or reorder a customer's words.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import requests
import sqlalchemy as sa
import sqlalchemy.orm as so
from mastodon.errors import MastodonError

from webapp import audit
from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.http import ServerProblem
from webapp.infra.links import safe_remote_url
from webapp.models import (
    VISIBLE_MODERATION,
    Business,
    BusinessManager,
    Kind,
    Post,
    User,
    utcnow,
)
from webapp.networks.bluesky import identity as bluesky_identity
from webapp.networks.bluesky.auth import SessionEnded
from webapp.networks.bluesky.client import Client as BlueskyClient
from webapp.networks.bluesky.client import XrpcError
from webapp.networks.bluesky.oauth import OAuthRefused
from webapp.networks.mastodon import client, errors, handles, signin
from webapp.services import businesses, site_proof

FEATURE_LIMIT = 3
DESCRIPTION_MAX = 500
RECHECK_EVERY = timedelta(days=1)
RECHECK_RETRY = timedelta(hours=1)
# A claim whose owner's server (or handle domain) gives no answer for this long is dropped.
RECHECK_GRACE = timedelta(days=3)
RECHECK_BATCH = 50
log = logging.getLogger(__name__)
MANAGER_LIMIT = 5
# How a claim is proven, and proven again: signed in as the handle, or a token on the website.
MASTODON = "mastodon"
BLUESKY = "bluesky"
WEBSITE = "website"


class Refused(Exception):
    """An owner action that can't be done, with the reason in words for the person."""


class Unreachable(Refused):
    """A server that gave no answer just now; asked again later, it may prove the claim."""


def is_owner(business: Business, user: User | None) -> bool:
    """Tell whether this person has claimed the business's wall."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and business.owner_id is not None
        and business.owner_id == user.id
    )


# Built once: a signed-in person's every look at a claimed wall asks it.
MANAGER = sa.select(BusinessManager.id).where(
    BusinessManager.business_id == sa.bindparam("business_id"),
    BusinessManager.user_id == sa.bindparam("user_id"),
)


def is_manager(business: Business, user: User | None) -> bool:
    """Tell whether the verified owner lets this person manage the wall with them."""
    if user is None or not getattr(user, "is_authenticated", False) or business.owner_id is None:
        return False
    found = db.session.scalar(MANAGER, {"business_id": business.id, "user_id": user.id})
    return found is not None


def can_manage(business: Business, user: User | None) -> bool:
    """Tell whether this person may use the manage page: the owner or one of their managers."""
    return is_owner(business, user) or is_manager(business, user)


def same_account(acct: str, handle: str) -> bool:
    """Tell whether a Mastodon acct ("user@server") is the handle ("@user@server")."""
    return acct.removeprefix("@").casefold() == handle.removeprefix("@").casefold()


def can_claim(business: Business, user: User | None) -> bool:
    """Tell whether this person is signed in with the business's own Mastodon account."""
    account = getattr(user, "mastodon_account", None) if user is not None else None
    return bool(
        account is not None
        and business.handle
        and same_account(account.acct, business.handle)
        and business.owner_id in (None, user.id)
    )


def same_bluesky_handle(business: Business, user: User | None) -> bool:
    """Tell whether the person's connected Bluesky account goes by the business's handle."""
    account = getattr(user, "bluesky_account", None) if user is not None else None
    wanted = bluesky_identity.normalize_handle(business.bluesky_handle or "")
    return bool(account is not None and wanted and account.handle == wanted)


def can_claim_on_bluesky(business: Business, user: User | None) -> bool:
    """Tell whether this person is signed in with the business's own Bluesky account."""
    return bool(
        user is not None
        and same_bluesky_handle(business, user)
        and business.owner_id in (None, user.id)
    )


def can_claim_by_website(business: Business, user: User | None) -> bool:
    """Tell whether this person may try proving the wall is theirs by its website.

    Not on a wall that names a Mastodon handle (unless already theirs this way): customers type
    websites too, and the handle's holder claims it on Mastodon.
    """
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and business.website
        and business.owner_id in (None, user.id)
        and (
            not (business.handle or business.bluesky_handle)
            or (business.owner_id == user.id and business.claim_proof == WEBSITE)
        )
    )


def website_refusal(business: Business) -> str:
    """Say why this wall can't be claimed by its website."""
    if business.handle:
        return (
            f"{business.name} names a Mastodon account, {business.handle}: only that account "
            "can claim it, by signing in with Mastodon."
        )
    if business.bluesky_handle:
        return (
            f"{business.name} names a Bluesky account, @{business.bluesky_handle}: only that "
            "account can claim it, by signing in with Bluesky."
        )
    return f"{business.name} has no website on Praisewall to prove it with."


def claim(business: Business, user: User, proof: str = MASTODON) -> None:
    """Make the person the business's verified owner, once the proof holds.

    On Mastodon, their server is asked who they are, and the profile's verified website link
    (re)read; on the website, the person's token is looked for there.

    :raise Refused: when the proof fails (see `prove`), or someone else owns the wall.
    """
    if business.owner_id not in (None, user.id):
        raise Refused(f"{business.name} has already been claimed by its owner.")
    if proof == WEBSITE and not can_claim_by_website(business, user):
        raise Refused(website_refusal(business))
    profile = prove(business, user, proof)
    if business.owner_id is None:
        # Managers a former owner let in, before deleting their account, don't come back.
        db.session.execute(
            sa.delete(BusinessManager).where(BusinessManager.business_id == business.id)
        )
        business.owner = user
        business.claimed_at = utcnow()
        audit.record(user, "business.claim", business, proof=proof, website=business.domain)
    business.claim_proof = proof
    checked(business, profile)


def prove(business: Business, user: User, proof: str | None = None) -> dict:
    """Prove the wall is the person's the way it was claimed (or `proof`); return the profile
    read, empty of links for a website proof.

    :raise Unreachable: when the server or website gave no answer just now.
    :raise Refused: when the proof fails.
    """
    if (proof or business.claim_proof or MASTODON) == WEBSITE:
        try:
            site_proof.prove(business, user)
        except site_proof.NoAnswer as problem:
            raise Unreachable(f"{problem} Please try again.") from None
        except site_proof.Failed as problem:
            raise Refused(str(problem)) from None
        return {"verified_link": None}
    if (proof or business.claim_proof) == BLUESKY:
        return prove_on_bluesky(business, user)
    return prove_on_mastodon(business, user)


def prove_on_bluesky(business: Business, user: User) -> dict:
    """Prove the person is the business's Bluesky handle: the handle resolves both ways to the
    DID they signed in as, and their server still accepts that sign-in; return the profile,
    whose verified link is the business's website when the handle is its domain.

    :raise Unreachable: when their server, or the handle's domain, gave no answer just now.
    :raise Refused: when the proof fails: no handle, another account, a revoked sign-in.
    """
    handle = bluesky_identity.normalize_handle(business.bluesky_handle or "")
    if not handle:
        raise Refused(
            f"{business.name} has no Bluesky account on Praisewall, so nobody can claim it."
        )
    only = f"Only @{handle} can claim this page. Sign in with Bluesky as that account."
    account = user.bluesky_account
    if account is None:
        raise Refused(only)
    who = bluesky_identity.resolve_handle(handle)
    if who is None:
        # No answer and a handle that no longer names its account look alike from here:
        # the grace period tells them apart.
        raise Unreachable(f"We couldn't confirm @{handle} just now. Please try again.")
    if who.did != account.did:
        raise Refused(only)
    expired = "Your Bluesky sign-in has expired. Sign in with Bluesky again, then claim."
    if who.pds_url.rstrip("/") != (account.pds_url or "").rstrip("/"):
        # The server we signed in at no longer holds the account: its word proves nothing.
        raise Refused(
            f"@{handle} is on another Bluesky server now. Sign in with Bluesky again, then claim."
        )
    try:
        session = BlueskyClient(account).get("com.atproto.server.getSession")
    except crypto.InvalidToken:
        raise Unreachable(expired) from None
    except SessionEnded:
        account.needs_login = True
        raise Refused(expired) from None
    except XrpcError as error:
        if error.status in (401, 403):
            account.needs_login = True
            raise Refused(expired) from None
        raise Unreachable("We couldn't reach your Bluesky server. Please try again.") from None
    except (requests.RequestException, OAuthRefused):
        raise Unreachable("We couldn't reach your Bluesky server. Please try again.") from None
    if session.get("did") != account.did:
        raise Refused(only)
    account.handle = who.handle
    own_site = bluesky_identity.same_domain(handle, business.domain)
    return {"verified_link": (f"https://{handle}/", utcnow()) if own_site else None}


def prove_on_mastodon(business: Business, user: User) -> dict:
    """Ask the person's server who they are, and prove they are the business's handle the way
    signing in does; return their profile.

    :raise Unreachable: when their server, or their handle's domain, gave no answer just now.
    :raise Refused: when the proof fails: no handle, another account, a revoked sign-in.
    """
    if not business.handle:
        raise Refused(
            f"{business.name} has no Mastodon account on Praisewall, so nobody can claim it."
        )
    account = user.mastodon_account
    only = f"Only {business.handle} can claim this page. Sign in with that account."
    if account is None:
        raise Refused(only)
    expired = "Your Mastodon sign-in has expired. Sign in with Mastodon again, then claim."
    try:
        token = crypto.decrypt(account.access_token)
    except crypto.InvalidToken:
        # A key gone missing is the site's fault: the grace period covers putting it back.
        raise Unreachable(expired) from None
    try:
        profile = client.profile(account.server.base_url, token)
    except MastodonError as error:
        status = errors.api_status(error)
        if status in (401, 403):
            account.needs_login = True
            raise Refused(expired) from None
        if status in (404, 410):
            raise Refused("Your Mastodon server no longer knows your account.") from None
        raise Unreachable("We couldn't reach your Mastodon server. Please try again.") from None
    if profile["id"] != account.remote_id:
        raise Refused(only)
    # Asked afresh: a handle stored before it was checked this way is never taken on trust.
    try:
        account.acct, claimed = signin.handle(account.server, profile)
    except ServerProblem:
        raise Refused(only) from None
    if not same_account(account.acct, business.handle):
        if claimed is not None and same_account(claimed, business.handle):
            domain = claimed.split("@", 1)[1]
            if handles.handle_domain_down(claimed):
                raise Unreachable(f"{domain} didn't answer when we asked. Please try again.")
            raise Refused(
                f"Your Mastodon server says you are {business.handle}, but "
                f"{domain} doesn't confirm it, so you can't claim this page."
            )
        raise Refused(only)
    return profile


def checked(business: Business, profile: dict) -> None:
    """Note that the claim's proof held now, with the profile's verified website link."""
    now = utcnow()
    business.claim_checked_at = now
    business.claim_next_check_at = now + RECHECK_EVERY
    url, verified_at = profile["verified_link"] or (None, None)
    business.verified_website = safe_remote_url(url)
    business.website_verified_at = verified_at if business.verified_website else None


def release(business: Business) -> None:
    """Give up the claim: the wall is no longer verified and nothing stays featured."""
    business.owner = None
    business.claimed_at = None
    business.claim_checked_at = None
    business.claim_next_check_at = None
    business.claim_proof = None
    business.verified_website = None
    business.website_verified_at = None
    db.session.execute(
        sa.update(Post)
        .where(sa.or_(Post.business_id == business.id, Post.featured_by_id == business.id))
        .values(featured_at=None, featured_by_id=None)
    )
    db.session.execute(sa.delete(BusinessManager).where(BusinessManager.business_id == business.id))


def recheck(business: Business) -> str:
    """Prove a claimed wall's owner is still its handle; drop the claim if not. The caller
    commits.

    Returns "held", "retry" (no answer: ask again later, dropping the claim only once the
    proof has not held for RECHECK_GRACE), "dropped", or "unclaimed".
    """
    owner = business.owner
    if owner is None:
        business.claim_next_check_at = None
        return "unclaimed"
    try:
        profile = prove(business, owner)
    except Unreachable as problem:
        return held_for_now(business, owner, str(problem))
    except Refused as problem:
        drop(business, owner, str(problem))
        return "dropped"
    except Exception:
        # A fault we didn't foresee proves nothing either way: like no answer, so that the
        # grace period still runs out and a claim that can't be checked still goes.
        log.warning("The check of the claim on business %s failed", business.id, exc_info=True)
        return held_for_now(business, owner, "the check failed")
    checked(business, profile)
    return "held"


def held_for_now(business: Business, owner: User, problem: str) -> str:
    """Ask again later about a claim whose proof gave no answer, or drop it once the proof has
    not held for RECHECK_GRACE."""
    last_held = business.claim_checked_at or business.claimed_at or utcnow()
    if utcnow() - last_held < RECHECK_GRACE:
        business.claim_next_check_at = utcnow() + RECHECK_RETRY
        return "retry"
    drop(business, owner, f"No proof for {RECHECK_GRACE.days} days: {problem}")
    return "dropped"


def drop(business: Business, owner: User, reason: str) -> None:
    """Take the verified mark away from an owner whose proof failed, and log why."""
    audit.record(
        None,
        "business.unverify",
        business,
        actor_name="claim check",
        owner=owner.username,
        handle=business.handle,
        proof=business.claim_proof,
        website=business.domain,
        reason=reason,
    )
    release(business)


def due_claims(limit: int = RECHECK_BATCH) -> list[int]:
    """Return the claimed walls due a check, the longest unchecked first, and put each off
    a while so a check already queued isn't queued again."""
    due = list(
        db.session.scalars(
            sa.select(Business)
            .where(
                Business.owner_id.is_not(None),
                sa.or_(
                    Business.claim_next_check_at.is_(None),
                    Business.claim_next_check_at <= utcnow(),
                ),
            )
            .order_by(Business.claim_next_check_at.is_not(None), Business.claim_next_check_at)
            .limit(limit)
        )
    )
    for business in due:
        business.claim_next_check_at = utcnow() + RECHECK_RETRY
    return [business.id for business in due]


def update_details(business: Business, website: str, description: str) -> None:
    """Change the business's website and description, as its owner wrote them.

    :raise Refused: when the website isn't one, another business already has it, or the claim
        rests on the website it would replace.
    """
    parsed = businesses.parse_website(website) if website.strip() else None
    if website.strip() and parsed is None:
        raise Refused("That doesn't look like a website address, like bakery.example.")
    if business.claim_proof == WEBSITE and (parsed[1] if parsed else None) != business.domain:
        # The proof is about that site: another one would be unproven, yet still "verified".
        raise Refused(
            f"This page was verified by {business.domain}, so its website can't change. To "
            "use another, give up the claim, then claim again with the new website."
        )
    if parsed is not None:
        taken = db.session.scalar(
            sa.select(Business.name).where(Business.domain == parsed[1], Business.id != business.id)
        )
        if taken:
            raise Refused(f"{parsed[1]} is already the website of {taken}.")
    business.website, business.domain = parsed or (None, None)
    business.description = description.strip()[:DESCRIPTION_MAX] or None


def update_bluesky_handle(business: Business, handle: str) -> None:
    """Change the business's Bluesky handle, as its verified owner wrote it ("" removes it).

    :raise Refused: when it isn't a handle.
    """
    parsed = businesses.parse_bluesky_handle(handle) if handle.strip() else None
    if handle.strip() and parsed is None:
        raise Refused("A Bluesky handle looks like @brand.bsky.social.")
    business.bluesky_handle = parsed


def featured_posts(business: Business) -> list[Post]:
    """Return the public praise the verified owner featured, in the order they were pinned."""
    if business.owner_id is None:
        return []
    return list(
        db.session.scalars(
            featured_query(business)
            .options(
                so.joinedload(Post.author),
                so.selectinload(Post.crossposts),
                so.joinedload(Post.wall_reply),
            )
            .order_by(Post.featured_at, Post.id)
            .limit(FEATURE_LIMIT)
        )
    )


def featured_query(business: Business) -> sa.Select:
    """Select the business's featured posts that anyone may still see.

    Checked against this wall and its current claim, so a feature never follows a post to
    another business, nor outlives the owner who made it.
    """
    claimed = business.claimed_at
    return sa.select(Post).where(
        Post.business_id == business.id,
        Post.featured_by_id == business.id,
        Post.featured_at >= claimed if claimed is not None else sa.false(),
        Post.kind == Kind.PRAISE,
        Post.is_on_wall.is_(True),
        Post.moderation.in_(VISIBLE_MODERATION),
    )


def feature(business: Business, post: Post) -> None:
    """Pin a praise post to the top of the wall.

    :raise Refused: when the post isn't public praise of this business, or three are pinned.
    """
    if post.business_id != business.id or not post.is_praise or not post.is_public:
        raise Refused("Only public praise of your business can be featured.")
    if is_featured(business, post):
        return
    pinned = db.session.scalar(
        sa.select(sa.func.count()).select_from(featured_query(business).subquery())
    )
    if pinned >= FEATURE_LIMIT:
        raise Refused(f"You can feature up to {FEATURE_LIMIT} posts. Stop featuring one first.")
    post.featured_at = utcnow()
    post.featured_by_id = business.id


def is_featured(business: Business, post: Post) -> bool:
    """Tell whether the business's current owner featured this post of theirs."""
    return bool(
        post.business_id == business.id
        and post.featured_by_id == business.id
        and post.featured_at is not None
        and business.claimed_at is not None
        and post.featured_at >= business.claimed_at
    )


def unfeature(business: Business, post: Post) -> None:
    """Take a post off the featured list; it stays on the wall where it was."""
    if post.business_id == business.id:
        end_feature(post)


def end_feature(post: Post) -> None:
    """Take a post off whichever wall featured it."""
    post.featured_at = None
    post.featured_by_id = None


def managers(business: Business) -> list[BusinessManager]:
    """List the people the owner lets manage the wall, first added first."""
    return list(
        db.session.scalars(
            sa.select(BusinessManager)
            .where(BusinessManager.business_id == business.id)
            .options(so.joinedload(BusinessManager.user))
            .order_by(BusinessManager.added_at, BusinessManager.id)
        )
    )


def add_manager(business: Business, owner: User, username: str) -> User:
    """Let someone, named by their username, manage the wall; return them.

    :raise Refused: for nobody by that name, the owner themselves, someone already in, or a
        sixth manager.
    """
    name = username.strip().removeprefix("@")
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == name.lower()))
    if user is None:
        raise Refused(f"Nobody is called {name[:60]} on Praisewall.")
    if user.id == owner.id:
        raise Refused("You already manage this page as its owner.")
    current = managers(business)
    if any(m.user_id == user.id for m in current):
        raise Refused(f"{user.username} already manages this page.")
    if len(current) >= MANAGER_LIMIT:
        raise Refused(f"A page can have up to {MANAGER_LIMIT} managers. Remove one first.")
    db.session.add(BusinessManager(business_id=business.id, user_id=user.id))
    audit.record(owner, "business.manager_add", business, manager=user.username)
    return user


def remove_manager(business: Business, owner: User, user_id: int) -> User | None:
    """Stop letting someone manage the wall; return them, or None if they didn't."""
    row = db.session.scalar(
        sa.select(BusinessManager).where(
            BusinessManager.business_id == business.id, BusinessManager.user_id == user_id
        )
    )
    if row is None:
        return None
    audit.record(owner, "business.manager_remove", business, manager=row.user.username)
    db.session.delete(row)
    return row.user
