"""A signed-in Bluesky account: posts with facets and a link card under a key fixed in
advance, deletes, and the business's reply found by its DID.

A post is an `app.bsky.feed.post` record written with `com.atproto.repo.createRecord` under the
record key (a TID) chosen when its crosspost row was made, so every attempt writes the same
record: a second write of that key is refused, and `getRecord` for it tells for certain whether
an earlier attempt made the post. Never `putRecord`, which would overwrite it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import requests

from webapp.infra import crypto
from webapp.infra.http import NoAnswer, RefusedAddress
from webapp.models import BlueskyAccount
from webapp.networks import CallFailed, Outcome, Reply, Sent, Status
from webapp.networks.bluesky import client, errors, identity
from webapp.networks.bluesky.auth import SessionEnded
from webapp.networks.bluesky.oauth import OAuthRefused

POST = "app.bsky.feed.post"
REPLY_TEXT_MAX = 500
THREAD_DEPTH = 6  # replies to replies: a business may answer further down the thread
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

    def sent(self, rkey: str, found: dict) -> Sent:
        """Turn a record the PDS holds into a `Sent`."""
        value = found.get("value") or {}
        return Sent(rkey, post_url(self.account.did, rkey), parse_time(value.get("createdAt")))

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
            return self.sent(key, found)
        return Sent(key, post_url(self.account.did, key), created_at)

    def find_own(
        self, link: str, *, key: str, since: datetime, texts: Sequence[str]
    ) -> Sent | None:
        """Find the post an attempt of ours made without our hearing back: the record of our key."""
        found = self.record(key)
        return self.sent(key, found) if found is not None else None

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
        thread = answer.get("thread") or {}
        return thread if thread.get("$type", "").endswith("#threadViewPost") else None

    def find_reply(
        self, remote_id: str, *, mention_id: str, mention_handle: str, since: datetime
    ) -> Reply | None:
        """Return the business's first reply in the thread, by the DID its handle resolved to.

        A post the AppView doesn't know is checked at our own PDS: gone there means deleted,
        otherwise the AppView hasn't seen it yet and we look again later.
        """
        thread = self.thread(remote_id)
        if thread is None:
            if self.record(remote_id) is None:
                raise CallFailed(GONE, "NotFound", may_have_posted=False)
            return None
        if not mention_id:
            return None
        by_business = [
            post
            for post in replies_in(thread)
            if (post.get("author") or {}).get("did") == mention_id
        ]
        answers = [answer for answer in (as_reply(p, since) for p in by_business) if answer]
        return min(answers, key=lambda answer: answer.created_at) if answers else None


def replies_in(thread: dict) -> Iterator[dict]:
    """Yield every post in the replies below a thread, at any depth shown."""
    for branch in thread.get("replies") or []:
        if not isinstance(branch, dict) or not branch.get("$type", "").endswith("#threadViewPost"):
            continue
        post = branch.get("post")
        if isinstance(post, dict):
            yield post
        yield from replies_in(branch)


def as_reply(post: dict, since: datetime) -> Reply | None:
    """Turn a reply the AppView shows into a `Reply`, timed by its record within sane bounds.

    The record's createdAt is the writer's word: it is kept between our post and when the
    AppView indexed the reply.
    """
    uri = post.get("uri") or ""
    did = (post.get("author") or {}).get("did") or ""
    record = post.get("record") or {}
    indexed_at = parse_time(post.get("indexedAt"))
    created_at = parse_time(record.get("createdAt")) or indexed_at
    if created_at is None or not uri.startswith(f"at://{did}/{POST}/"):
        return None
    if indexed_at is not None:
        created_at = min(created_at, indexed_at)
    created_at = max(created_at, since)
    rkey = uri.rsplit("/", 1)[-1]
    words = record.get("text") if isinstance(record.get("text"), str) else ""
    if len(words) > REPLY_TEXT_MAX:
        words = words[: REPLY_TEXT_MAX - 1].rstrip() + "…"
    return Reply(created_at, post_url(did, rkey), words)
