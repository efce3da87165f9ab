"""A signed-in Bluesky account: posts with facets and a link card under a key fixed in
advance, deletes, and the business's reply found by its DID and confirmed by its own PDS.

A post is an `app.bsky.feed.post` record written with `com.atproto.repo.createRecord` under the
record key (a TID) chosen when its crosspost row was made, so every attempt writes the same
record: a second write of that key is refused, and `getRecord` for it tells for certain whether
an earlier attempt made the post. Never `putRecord`, which would overwrite it.

The thread is read through the poster's own PDS, which can answer anything: its replies are
only candidates. A reply counts once the business's PDS, named by the DID document we resolve
ourselves, holds that record, by that DID, answering our post.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests

from webapp.infra import crypto
from webapp.infra.http import NoAnswer, RefusedAddress, fetch_json
from webapp.models import BlueskyAccount
from webapp.networks import CallFailed, Outcome, Reply, Sent, Status
from webapp.networks.bluesky import client, errors, identity, tid
from webapp.networks.bluesky.auth import SessionEnded
from webapp.networks.bluesky.oauth import OAuthRefused

POST = "app.bsky.feed.post"
REPLY_TEXT_MAX = 500
THREAD_DEPTH = 6  # replies to replies: a business may answer further down the thread
REPLIES_TRIED = 2  # candidate replies confirmed with the business's PDS per check
THUMB_MAX = 1_000_000  # bytes: the largest picture a link card takes
MENTION_ID_MAX = 64  # Crosspost.mention_account_id holds the DID
GONE = Outcome("gone", "The post is no longer on Bluesky.")
# What a call to the PDS may fail with; `errors.failed` says what each means.
CALL_ERRORS = (
    client.XrpcError,
    requests.RequestException,
    SessionEnded,
    OAuthRefused,
    RefusedAddress,
    NoAnswer,
    crypto.InvalidToken,
)


def post_url(did: str, rkey: str) -> str:
    """Return a post's page on Bluesky's web app."""
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def at_uri(did: str, rkey: str) -> str:
    """Return a post's AT URI."""
    return f"at://{did}/{POST}/{rkey}"


def parse_time(value: Any) -> datetime | None:
    """Read an AT Protocol datetime as an aware UTC datetime; None when it isn't one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def tid_time(key: str) -> datetime | None:
    """Return the moment a TID names (its microseconds since the epoch); None for no TID."""
    if not tid.is_tid(key):
        return None
    number = 0
    for character in key:
        number = number * 32 + tid.ALPHABET.index(character)
    return datetime.fromtimestamp((number >> 10) / 1_000_000, UTC)


def bounded(moment: datetime | None, earliest: datetime | None) -> datetime:
    """Keep a time a record claims between `earliest` (if known) and now."""
    now = datetime.now(UTC)
    moment = min(moment or now, now)
    return max(moment, earliest) if earliest is not None and earliest <= now else moment


def iso(moment: datetime) -> str:
    """Write a datetime as the AT Protocol wants it: UTC, milliseconds, "Z"."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def not_found(error: BaseException, *names: str) -> bool:
    """Tell whether a call failed because the thing asked for isn't there."""
    return isinstance(error, client.XrpcError) and error.error_name in names


class BlueskySession:
    """One Bluesky account, signed in at its PDS."""

    def __init__(self, account: BlueskyAccount) -> None:
        """Sign in as the account; raise crypto.InvalidToken if no key reads its token."""
        self.account = account
        self.api = client.Client(account)

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Turn a failed call inside into `CallFailed`."""
        try:
            yield
        except CALL_ERRORS as error:
            raise errors.failed(error) from error

    def find_mention(self, handle: str) -> str | None:
        """Resolve the business's handle to its DID, believed only when it resolves both ways."""
        with self.calling():
            # Strict: a server that didn't answer is tried again later, not taken for a "no".
            found = identity.resolve_handle(handle, strict=True)
        if found is None or len(found.did) > MENTION_ID_MAX:
            # A did:web on a very long domain doesn't fit the row: named in plain text instead.
            return None
        return found.did

    def record(self, rkey: str) -> dict | None:
        """Return our post record of this key, None when there is none."""
        try:
            with self.calling():
                return self.api.get(
                    "com.atproto.repo.getRecord",
                    {"repo": self.account.did, "collection": POST, "rkey": rkey},
                )
        except CallFailed as failure:
            if not_found(failure.__cause__ or failure, "RecordNotFound", "NotFound"):
                return None
            raise

    def sent(self, rkey: str, found: dict, since: datetime | None) -> Sent:
        """Turn a record the PDS holds into a `Sent`, dated within [since, now].

        The record's createdAt is whatever was written under our key, so it is only believed
        between the first attempt (or, not knowing it, the moment our key names) and now.
        """
        value = found.get("value")
        claimed = parse_time(value.get("createdAt")) if isinstance(value, dict) else None
        earliest = since if since is not None else tid_time(rkey)
        return Sent(rkey, post_url(self.account.did, rkey), bounded(claimed, earliest))

    def thumb(self, status: Status) -> dict | None:
        """Draw the post's share card and upload it; None when there is no picture."""
        if status.card is None or status.card.image is None:
            return None
        image = status.card.image()
        if not image or len(image) > THUMB_MAX:
            return None
        try:
            with self.calling():
                return self.api.upload_blob(image, "image/png").get("blob")
        except CallFailed as failure:
            if failure.outcome.kind == "failed":
                return None  # a picture the server won't take: the card goes without it
            raise

    def post(
        self,
        text: str,
        *,
        visibility: str,
        spoiler_text: str | None,
        key: str,
        status: Status | None = None,
    ) -> Sent:
        """Write the post under its record key, with its facets and link card.

        Bluesky posts are public; there is no visibility or content warning to set.
        """
        created_at = datetime.now(UTC)
        record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": iso(created_at)}
        if status is not None and status.facets:
            record["facets"] = status.facets
        if status is not None and status.card is not None:
            external: dict[str, Any] = {
                "uri": status.card.uri,
                "title": status.card.title,
                "description": status.card.description,
            }
            thumb = self.thumb(status)
            if thumb:
                external["thumb"] = thumb
            record["embed"] = {"$type": "app.bsky.embed.external", "external": external}
        try:
            with self.calling():
                self.api.post(
                    "com.atproto.repo.createRecord",
                    {"repo": self.account.did, "collection": POST, "rkey": key, "record": record},
                )
        except CallFailed as failure:
            if not failure.may_have_posted:
                raise
            # A write of a key already taken is answered with a server error, and a lost
            # answer leaves us guessing: the record under our key tells which it was.
            try:
                found = self.record(key)
            except CallFailed:
                raise failure from None
            if found is None:
                raise
            return self.sent(key, found, None)
        return Sent(key, post_url(self.account.did, key), created_at)

    def find_own(
        self, link: str, *, key: str, since: datetime, texts: Sequence[str]
    ) -> Sent | None:
        """Find the post an attempt of ours made without our hearing back: the record of our key."""
        found = self.record(key)
        return self.sent(key, found, since) if found is not None else None

    def delete(self, remote_id: str) -> None:
        """Delete the post; one already gone counts as deleted."""
        try:
            with self.calling():
                self.api.post(
                    "com.atproto.repo.deleteRecord",
                    {"repo": self.account.did, "collection": POST, "rkey": remote_id},
                )
        except CallFailed as failure:
            if not not_found(failure.__cause__ or failure, "RecordNotFound", "NotFound"):
                raise

    def thread(self, remote_id: str) -> dict | None:
        """Read the post's thread from the AppView; None when it has no such post (yet)."""
        try:
            with self.calling():
                answer = self.api.get(
                    "app.bsky.feed.getPostThread",
                    {"uri": at_uri(self.account.did, remote_id), "depth": THREAD_DEPTH},
                    proxy_appview=True,
                )
        except CallFailed as failure:
            if not_found(failure.__cause__ or failure, "NotFound"):
                return None
            raise
        thread = answer.get("thread")
        return thread if is_thread_view(thread) else None

    def find_reply(
        self, remote_id: str, *, mention_id: str, mention_handle: str, since: datetime
    ) -> Reply | None:
        """Return the business's first reply, as the business's own PDS confirms it.

        A post the AppView doesn't know is checked at our own PDS: gone there means deleted,
        otherwise the AppView hasn't seen it yet and we look again later. The thread names
        candidates only; a few of them are looked up at the business's PDS, and a reply its
        PDS can't confirm now is looked for again next time.
        """
        thread = self.thread(remote_id)
        if thread is None:
            if self.record(remote_id) is None:
                raise CallFailed(GONE, "NotFound", may_have_posted=False)
            return None
        if not identity.is_did(mention_id):
            return None
        candidates = sorted(
            (c for c in (candidate(post, mention_id) for post in replies_in(thread)) if c),
            key=lambda c: c[1] or since,
        )
        if not candidates:
            return None
        pds = business_pds(mention_id)
        if pds is None:
            return None
        ours = at_uri(self.account.did, remote_id)
        # Bounded: whoever fills a thread with fakes can't make us fetch them all.
        answers = [
            answer
            for rkey, indexed_at in candidates[:REPLIES_TRIED]
            if (answer := confirmed_reply(pds, mention_id, rkey, ours, since, indexed_at))
        ]
        return min(answers, key=lambda answer: answer.created_at) if answers else None


def is_thread_view(value: object) -> bool:
    """Tell whether a value from the AppView is a thread view of a post."""
    if not isinstance(value, dict):
        return False
    kind = value.get("$type")
    return isinstance(kind, str) and kind.endswith("#threadViewPost")


def replies_in(thread: dict, depth: int = THREAD_DEPTH) -> Iterator[dict]:
    """Yield every post in the replies below a thread, down to the depth we asked for."""
    branches = thread.get("replies")
    if depth <= 0 or not isinstance(branches, list):
        return
    for branch in branches:
        if not is_thread_view(branch):
            continue
        post = branch.get("post")
        if isinstance(post, dict):
            yield post
        yield from replies_in(branch, depth - 1)


def candidate(post: dict, did: str) -> tuple[str, datetime | None] | None:
    """Return (record key, when the AppView says it indexed it) of a reply shown as by `did`.

    Nothing here is believed yet: it only says which record to ask the business's PDS for.
    """
    author = post.get("author")
    if not isinstance(author, dict) or author.get("did") != did:
        return None
    uri = post.get("uri")
    prefix = f"at://{did}/{POST}/"
    if not isinstance(uri, str) or not uri.startswith(prefix):
        return None
    rkey = uri.removeprefix(prefix)
    if not tid.is_tid(rkey):
        return None
    return rkey, parse_time(post.get("indexedAt"))


def business_pds(did: str) -> str | None:
    """Return the PDS the DID's own document names, as we resolve it."""
    document = identity.did_document(did)
    return identity.pds_in(document) if document is not None else None


def confirmed_reply(
    pds: str, did: str, rkey: str, ours: str, since: datetime, indexed_at: datetime | None
) -> Reply | None:
    """Return the reply the business's PDS holds under this key, if it answers our post.

    Asked without signing in, over the checked transport. Its text and time come from that
    record; the time is kept between our post and now (or when the AppView indexed it).
    """
    query = urlencode({"repo": did, "collection": POST, "rkey": rkey})
    found = fetch_json(f"{pds}/xrpc/com.atproto.repo.getRecord?{query}", accept="application/json")
    uri = at_uri(did, rkey)
    if not isinstance(found, dict) or found.get("uri") != uri:
        return None
    record = found.get("value")
    if not isinstance(record, dict) or record.get("$type") != POST:
        return None
    if ours not in reply_targets(record.get("reply")):
        return None
    created_at = parse_time(record.get("createdAt")) or indexed_at or datetime.now(UTC)
    if indexed_at is not None:
        created_at = min(created_at, indexed_at)
    created_at = max(min(created_at, datetime.now(UTC)), since)
    words = record.get("text") if isinstance(record.get("text"), str) else ""
    if len(words) > REPLY_TEXT_MAX:
        words = words[: REPLY_TEXT_MAX - 1].rstrip() + "…"
    return Reply(created_at, post_url(did, rkey), words)


def reply_targets(reply: object) -> set[str]:
    """Return the URIs a record's `reply` names as its root and parent."""
    if not isinstance(reply, dict):
        return set()
    targets = set()
    for name in ("root", "parent"):
        ref = reply.get(name)
        if isinstance(ref, dict) and isinstance(ref.get("uri"), str):
            targets.add(ref["uri"])
    return targets
