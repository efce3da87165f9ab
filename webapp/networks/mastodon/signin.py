"""Signing in with Mastodon: servers we are registered with, and people's connected accounts.

The database side of sign-in; the protocol is in oauth.py, handles in handles.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from mastodon.errors import MastodonError

from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.http import ServerProblem, check_address
from webapp.infra.links import safe_remote_url
from webapp.models import (
    Crosspost,
    CrosspostState,
    MastodonAccount,
    MastodonServer,
    User,
    utcnow,
)
from webapp.networks.mastodon import client, handles, oauth, servers
from webapp.networks.mastodon.text import DEFAULT_MAX_CHARACTERS, DEFAULT_URL_LENGTH

REFRESH_AFTER = timedelta(days=1)


@dataclass
class SignIn:
    """Where to send the person, and what to remember until they come back."""

    url: str
    pending: dict


class Restart(Exception):
    """The server forgot us mid-sign-in; send the person to authorize again."""

    def __init__(self, sign_in: SignIn) -> None:
        super().__init__("restart sign-in")
        self.sign_in = sign_in


def find_server(base_url: str) -> MastodonServer | None:
    """Return the row for a server we have met."""
    return db.session.scalar(sa.select(MastodonServer).where(MastodonServer.base_url == base_url))


def register(server: MastodonServer, redirect_uri: str, website: str) -> None:
    """Register our app with the server (again) and keep the credentials encrypted."""
    client_id, client_secret = oauth.register_app(server.base_url, redirect_uri, website)
    server.client_id = crypto.encrypt(client_id)
    server.client_secret = crypto.encrypt(client_secret)
    server.registered_at = utcnow()


def refresh(server: MastodonServer) -> None:
    """Fetch the server's OAuth endpoints, posting limits and its people's handle domain."""
    endpoints = oauth.oauth_endpoints(server.base_url)
    server.authorize_url = endpoints["authorization_endpoint"]
    server.token_url = endpoints["token_endpoint"]
    server.revoke_url = endpoints.get("revocation_endpoint") or f"{server.base_url}/oauth/revoke"
    server.supports_pkce = "S256" in (endpoints.get("code_challenge_methods_supported") or [])
    facts = servers.instance(server.base_url)
    server.max_characters, server.url_length = facts.max_characters, facts.url_length
    server.handle_domain = facts.domain
    server.refreshed_at = utcnow()


def credentials(server: MastodonServer) -> tuple[str, str]:
    """Return our (client id, client secret) at this server, decrypted."""
    return crypto.decrypt(server.client_id), crypto.decrypt(server.client_secret)


def ready_server(base_url: str, redirect_uri: str, website: str) -> MastodonServer:
    """Return the server's row with a working registration and fresh endpoints and limits."""
    server = find_server(base_url)
    if server is None:
        server = MastodonServer(base_url=base_url)
        db.session.add(server)
    if server.refreshed_at is None or utcnow() - server.refreshed_at > REFRESH_AFTER:
        refresh(server)
    if server.client_id is None:
        register(server, redirect_uri, website)
    elif not oauth.client_still_known(server.token_url, *credentials(server)):
        # Servers may forget idle apps; register again so the person never sees an error.
        register(server, redirect_uri, website)
    db.session.flush()
    return server


def begin(entry: str, redirect_uri: str, website: str, *, allow_insecure: bool) -> SignIn:
    """Start signing in with the server named in entry.

    :raise ServerProblem: if the entry or the server won't do.
    """
    base_url = servers.parse_server(entry, allow_insecure=allow_insecure)
    check_address(base_url, allow_insecure=allow_insecure)
    server = ready_server(base_url, redirect_uri, website)
    return authorize(server, redirect_uri)


def authorize(server: MastodonServer, redirect_uri: str) -> SignIn:
    """Build the authorization request (state, and PKCE where the server supports it)."""
    url, state, verifier = oauth.authorization_url(
        server.authorize_url, *credentials(server), redirect_uri, pkce=server.supports_pkce
    )
    return SignIn(url, {"base_url": server.base_url, "state": state, "verifier": verifier})


def finish(
    pending: dict, code: str, redirect_uri: str, website: str
) -> tuple[MastodonServer, dict]:
    """Exchange the code and return the server and the signed-in account, token included.

    The account's acct is its handle as `handles.account_handle` confirms it; "unconfirmed" is
    the handle its server claimed when that couldn't be confirmed.

    :raise Restart: if the server forgot our app; the caller sends the person round again.
    :raise ServerProblem: for any other failure.
    """
    server = find_server(pending["base_url"])
    if server is None or server.client_id is None:
        raise ServerProblem("That sign-in expired. Please start again.")
    try:
        token = oauth.exchange_code(
            server.token_url, *credentials(server), redirect_uri, code, pending["verifier"]
        )
    except oauth.UnknownClient:
        register(server, redirect_uri, website)
        db.session.flush()
        raise Restart(authorize(server, redirect_uri)) from None
    try:
        me = client.who_am_i(server.base_url, token["access_token"])
    except MastodonError:
        raise ServerProblem("Your server didn't tell us who you are. Try again.") from None
    me["acct"], me["unconfirmed"] = handle(server, me)
    me.update(token=token["access_token"], scopes=token.get("scope", oauth.SCOPES))
    return server, me


def handle(server: MastodonServer, me: dict) -> tuple[str, str | None]:
    """Return the account's confirmed handle, and the one its server claimed if unconfirmed.

    :raise ServerProblem: if the server names the account with no usable username.
    """
    if server.handle_domain is None:
        # Rows from before handle domains were kept, or a server that didn't say last time.
        server.handle_domain = servers.instance(server.base_url).domain
    return handles.account_handle(server.base_url, me, server.handle_domain)


def full_acct(server: MastodonServer, acct: str) -> str:
    """Return user@server for an account, even when its server calls it just "user"."""
    return acct if "@" in acct else f"{acct}@{server.domain}"


def account_for(server: MastodonServer, remote_id: str) -> MastodonAccount | None:
    """Find the connection for a Mastodon account."""
    return db.session.scalar(
        sa.select(MastodonAccount).where(
            MastodonAccount.server_id == server.id, MastodonAccount.remote_id == remote_id
        )
    )


def connect(user: User, server: MastodonServer, me: dict) -> MastodonAccount:
    """Connect (or reconnect) the user's Mastodon account, keeping the token encrypted.

    A connection left behind by a deleted account (a farewell) is taken over, and the status
    deletions it still has to do carry on with the new token.
    """
    account = user.mastodon_account
    if account is not None and (account.server_id, account.remote_id) != (server.id, me["id"]):
        # A different Mastodon account: old statuses stay with the old one, not the new token
        # (disconnect revokes before it writes, so no write waits on the server).
        disconnect(user)
        account = None
    if account is None:
        account = account_for(server, me["id"])
        if account is not None and account.user_id not in (None, user.id):
            raise ValueError("that Mastodon account belongs to another user")
    if account is None:
        account = MastodonAccount(server=server, remote_id=me["id"])
        db.session.add(account)
    account.user = user
    account.server = server
    account.remote_id = me["id"]
    account.acct = full_acct(server, me["acct"])
    account.profile_url = safe_remote_url(me.get("url"))
    account.access_token = crypto.encrypt(me["token"])
    account.scopes = me["scopes"]
    account.needs_login = False
    db.session.flush()
    return account


def new_username(acct: str) -> str:
    """Make a free local username from a Mastodon handle."""
    base = re.sub(r"[^a-z0-9_]+", "_", acct.split("@", 1)[0].lower()).strip("_")[:24] or "member"
    base = base if len(base) >= 3 else f"{base}_me"
    candidate, n = base, 1
    while db.session.scalar(sa.select(User.id).where(User.username == candidate)) is not None:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def sign_in_user(server: MastodonServer, me: dict) -> User:
    """Return the user for this Mastodon account, creating one on the first visit."""
    account = account_for(server, me["id"])
    if account is not None and account.user is not None:
        connect(account.user, server, me)
        return account.user
    user = User(username=new_username(me["acct"]))
    db.session.add(user)
    db.session.flush()
    connect(user, server, me)
    return user


def disconnect(user: User) -> bool:
    """Revoke the token at the server and forget the connection; tell whether it was revoked."""
    account = user.mastodon_account
    if account is None:
        return True
    revoked = revoke(account)
    forget(user)
    return revoked


def revoke(account: MastodonAccount) -> bool:
    """Revoke the connection's token at its server; tell whether the server said so."""
    server = account.server
    return oauth.revoke_token(
        server.revoke_url or f"{server.base_url}/oauth/revoke",
        *credentials(server),
        crypto.decrypt(account.access_token),
    )


def forget(user: User) -> None:
    """Forget the user's connection (its token revoked, or left to end)."""
    account = user.mastodon_account
    if account is None:
        return
    # Its crossposts stop naming it: nothing may be done in its name any more, and the id
    # may name another connection one day.
    db.session.execute(
        sa.update(Crosspost).where(Crosspost.of_account(account)).values(account_id=None)
    )
    db.session.delete(account)
    db.session.flush()
    # The user still points at the deleted row; deleting the user next would delete it again.
    db.session.expire(user, ["mastodon_account"])


def farewells_done(account_ids: list[int] | None = None, limit: int = 100) -> list[int]:
    """Return deleted accounts' connections (of these, if given) with nothing left to delete."""
    deleting = sa.select(Crosspost.id).where(
        Crosspost.network == MastodonAccount.NETWORK,
        Crosspost.account_id == MastodonAccount.id,
        Crosspost.state == CrosspostState.DELETING,
    )
    query = sa.select(MastodonAccount.id).where(
        MastodonAccount.user_id.is_(None), ~deleting.exists()
    )
    if account_ids is not None:
        query = query.where(MastodonAccount.id.in_(account_ids))
    return list(db.session.scalars(query.order_by(MastodonAccount.id).limit(limit)))


def end_farewell(account_id: int) -> bool | None:
    """Revoke and forget a deleted account's connection once its statuses are all deleted.

    Returns whether the server confirmed the revocation, or None when there was nothing to end
    (deletions still running, the row gone, or its person signed in again and took it over).
    """
    if not farewells_done([account_id]):
        return None
    account = db.session.get(MastodonAccount, account_id)
    server = account.server
    try:
        token = crypto.decrypt(account.access_token)
    except crypto.InvalidToken:
        token = None
    revoked = token is not None and oauth.revoke_token(
        server.revoke_url or f"{server.base_url}/oauth/revoke", *credentials(server), token
    )
    # Checked again with the row locked: its person may have signed in again meanwhile.
    row = MastodonAccount.__table__.c
    db.session.execute(
        sa.update(MastodonAccount.__table__)
        .where(row.id == account_id)
        .values(needs_login=row.needs_login)
    )
    if not farewells_done([account_id]):
        return None
    db.session.execute(
        sa.delete(Crosspost).where(
            Crosspost.network == MastodonAccount.NETWORK, Crosspost.account_id == account_id
        )
    )
    db.session.execute(sa.delete(MastodonAccount).where(MastodonAccount.id == account_id))
    db.session.expire_all()
    return revoked


def limits_for(user: User | None) -> tuple[int, int]:
    """Return (max characters, characters per link) for the user's own server."""
    account = getattr(user, "mastodon_account", None) if user is not None else None
    server = account.server if account is not None else None
    if server is None or server.max_characters is None:
        return DEFAULT_MAX_CHARACTERS, DEFAULT_URL_LENGTH
    return server.max_characters, server.url_length or DEFAULT_URL_LENGTH
