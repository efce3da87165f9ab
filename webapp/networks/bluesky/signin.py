"""Signing in with Bluesky: the OAuth round trip, app passwords, and people's connections.

Who signed in is never the server's word: the token's `sub` must be the DID we resolved (or,
when the person typed a server rather than a handle, a DID whose own document names that
server, whose authorization server is the one that answered), and the handle is the one the
DID's document and the handle's domain both confirm. What a sign-in must remember until the
person comes back (the PKCE verifier, the DPoP key, the state) travels sealed with our keys.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa

from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.http import (
    ServerProblem,
    check_address,
    insecure_allowed,
    server_session,
)
from webapp.models import BlueskyAccount, Crosspost, User
from webapp.networks.bluesky import answers, dpop, identity, oauth
from webapp.networks.bluesky.auth import (
    Binding,
    OAuthAuth,
    PasswordAuth,
    answer_json,
    auth_for,
    jwt_expiry,
)
from webapp.networks.bluesky.identity import Identity

# An app password as Bluesky makes them: four groups of four, like `abcd-efgh-ijkl-mnop`.
APP_PASSWORD_RE = re.compile(r"^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$")
# The scope a PDS puts in a session made with the account's main password.
MAIN_PASSWORD_SCOPE = "com.atproto.access"  # nosec B105 # a scope's name, not a password
SEALED = "sealed"


@dataclass
class SignIn:
    """Where to send the person, and what to remember (sealed) until they come back."""

    url: str
    pending: dict


@dataclass
class Connected:
    """Who signed in, as checked, with the tokens and what they are bound to."""

    who: Identity
    tokens: oauth.Tokens
    binding: Binding
    nonces: dict[str, str]
    issuer: str


def entryway_named(entry: str) -> str | None:
    """Return the entryway (BLUESKY_ENTRYWAY) if the entry is its bare name, like "bsky.social".

    People type their provider's name as if it were their server; it is one.
    """
    entryway = identity.server_url(identity.setting("BLUESKY_ENTRYWAY", "https://bsky.social"))
    if entryway and entry.strip().lower().removeprefix("@") == urlsplit(entryway).hostname:
        return entryway
    return None


def entry_problem(text: str) -> str | None:
    """Say what is wrong with what the person typed, before anyone is asked about it."""
    entry = text.strip()
    if entryway_named(entry):
        return None
    if "://" in entry:
        if identity.server_url(entry) is None:
            return "That isn't a server address we can use (it must be https://)."
        return None
    if identity.normalize_handle(entry) is None:
        return (
            "That isn't a Bluesky handle. Type it like alice.bsky.social, or your server's "
            "address like https://bsky.social."
        )
    return None


def parse_entry(text: str) -> tuple[Identity | None, str]:
    """Read what the person typed: a handle (resolved both ways) or their server's address.

    Returns (the identity, or None for a server) and the PDS or entryway to ask.

    :raise ServerProblem: if it is neither, or the handle doesn't resolve.
    """
    problem = entry_problem(text)
    if problem:
        raise ServerProblem(problem)
    entry = text.strip()
    server = identity.server_url(entry) if "://" in entry else None
    if server is not None:
        return None, server
    entryway = entryway_named(entry)
    if entryway:
        return None, entryway
    handle = identity.normalize_handle(entry) or ""
    who = identity.resolve_handle(handle)
    if who is None:
        raise ServerProblem(
            f"We couldn't confirm the handle {handle}: its domain and its account must name "
            "each other. Check the spelling, or type your server's address."
        )
    return who, who.pds_url


def begin(entry: str, redirect_uri: str, client_id: str) -> SignIn:
    """Start signing in: find the person's authorization server and push our request there.

    :raise ServerProblem: if the entry, the server or its sign-in service won't do.
    """
    who, server = parse_entry(entry)
    check_address(server, allow_insecure=insecure_allowed())
    issuer = oauth.issuer_of(server)
    meta = oauth.server_metadata(issuer)
    key_json = dpop.new_key()
    nonces: dict[str, str] = {}
    verifier, challenge = oauth.pkce_pair()
    state = secrets.token_urlsafe(24)
    try:
        request_uri = oauth.push_request(
            meta,
            client_id,
            redirect_uri,
            state=state,
            challenge=challenge,
            key=dpop.load(key_json),
            nonces=nonces,
            login_hint=who.handle if who else None,
        )
    except oauth.OAuthRefused as refusal:
        raise ServerProblem(
            f"Your Bluesky server refused to start the sign-in ({refusal})."
        ) from None
    except requests.RequestException:
        raise ServerProblem("Your Bluesky server didn't answer. Try again in a moment.") from None
    secret = {
        "state": state,
        "verifier": verifier,
        "key": key_json,
        "issuer": issuer,
        "did": who.did if who else None,
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "nonces": nonces,
    }
    return SignIn(
        oauth.authorization_url(meta, client_id, request_uri),
        {SEALED: crypto.encrypt(json.dumps(secret))},
    )


def unseal(pending: dict | None) -> dict | None:
    """Open what a sign-in remembered, or None if it can't be read."""
    try:
        return json.loads(crypto.decrypt(str((pending or {})[SEALED])))
    except (KeyError, crypto.InvalidToken, ValueError):
        return None


def finish(pending: dict | None, state: str, issuer: str, code: str) -> Connected:
    """Check the answer belongs to our request, trade the code, and check who signed in.

    :raise ServerProblem: if anything doesn't match or the server refuses.
    """
    secret = unseal(pending)
    # Compared as bytes: compare_digest refuses str with anything but ASCII in it.
    if secret is None or not hmac.compare_digest(
        str(secret["state"]).encode(), state.encode("utf-8", "surrogatepass")
    ):
        raise ServerProblem("That sign-in link didn't match the one we started. Please try again.")
    if issuer != secret["issuer"]:
        raise ServerProblem("That answer came from another sign-in service than yours.")
    meta = oauth.server_metadata(secret["issuer"])
    key = dpop.load(secret["key"])
    nonces = dict(secret.get("nonces") or {})
    try:
        tokens = oauth.exchange_code(
            meta, secret["client_id"], secret["redirect_uri"], code, secret["verifier"], key, nonces
        )
    except oauth.OAuthRefused as refusal:
        raise ServerProblem(f"Your Bluesky server refused the sign-in ({refusal}).") from None
    except requests.RequestException:
        raise ServerProblem("Your Bluesky server didn't answer. Please try again.") from None
    revocation = meta.get("revocation_endpoint")
    binding = Binding(
        secret["key"],
        secret["client_id"],
        meta["token_endpoint"],
        revocation if oauth.endpoint(revocation) else None,
    )
    return Connected(verify_subject(tokens, secret), tokens, binding, nonces, secret["issuer"])


def verify_subject(tokens: oauth.Tokens, secret: dict) -> Identity:
    """Return who the tokens are for, checked against the DID and the issuer we started with.

    :raise ServerProblem: if the server's answer names someone else, or can't be checked.
    """
    if secret.get("did") and tokens.sub != secret["did"]:
        raise ServerProblem("Your server signed in another account than the handle you typed.")
    who = identity.resolve_did(tokens.sub)
    if who is None:
        raise ServerProblem("We couldn't look up the account you signed in as. Please try again.")
    try:
        issuer = oauth.issuer_of(who.pds_url)
    except ServerProblem:
        issuer = None
    if issuer != secret["issuer"]:
        # A server may only speak for accounts whose own PDS trusts it.
        raise ServerProblem("That sign-in service doesn't speak for the account it named.")
    return who


def account_for(did: str) -> BlueskyAccount | None:
    """Find the connection for a DID."""
    return db.session.scalar(sa.select(BlueskyAccount).where(BlueskyAccount.did == did))


def attach(user: User, who: Identity) -> BlueskyAccount:
    """Return the user's row for this DID, dropping a connection to another account first."""
    account = user.bluesky_account
    if account is not None and account.did != who.did:
        # Revoked at its server before anything is written here (disconnect does both, in
        # that order), so no write waits on another server; old posts stay with the old one.
        disconnect(user)
        account = None
    if account is None:
        account = account_for(who.did)
        if account is not None and account.user_id not in (None, user.id):
            raise ValueError("that Bluesky account belongs to another user")
    if account is None:
        account = BlueskyAccount(did=who.did)
        db.session.add(account)
    account.user = user
    account.handle = who.handle
    account.pds_url = who.pds_url
    account.needs_login = False
    # A new sign-in starts a new chain of tokens: make any renewal under way lose its swap.
    account.token_version = (account.token_version or 0) + 2 - (account.token_version or 0) % 2
    return account


def connect_oauth(user: User, connected: Connected) -> BlueskyAccount:
    """Connect (or reconnect) the user's Bluesky account with OAuth tokens, encrypted."""
    account = attach(user, connected.who)
    tokens = connected.tokens
    account.kind = "oauth"
    account.issuer = connected.issuer
    account.access_token = crypto.encrypt(tokens.access_token)
    account.refresh_token = crypto.encrypt(tokens.refresh_token) if tokens.refresh_token else None
    account.dpop_key = crypto.encrypt(connected.binding.dumps())
    account.dpop_nonces = json.dumps(connected.nonces)
    account.expires_at = tokens.expires_at
    account.scopes = tokens.scopes[:200]
    db.session.flush()
    return account


def new_username(handle: str) -> str:
    """Make a free local username from a handle's first label."""
    base = re.sub(r"[^a-z0-9_]+", "_", handle.split(".", 1)[0].lower()).strip("_")[:24] or "member"
    base = base if len(base) >= 3 else f"{base}_me"
    candidate, n = base, 1
    while db.session.scalar(sa.select(User.id).where(User.username == candidate)) is not None:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def sign_in_user(connected: Connected) -> User:
    """Return the user for this Bluesky account, creating one on the first visit."""
    account = account_for(connected.who.did)
    if account is not None and account.user is not None:
        connect_oauth(account.user, connected)
        return account.user
    user = User(username=new_username(connected.who.handle))
    db.session.add(user)
    db.session.flush()
    connect_oauth(user, connected)
    return user


def connect_app_password(user: User, handle_text: str, app_password: str) -> BlueskyAccount:
    """Connect with an app password: checked in shape first, so a main password is never sent.

    :raise ServerProblem: if the handle, the password or the server won't do.
    """
    password = app_password.strip().lower()
    if not APP_PASSWORD_RE.match(password):
        raise ServerProblem(
            "That doesn't look like an app password (four groups of four letters and digits, "
            "like abcd-efgh-ijkl-mnop). Never type your main password here."
        )
    handle = identity.normalize_handle(handle_text)
    who = identity.resolve_handle(handle) if handle else None
    if who is None:
        raise ServerProblem(
            "We couldn't confirm that handle: its domain and its account must name each other."
        )
    url = f"{who.pds_url}/xrpc/com.atproto.server.createSession"
    try:
        with server_session(url) as session:
            response = answers.request(
                session,
                "POST",
                url,
                json={"identifier": who.did, "password": password},
                headers={"User-Agent": "Praisewall"},
            )
    except requests.RequestException:
        raise ServerProblem("Your Bluesky server didn't answer. Try again in a moment.") from None
    body = answer_json(response)
    if response.status_code != 200 or not isinstance(body.get("accessJwt"), str):
        if response.status_code in (400, 401):
            raise ServerProblem("Your server didn't accept that handle and app password.")
        raise ServerProblem(f"Your Bluesky server had a problem (HTTP {response.status_code}).")
    if body.get("did") != who.did:
        raise ServerProblem("Your server signed in another account than the handle you typed.")
    if jwt_scope(body["accessJwt"]) == MAIN_PASSWORD_SCOPE:
        end_session(who.pds_url, body.get("refreshJwt"))
        raise ServerProblem(
            "That is your account's main password, not an app password: we ended that "
            "session. Make an app password in Bluesky's settings and use it here."
        )
    account = attach(user, who)
    account.kind = "app_password"
    account.issuer = None
    account.access_token = crypto.encrypt(body["accessJwt"])
    account.refresh_token = crypto.encrypt(body["refreshJwt"]) if body.get("refreshJwt") else None
    account.dpop_key = None
    account.dpop_nonces = None
    account.expires_at = jwt_expiry(body["accessJwt"])
    account.scopes = jwt_scope(body["accessJwt"])[:200]
    db.session.flush()
    return account


def jwt_scope(token: str) -> str:
    """Return a session JWT's scope, read (not checked) from its payload."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return ""
    return str(claims.get("scope") or "") if isinstance(claims, dict) else ""


def end_session(pds_url: str, refresh_jwt: str | None) -> None:
    """End a legacy session we won't keep."""
    if not refresh_jwt:
        return
    url = f"{pds_url}/xrpc/com.atproto.server.deleteSession"
    try:
        with server_session(url) as session:
            answers.request(
                session, "POST", url, headers={"Authorization": f"Bearer {refresh_jwt}"}
            )
    except requests.RequestException:
        pass


def revoke(account: BlueskyAccount) -> bool:
    """Revoke the connection's session at its server; tell whether the server said so."""
    try:
        auth = auth_for(account)
    except (crypto.InvalidToken, ValueError, TypeError):
        return False
    if isinstance(auth, OAuthAuth | PasswordAuth):
        return auth.revoke()
    return False


def disconnect(user: User) -> bool:
    """Revoke the session at the server and forget the connection; tell whether it was revoked."""
    account = user.bluesky_account
    if account is None:
        return True
    revoked = revoke(account)
    forget(user)
    return revoked


def forget(user: User) -> None:
    """Forget the user's connection (its session revoked, or left to end), its posts' link too."""
    account = user.bluesky_account
    if account is None:
        return
    db.session.execute(
        sa.update(Crosspost).where(Crosspost.of_account(account)).values(account_id=None)
    )
    db.session.delete(account)
    db.session.flush()
    db.session.expire(user, ["bluesky_account"])


__all__ = ["Connected", "SignIn", "begin", "connect_app_password", "disconnect", "finish"]
