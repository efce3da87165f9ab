"""Bluesky as a network: what delivery, the reply watch and sign-in ask of it."""

from __future__ import annotations

from webapp.models import BlueskyAccount, Business, User
from webapp.networks import Draft, Network, Session, Status
from webapp.networks.bluesky import signin, text, tid
from webapp.networks.bluesky.session import BlueskySession


class BlueskyNetwork:
    """Bluesky, and every server that speaks the AT Protocol."""

    name = BlueskyAccount.NETWORK
    label = "Bluesky"

    def new_key(self) -> str:
        """Return the record key every attempt will write: a TID."""
        return tid.new_tid()

    def mention_of(self, business: Business) -> str | None:
        """Return the business's Bluesky handle."""
        return business.bluesky_handle

    def account_of(self, user: User | None) -> BlueskyAccount | None:
        """Return the user's connected Bluesky account, if any."""
        return getattr(user, "bluesky_account", None) if user is not None else None

    def session(self, account: BlueskyAccount) -> Session:
        """Open a session signed in as the account."""
        return BlueskySession(account)

    def where(self, account: BlueskyAccount | None) -> str:
        """Name the account's server (its PDS) by host, for the log."""
        if account is None or not account.pds_url:
            return "-"
        return account.pds_url.split("://", 1)[-1]

    def limits(self, user: User | None) -> tuple[int, int]:
        """Return (max graphemes, 0): a link counts as the text shown, not a fixed length."""
        return text.MAX_GRAPHEMES, 0

    def compose(self, draft: Draft, user: User | None, *, strict: bool = False) -> Status:
        """Build the post: Bluesky counts every grapheme and byte, so `strict` changes nothing."""
        return text.compose(
            draft.body,
            kind=draft.kind,
            business_name=draft.business_name,
            handle=draft.handle,
            link=draft.link,
            did=draft.mention_id,
            image=draft.image,
        )

    def revoke(self, account: BlueskyAccount) -> bool:
        """End our session at the PDS, writing nothing."""
        return signin.revoke(account)

    def forget(self, user: User) -> None:
        """Forget the connection."""
        signin.forget(user)


network: Network = BlueskyNetwork()
