"""Bluesky as a network: what delivery, the reply watch and sign-in ask of it."""

from __future__ import annotations

from webapp.models import BlueskyAccount, Business, User
from webapp.networks import Network
from webapp.networks.bluesky import tid


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

    def where(self, account: BlueskyAccount | None) -> str:
        """Name the account's server (its PDS) by host, for the log."""
        if account is None or not account.pds_url:
            return "-"
        return account.pds_url.split("://", 1)[-1]


network: Network = BlueskyNetwork()  # type: ignore[assignment]  # posting comes next
