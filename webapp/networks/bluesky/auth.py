"""How a connection proves itself on each request, and renews its tokens without losing them.

An OAuth connection sends `Authorization: DPoP <token>` with a fresh proof signed by its own
key; an app-password connection sends a Bearer token. Both renew with a refresh token that
the server rotates: the old one stops working once used. Two workers renewing at once must
not both spend it, so renewing first claims the row by moving `token_version` from even to
odd (a compare-and-swap committed on a connection of its own), and only the winner asks the
server; the others wait for the version to be even again and adopt what the winner stored.
A winner that died mid-renewal is taken over after `CLAIM_WAIT` seconds.

Renewals write on connections of their own, so call the network with the caller's own writes
committed: on SQLite a write transaction left open would keep the renewal waiting on it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from webapp.extensions import db
from webapp.infra import crypto, fragments
from webapp.infra.fragments import person_scopes
from webapp.infra.http import server_session
from webapp.models import BlueskyAccount, utcnow
from webapp.networks.bluesky import answers, dpop, oauth

# Renew this long before the server's end of the token, so a request doesn't race it.
EXPIRY_MARGIN = timedelta(seconds=30)
CLAIM_WAIT = 20.0  # seconds to wait for another worker's renewal before taking it over
POLL = 0.1
# What a PDS says about a legacy (app-password) session that is over.
ENDED_ERRORS = {"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AccountTakedown"}


class SessionEnded(Exception):
    """The server no longer accepts this connection: its person must sign in again."""


@dataclass
class Binding:
    """What an OAuth connection's tokens are bound to: our key and client id at its server."""

    jwk: str
    client_id: str
    token_endpoint: str
    revocation_endpoint: str | None

    def dumps(self) -> str:
        """Write the binding as JSON, for encrypted storage in `dpop_key`."""
        return json.dumps(self.__dict__)

    @classmethod
    def loads(cls, text: str) -> Binding:
        """Read a stored binding."""
        return cls(**json.loads(text))


@dataclass
class Renewed:
    """New tokens from a renewal."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None


def jwt_expiry(token: str) -> datetime | None:
    """Return when a PDS's session JWT ends, read (not checked) from its payload."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, KeyError, TypeError, ValueError):
        return None


class Auth:
    """A connection's way of signing requests, and of renewing its tokens."""

    def __init__(self, account: BlueskyAccount) -> None:
        """Bind to the account's row."""
        self.account = account

    def access_token(self) -> str:
        """Return the current access token, decrypted."""
        return crypto.decrypt(self.account.access_token)

    def expired(self) -> bool:
        """Tell whether the access token has ended (or is about to)."""
        ends = self.account.expires_at
        return ends is not None and ends - EXPIRY_MARGIN <= utcnow()

    def headers(self, method: str, url: str) -> dict[str, str]:
        """Return the headers that sign one request."""
        return {"Authorization": f"Bearer {self.access_token()}"}

    def learn(self, response: requests.Response) -> bool:
        """Note what the answer tells about signing; tell whether to send it again."""
        return False

    def renew(self, refresh_token: str) -> Renewed:
        """Ask the server for new tokens.

        :raise SessionEnded: if it refuses the refresh token.
        """
        raise NotImplementedError

    def refresh(self) -> None:
        """Renew the tokens, or adopt those another worker renewed meanwhile.

        :raise SessionEnded: if the server refuses; the account then needs a new sign-in.
        """
        rotate(self.account, self.renew, self.extra_values)

    def extra_values(self) -> dict:
        """Return more columns to store with renewed tokens."""
        return {}


class OAuthAuth(Auth):
    """DPoP-bound tokens: a proof with every request, the server's nonces remembered."""

    def __init__(self, account: BlueskyAccount) -> None:
        """Read the connection's key binding and the nonces last heard."""
        super().__init__(account)
        self.binding = Binding.loads(crypto.decrypt(account.dpop_key or ""))
        self.key = dpop.load(self.binding.jwk)
        try:
            nonces = json.loads(account.dpop_nonces or "{}")
        except ValueError:
            nonces = {}
        self.nonces: dict[str, str] = nonces if isinstance(nonces, dict) else {}

    def headers(self, method: str, url: str) -> dict[str, str]:
        """Return the DPoP authorization and a proof for this request."""
        token = self.access_token()
        proof = dpop.proof(
            self.key, method, url, nonce=self.nonces.get(dpop.origin_of(url)), access_token=token
        )
        return {"Authorization": f"DPoP {token}", "DPoP": proof}

    def learn(self, response: requests.Response) -> bool:
        """Keep the server's new nonce; send again if it refused the proof for lacking it."""
        nonce = response.headers.get("DPoP-Nonce")
        if nonce:
            self.nonces[dpop.origin_of(response.url)] = nonce
        return dpop.wants_nonce(response)

    def renew(self, refresh_token: str) -> Renewed:
        """Use the refresh token at the authorization server."""
        try:
            tokens = oauth.refresh(
                self.binding.token_endpoint,
                self.binding.client_id,
                refresh_token,
                self.key,
                self.nonces,
            )
        except oauth.OAuthRefused as refusal:
            if refusal.error in ("invalid_grant", "invalid_token", "unauthorized_client"):
                raise SessionEnded(str(refusal)) from None
            raise
        if tokens.sub != self.account.did:
            # Never let a server swap whose tokens these are.
            raise SessionEnded("the server renewed the session for another account")
        return Renewed(tokens.access_token, tokens.refresh_token, tokens.expires_at)

    def extra_values(self) -> dict:
        """Store the nonces heard, so the next worker starts with them."""
        return {"dpop_nonces": json.dumps(self.nonces)}

    def revoke(self) -> bool:
        """Revoke the refresh token (ending the whole session) at the authorization server."""
        endpoint = self.binding.revocation_endpoint
        if not endpoint:
            return False
        token = crypto.decrypt(self.account.refresh_token or self.account.access_token)
        return oauth.revoke(endpoint, self.binding.client_id, token, self.key, self.nonces)


class PasswordAuth(Auth):
    """An app-password session: Bearer tokens, renewed with com.atproto.server.refreshSession."""

    def renew(self, refresh_token: str) -> Renewed:
        """Use the refresh JWT at the PDS."""
        url = f"{self.account.pds_url}/xrpc/com.atproto.server.refreshSession"
        with server_session(url) as session:
            response = answers.request(
                session,
                "POST",
                url,
                headers={"Authorization": f"Bearer {refresh_token}", "User-Agent": "Praisewall"},
            )
        body = answer_json(response)
        if response.status_code in (400, 401) and (
            response.status_code == 401 or body.get("error") in ENDED_ERRORS
        ):
            raise SessionEnded(str(body.get("message") or body.get("error") or "refused"))
        if response.status_code != 200 or not isinstance(body.get("accessJwt"), str):
            response.raise_for_status()
            raise requests.HTTPError("no session in the answer", response=response)
        if body.get("did") != self.account.did:
            raise SessionEnded("the server renewed the session for another account")
        return Renewed(body["accessJwt"], body.get("refreshJwt"), jwt_expiry(body["accessJwt"]))

    def revoke(self) -> bool:
        """End the session at the PDS (com.atproto.server.deleteSession, with the refresh JWT)."""
        url = f"{self.account.pds_url}/xrpc/com.atproto.server.deleteSession"
        token = crypto.decrypt(self.account.refresh_token or self.account.access_token)
        try:
            with server_session(url) as session:
                response = answers.request(
                    session,
                    "POST",
                    url,
                    headers={"Authorization": f"Bearer {token}", "User-Agent": "Praisewall"},
                )
        except requests.RequestException:
            return False
        return response.status_code == 200


def answer_json(response: requests.Response) -> dict:
    """Return an answer's JSON object, or {} if it has none."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def auth_for(account: BlueskyAccount) -> OAuthAuth | PasswordAuth:
    """Return how this connection signs its requests.

    :raise webapp.infra.crypto.InvalidToken: if no key reads the stored secrets.
    """
    if account.kind == "app_password":
        return PasswordAuth(account)
    return OAuthAuth(account)


# --- Renewing once, whatever the number of workers ---

COLUMNS = ("access_token", "refresh_token", "expires_at", "token_version", "needs_login")


def read_row(account_id: int) -> sa.Row | None:
    """Read the account's tokens as committed, on a connection of its own."""
    table = BlueskyAccount.__table__
    with db.engine.connect() as connection:
        return connection.execute(
            sa.select(*(table.c[name] for name in COLUMNS), table.c.dpop_nonces).where(
                table.c.id == account_id
            )
        ).one_or_none()


def swap(account_id: int, version: int, values: dict) -> bool:
    """Write values if the row's token_version is still `version`, committed at once."""
    table = BlueskyAccount.__table__
    with db.engine.begin() as connection:
        written = connection.execute(
            sa.update(table)
            .where(table.c.id == account_id, table.c.token_version == version)
            .values(**values)
            .returning(table.c.user_id)
        ).first()
    if written is not None and values.get("needs_login") and written.user_id is not None:
        # Written beside the session, whose commits tell the pages that show the banner. (A
        # renewal writes False over the False it read: no news, so no page is dropped.)
        fragments.bump(person_scopes(written.user_id))
    return written is not None


def adopt(account: BlueskyAccount, row: sa.Row) -> None:
    """Make the account object hold the row's committed tokens, without dirtying it."""
    for name in (*COLUMNS, "dpop_nonces"):
        set_committed_value(account, name, getattr(row, name))


def still_expired(row: sa.Row) -> bool:
    """Tell whether a row's access token has ended."""
    ends = row.expires_at
    if ends is not None and ends.tzinfo is None:
        ends = ends.replace(tzinfo=UTC)
    return ends is not None and ends - EXPIRY_MARGIN <= utcnow()


def rotate(
    account: BlueskyAccount, renew: Callable[[str], Renewed], extra: Callable[[], dict]
) -> None:
    """Renew the account's tokens once, or adopt another worker's renewal.

    :raise SessionEnded: if the server refuses; the row then says it needs a new sign-in.
    """
    seen = account.token_version
    waited_since = time.monotonic()
    while True:
        row = read_row(account.id)
        if row is None:
            raise SessionEnded("the connection is gone")
        if row.needs_login:
            adopt(account, row)
            raise SessionEnded("the connection needs a new sign-in")
        version = row.token_version
        if version % 2 == 0 and version != seen:
            adopt(account, row)  # another worker renewed since we read the row
            if not still_expired(row):
                return
            seen = version
            continue
        if version % 2 == 1 and time.monotonic() - waited_since < CLAIM_WAIT:
            time.sleep(POLL)  # another worker is renewing right now
            continue
        claimed = version + 1 if version % 2 == 0 else version + 2
        if swap(account.id, version, {"token_version": claimed}):
            break
    try:
        renewed = renew(crypto.decrypt(row.refresh_token or ""))
    except SessionEnded:
        swap(account.id, claimed, {"token_version": claimed + 1, "needs_login": True})
        adopt(account, read_row(account.id))
        raise
    except BaseException:
        # No answer: the server may or may not have rotated; keep what we have, and say so
        # by letting the next renewal try with it.
        swap(account.id, claimed, {"token_version": claimed + 1, **extra()})
        row = read_row(account.id)
        if row is not None:
            adopt(account, row)
        raise
    values = {
        "access_token": crypto.encrypt(renewed.access_token),
        "expires_at": renewed.expires_at,
        "token_version": claimed + 1,
        **extra(),
    }
    if renewed.refresh_token:
        values["refresh_token"] = crypto.encrypt(renewed.refresh_token)
    while not swap(account.id, claimed, values):
        current = read_row(account.id)
        if current is None:
            return
        if current.token_version % 2 == 0:
            # Not ours, and no renewal under way: a new sign-in (a new chain of tokens, bound
            # to a new key) or a finished renewal. Ours are of no use; drop them.
            break
        # Taken over while the server was slow: these tokens are the ones it now honours.
        claimed = current.token_version
        values["token_version"] = claimed + 1
        values["needs_login"] = False
    row = read_row(account.id)
    if row is not None:
        adopt(account, row)
