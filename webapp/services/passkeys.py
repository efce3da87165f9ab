"""Passkeys: the WebAuthn options and checks, the passkeys a person holds, and their ways in."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import webauthn
from sqlalchemy.exc import IntegrityError
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from webapp.extensions import db
from webapp.models import Passkey, SpentChallenge, User, utcnow

NAME_MAX = 60
MAX_PER_USER = 20
# How long the browser waits for the person; the challenge lasts as long.
TIMEOUT_SECONDS = 300
# Anything malformed in what a browser sends back, however the library notices it.
BAD_ANSWER = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError, IndexError)


class PasskeyError(Exception):
    """A passkey, or a browser's answer, that can't be accepted; the message says why."""


@dataclass(frozen=True)
class RelyingParty:
    """Who asks for the passkey: the domain it belongs to, our name, and the pages' origin."""

    id: str
    name: str
    origin: str


@dataclass(frozen=True)
class Ceremony:
    """Options for the browser, and the challenge to keep until its answer comes back."""

    options_json: str
    challenge: str


def new_user_handle() -> str:
    """Return a random name for an authenticator to file a new person's passkeys under."""
    return bytes_to_base64url(secrets.token_bytes(32))


def user_passkeys(user: User) -> list[Passkey]:
    """Return the person's passkeys, oldest first."""
    return list(
        db.session.scalars(
            sa.select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.id)
        )
    )


def find(user: User, passkey_id: int) -> Passkey | None:
    """Return one of the person's passkeys by id, or None."""
    passkey = db.session.get(Passkey, passkey_id)
    return passkey if passkey is not None and passkey.user_id == user.id else None


def handle_for(user: User) -> str:
    """Return the name the person's passkeys are filed under, or a new one for their first."""
    held = user_passkeys(user)
    return held[0].user_handle if held else new_user_handle()


def descriptors(credential_ids: list[str]) -> list[PublicKeyCredentialDescriptor]:
    """Name passkeys to the browser by their credential ids."""
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in credential_ids]


def registration_options(
    rp: RelyingParty, username: str, user_handle: str, existing: list[str]
) -> Ceremony:
    """Ask the browser for a new discoverable passkey, none of the person's existing ones."""
    options = webauthn.generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=username,
        user_id=base64url_to_bytes(user_handle),
        user_display_name=username,
        timeout=TIMEOUT_SECONDS * 1000,
        # Discoverable, so signing in needs no username; a fingerprint or face if the device can.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=descriptors(existing),
    )
    return Ceremony(webauthn.options_to_json(options), bytes_to_base64url(options.challenge))


def verify_registration(rp: RelyingParty, challenge: str, credential: Any) -> VerifiedRegistration:
    """Check the browser's new passkey against the challenge we gave it."""
    try:
        return webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except BAD_ANSWER:
        raise PasskeyError("Your device's answer didn't check out. Try again.") from None


def name_problem(name: str) -> str | None:
    """Explain what is wrong with a passkey's name, or return None."""
    if len(name) > NAME_MAX:
        return f"Keep the name under {NAME_MAX} characters."
    return None


def add(user: User, verified: VerifiedRegistration, user_handle: str, name: str) -> Passkey:
    """Keep a checked new passkey for the person."""
    credential_id = bytes_to_base64url(verified.credential_id)
    taken = db.session.scalar(sa.select(Passkey.id).where(Passkey.credential_id == credential_id))
    if taken is not None:
        raise PasskeyError("That passkey is already on an account here.")
    if len(user_passkeys(user)) >= MAX_PER_USER:
        raise PasskeyError(
            f"You hold {MAX_PER_USER} passkeys, the most one person may. Remove one first."
        )
    name = " ".join(name.split())
    if problem := name_problem(name):
        raise PasskeyError(problem)
    passkey = Passkey(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        user_handle=user_handle,
        name=name or default_name(user),
    )
    db.session.add(passkey)
    db.session.flush()
    return passkey


def default_name(user: User) -> str:
    """Name a passkey the person didn't name: by its number among theirs."""
    return f"Passkey {len(user_passkeys(user)) + 1}"


def authentication_options(rp: RelyingParty, allowed: list[str]) -> Ceremony:
    """Ask the browser for a passkey: any of ours it holds, or one of these when given."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.id,
        timeout=TIMEOUT_SECONDS * 1000,
        allow_credentials=descriptors(allowed),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return Ceremony(webauthn.options_to_json(options), bytes_to_base64url(options.challenge))


def credential_id_of(credential: Any) -> str:
    """Return the credential id a browser's answer names, or an empty string."""
    if not isinstance(credential, dict):
        return ""
    value = credential.get("rawId") or credential.get("id")
    return value if isinstance(value, str) else ""


def authenticate(
    rp: RelyingParty, challenge: str, credential: Any, allowed: list[str] | None = None
) -> User:
    """Check a passkey's signature over our challenge and return whose it is.

    :param allowed: the credential ids asked for, when the person named their account first.
    """
    credential_id = credential_id_of(credential)
    passkey = db.session.scalar(sa.select(Passkey).where(Passkey.credential_id == credential_id))
    if passkey is None or (allowed is not None and credential_id not in allowed):
        raise PasskeyError(
            "That passkey isn't on any account here. It may have been removed; sign in another way."
        )
    response = credential.get("response") if isinstance(credential, dict) else None
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle and handle != passkey.user_handle:
        raise PasskeyError("Your device's answer didn't check out. Try again.")
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
        )
    except BAD_ANSWER as error:
        if "sign count" in str(error):
            # A counter that goes back means a copy of the key is signing: refuse both.
            raise PasskeyError(
                "That passkey's counter went backwards, as if it had been copied, so we "
                "refused it. Sign in another way and remove it in your settings."
            ) from None
        raise PasskeyError("Your device's answer didn't check out. Try again.") from None
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = utcnow()
    return passkey.user


def rename(passkey: Passkey, name: str) -> None:
    """Give a passkey a new name."""
    passkey.name = " ".join(name.split()) or passkey.name


def removal_problem(passkey: Passkey) -> str | None:
    """Explain why removing the passkey would lock its owner out, or return None."""
    user = passkey.user
    if (
        user.password_hash is None
        and user.mastodon_account is None
        and not signs_in_with_bluesky(user)
    ):
        if len(user_passkeys(user)) <= 1:
            return (
                "That is your only way to sign in, so we kept it. Set a password or add "
                "another passkey first."
            )
    return None


def remove(passkey: Passkey) -> None:
    """Forget a passkey: it signs nobody in from now on."""
    db.session.delete(passkey)
    db.session.flush()


def signs_in_with_bluesky(user: User) -> bool:
    """Tell whether the person can sign in with Bluesky (an OAuth connection, not an app
    password, which signs nobody in)."""
    account = user.bluesky_account
    return account is not None and account.kind == "oauth"


def other_way_in_than_mastodon(user: User) -> bool:
    """Tell whether the person could still sign in with their Mastodon account gone."""
    return (
        user.password_hash is not None or bool(user_passkeys(user)) or signs_in_with_bluesky(user)
    )


def other_way_in_than_bluesky(user: User) -> bool:
    """Tell whether the person could still sign in with their Bluesky account gone."""
    return (
        user.password_hash is not None
        or bool(user_passkeys(user))
        or user.mastodon_account is not None
    )


def at_risk(user: User) -> bool:
    """Tell whether losing their device would lose the person their account.

    Only passkeys let them in, and no confirmed address can bring a password-reset link.
    """
    return (
        user.password_hash is None
        and user.mastodon_account is None
        and not signs_in_with_bluesky(user)
        and not user.email
        and bool(user_passkeys(user))
    )


def spend(challenge: str) -> bool:
    """Mark a challenge answered, for good; tell whether this was its first answer (commits)."""
    now = utcnow()
    # A challenge is refused anyway once stale, so its row is no longer needed.
    db.session.execute(
        sa.delete(SpentChallenge).where(
            SpentChallenge.spent_at < now - timedelta(seconds=2 * TIMEOUT_SECONDS)
        )
    )
    digest = hashlib.sha256(challenge.encode()).hexdigest()
    db.session.add(SpentChallenge(digest=digest, spent_at=now))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True
