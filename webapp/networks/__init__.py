"""Crossposting that knows no network: what a network does for us, and where to find one.

A network (Mastodon today; Bluesky next) is a folder under webapp/networks/ whose `network`
module holds one object with the `Network` shape below. Delivery (delivery.py), the reply watch
(replies.py) and the sweep's queries (rows.py) talk to a network only through that object and
the `Session` it opens for one connected account, so the next network is one folder more.

A network reports what happened in the words of this module (`Outcome`, `Sent`, `Reply`,
`CallFailed`); what that means for walls, challenges and people is decided by the services.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# Each network's name (as crosspost rows store it) and the module holding its `network` object.
KNOWN = {
    "mastodon": "webapp.networks.mastodon.network",
    "bluesky": "webapp.networks.bluesky.network",
}


@dataclass
class Outcome:
    """What a failed call means for the work: retry later, reconnect, or stop."""

    kind: str  # "retry", "needs_login", "failed" or "gone"
    reason: str
    retry_at: datetime | None = None


@dataclass
class LinkCard:
    """The link back shown as a card: where it goes, its title, first words and picture."""

    uri: str
    title: str
    description: str
    image: Callable[[], bytes | None] | None = None  # drawn only when the status is sent


@dataclass
class Status:
    """A status ready to post, with its length as the network will count it.

    A network that also limits the size (`size` against `max_size`, in bytes), marks parts of
    the text (`facets`) or shows the link as a card (`card`) says so here; others leave them.
    """

    text: str
    length: int
    limit: int
    shortened: bool = False
    size: int | None = None
    max_size: int | None = None
    facets: list[dict] = field(default_factory=list)
    card: LinkCard | None = None

    @property
    def fits(self) -> bool:
        """Tell whether the network will accept it."""
        if self.size is not None and self.max_size is not None and self.size > self.max_size:
            return False
        return self.length <= self.limit


@dataclass
class Draft:
    """What a status is made of: the story, whom it is about, and the link back."""

    body: str
    kind: str
    business_name: str
    handle: str | None
    link: str
    spoiler_text: str = ""
    mention_id: str | None = None  # the business's account id there, when it was found
    image: Callable[[], bytes | None] | None = None  # the post's share card, drawn on demand


@dataclass
class Sent:
    """A status the network made: its id there, its page, and when the network dated it."""

    id: str
    url: str | None
    created_at: datetime | None
    mentions: list[str] = field(default_factory=list)


@dataclass
class Reply:
    """The business's reply, as its own server confirms it."""

    created_at: datetime
    url: str | None
    text: str


class CallFailed(Exception):
    """A call to the network failed: what that means, and what the log calls it."""

    def __init__(
        self, outcome: Outcome, name: str, *, may_have_posted: bool = True, too_long: bool = False
    ) -> None:
        """Keep the outcome, the log's name for it, and what the failure may have done."""
        super().__init__(outcome.reason)
        self.outcome = outcome
        self.name = name
        self.may_have_posted = may_have_posted  # no answer, or the server's fault: maybe made
        self.too_long = too_long  # the network refused the status as too long


class Session(Protocol):
    """One connected account, signed in; every failed call raises `CallFailed`."""

    def find_mention(self, handle: str) -> str | None:
        """Return the business's account id on the network, None when it can't be found."""

    def post(
        self,
        text: str,
        *,
        visibility: str,
        spoiler_text: str | None,
        key: str,
        status: Status | None = None,
    ) -> Sent:
        """Post a status with an idempotency key, so a retry never makes a second one.

        `status` is the composed status the text came from, with its facets and link card
        for a network that uses them.
        """

    def find_own(
        self, link: str, *, key: str, since: datetime, texts: Sequence[str]
    ) -> Sent | None:
        """Find a status an earlier attempt made without our hearing back, to adopt it.

        `key` is the row's idempotency key (a network that names its records itself looks
        that name up); `since` is when the first attempt began; `texts` are what was sent.
        """

    def delete(self, remote_id: str) -> None:
        """Delete a status; one already gone counts as deleted."""

    def find_reply(
        self, remote_id: str, *, mention_id: str, mention_handle: str, since: datetime
    ) -> Reply | None:
        """Return the business's first reply to the status, confirmed by its own server."""


class Network(Protocol):
    """What a network does for Praisewall: count, post, delete, watch, revoke, forget."""

    name: str  # as crosspost rows store it
    label: str  # as people read it

    def new_key(self) -> str:
        """Return a new idempotency key for a status, in the form the network wants."""

    def mention_of(self, business: Any) -> str | None:
        """Return the business's handle on this network, to mention it, if it has one."""

    def account_of(self, user: Any) -> Any | None:
        """Return the user's connected account on this network, if any."""

    def session(self, account: Any) -> Session:
        """Open a session signed in as the account.

        :raise webapp.infra.crypto.InvalidToken: if no key reads the stored token.
        """

    def where(self, account: Any | None) -> str:
        """Name the account's server for the log, "-" if there is none."""

    def limits(self, user: Any | None) -> tuple[int, int]:
        """Return (max characters, characters per link) where the user posts."""

    def compose(self, draft: Draft, user: Any | None, *, strict: bool = False) -> Status:
        """Build the status, counted against the user's limits (`strict`: every character)."""

    def revoke(self, account: Any) -> bool:
        """Revoke our access at the account's server, writing nothing; tell whether it was."""

    def forget(self, user: Any) -> None:
        """Forget the user's connection, without asking its server anything."""


def get(name: str) -> Network:
    """Return the network of this name.

    :raise KeyError: if there is no such network.
    """
    return importlib.import_module(KNOWN[name]).network


def names() -> Sequence[str]:
    """Return the names of every network, in a stable order."""
    return tuple(KNOWN)
