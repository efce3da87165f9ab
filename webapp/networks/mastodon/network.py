"""Mastodon as a network: what delivery, the reply watch and sign-in ask of it.

Mastodon.py's errors become `CallFailed` here, with what they mean; nothing past this module
sees a Mastodon error.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from mastodon.errors import MastodonError

from webapp.infra import crypto
from webapp.models import Business, MastodonAccount, User
from webapp.networks import Draft, Network, Reply, Sent, Status
from webapp.networks.mastodon import client, errors, proof, signin, text

REPLIES_TRIED = 2  # candidate replies confirmed with the business's server per check


def as_sent(status: dict) -> Sent:
    """Turn a status as the client module returns it into a `Sent`."""
    return Sent(status["id"], status["url"], status["created_at"], status["mentions"])


class MastodonSession:
    """One Mastodon account, signed in on its own server."""

    def __init__(self, account: MastodonAccount) -> None:
        """Sign in as the account; raise crypto.InvalidToken if no key reads its token."""
        self.account = account
        self.api = client.api(account.server.base_url, crypto.decrypt(account.access_token))

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Turn a Mastodon.py error inside into `CallFailed`."""
        try:
            yield
        except MastodonError as error:
            raise errors.failed(error, self.api) from error

    def find_mention(self, handle: str) -> str | None:
        """Look the business's handle up through the user's server."""
        with self.calling():
            found = client.find_account(self.api, handle)
        return found["id"] if found else None

    def post(
        self,
        text: str,
        *,
        visibility: str,
        spoiler_text: str | None,
        key: str,
        status: Status | None = None,
    ) -> Sent:
        """Post a status with our idempotency key (Mastodon has no facets or cards to add)."""
        with self.calling():
            return as_sent(
                client.post_status(
                    self.api, text, visibility=visibility, spoiler_text=spoiler_text, key=key
                )
            )

    def find_own(
        self, link: str, *, key: str, since: datetime, texts: Sequence[str]
    ) -> Sent | None:
        """Find the status an attempt of ours made without our hearing back.

        Mastodon forgets idempotency keys after an hour, so the account's recent statuses are
        searched for our link and words instead of the key.
        """
        with self.calling():
            found = client.find_own_status(
                self.api, self.account.remote_id, link, since=since, texts=list(texts)
            )
        return as_sent(found) if found else None

    def delete(self, remote_id: str) -> None:
        """Delete a status; one already gone counts as deleted."""
        with self.calling():
            client.delete_status(self.api, remote_id)

    def find_reply(
        self, remote_id: str, *, mention_id: str, mention_handle: str, since: datetime
    ) -> Reply | None:
        """Return the business's first reply, as the business's own server confirms it.

        The user's server only points at candidates: whoever runs it can show any reply by
        any name. A reply counts once WebFinger on the handle's domain names the business's
        actor and that actor's server has the reply, by it, in our thread; until then it is
        looked for again.
        """
        with self.calling():
            candidates = client.replies_by(self.api, remote_id, mention_id, mention_handle)
            if not candidates:
                return None
            actor = proof.find_actor(mention_handle)
            root = client.status_uri(self.api, remote_id) if actor else None
        if root is None:
            return None
        # Bounded: someone who fills a thread with fakes can't make us fetch them all.
        for candidate in candidates[:REPLIES_TRIED]:
            reply = proof.confirmed_reply(candidate["uri"], actor, root, since)
            if reply is not None:
                return Reply(reply["created_at"], reply["url"], reply["text"])
        return None


class MastodonNetwork:
    """Mastodon, and the servers that speak its API."""

    name = MastodonAccount.NETWORK
    label = "Mastodon"

    def new_key(self) -> str:
        """Return a random idempotency key; Mastodon keeps it for an hour."""
        return str(uuid.uuid4())

    def mention_of(self, business: Business) -> str | None:
        """Return the business's fediverse handle."""
        return business.handle

    def account_of(self, user: User | None) -> MastodonAccount | None:
        """Return the user's connected Mastodon account, if any."""
        return getattr(user, "mastodon_account", None) if user is not None else None

    def session(self, account: MastodonAccount) -> MastodonSession:
        """Open a session signed in as the account."""
        return MastodonSession(account)

    def where(self, account: MastodonAccount | None) -> str:
        """Name the account's server as its host, for the log."""
        return account.server.domain if account is not None and account.server else "-"

    def limits(self, user: User | None) -> tuple[int, int]:
        """Return (max characters, characters per link) for the user's own server."""
        return signin.limits_for(user)

    def compose(self, draft: Draft, user: User | None, *, strict: bool = False) -> Status:
        """Build the status, counted against the user's own server."""
        max_characters, url_length = self.limits(user)
        return text.compose(
            draft.body,
            kind=draft.kind,
            business_name=draft.business_name,
            handle=draft.handle,
            link=draft.link,
            spoiler_text=draft.spoiler_text,
            max_characters=max_characters,
            url_length=url_length,
            strict=strict,
        )

    def revoke(self, account: MastodonAccount) -> bool:
        """Revoke the token at the server, writing nothing."""
        return signin.revoke(account)

    def forget(self, user: User) -> None:
        """Forget the connection."""
        signin.forget(user)


network: Network = MastodonNetwork()
