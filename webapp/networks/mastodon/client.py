"""The Mastodon API once signed in, over Mastodon.py: statuses, accounts, threads.

Everything here is plain functions over a client; the callers own the database rows.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

from mastodon import Mastodon
from mastodon.errors import MastodonNotFoundError

from webapp.infra.http import origin, request_timeout, server_session
from webapp.networks.mastodon.errors import remember_failure
from webapp.networks.mastodon.text import REMOTE_MENTION_RE, plain_text

TIMEOUT = 10
HREF_RE = re.compile(r'href="([^"]*)"')
# How far a server's clock may be behind ours when it dates a status one of our attempts made.
CLOCK_SKEW = timedelta(minutes=1)


def api(base_url: str, access_token: str | None = None) -> Mastodon:
    """Return a Mastodon.py client that throws on rate limits and never waits long."""
    session = server_session(base_url)
    session.hooks["response"].append(remember_failure)
    return Mastodon(
        access_token=access_token,
        api_base_url=base_url,
        ratelimit_method="throw",
        request_timeout=api_timeout(),
        user_agent="Praisewall",
        session=session,
    )


def api_timeout() -> float:
    """Return the API call timeout in seconds: MASTODON_TIMEOUT if set, else TIMEOUT."""
    return request_timeout(TIMEOUT)


def who_am_i(base_url: str, access_token: str) -> dict:
    """Return the signed-in account's id, acct, profile URL and actor URI, as its server says."""
    me = api(base_url, access_token).account_verify_credentials()
    return {"id": str(me.id), "acct": me.acct, "url": me.url, "uri": me.get("uri")}


def profile(base_url: str, access_token: str) -> dict:
    """Return the signed-in account's id, acct, URLs, and its first verified website link.

    `verified_link` is (url, verified at) or None.
    """
    me = api(base_url, access_token).account_verify_credentials()
    link = next(
        (
            (url, as_datetime(field.get("verified_at")))
            for field in me.get("fields") or []
            if field.get("verified_at") and (url := first_link(field.get("value") or ""))
        ),
        None,
    )
    return {
        "id": str(me.id),
        "acct": me.acct,
        "url": me.url,
        "uri": me.get("uri"),
        "verified_link": link,
    }


class _LinkFinder(HTMLParser):
    """Collects the href of every <a> in a bit of profile HTML."""

    def __init__(self) -> None:
        """Start with no links."""
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note a link's address."""
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def first_link(fragment: str) -> str | None:
    """Return the first http(s) link in a profile field's HTML, or None."""
    finder = _LinkFinder()
    finder.feed(fragment)
    return next((h for h in finder.hrefs if urlsplit(h).scheme in ("http", "https")), None)


def as_datetime(value: object) -> datetime | None:
    """Read a time Mastodon.py may or may not have parsed already, as aware UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def find_account(client: Mastodon, acct: str) -> dict | None:
    """Resolve a handle through the user's own server; None if it can't be found."""
    acct = acct.lstrip("@")
    try:
        found = client.account_lookup(acct)
    except MastodonNotFoundError:
        results = client.account_search(acct, resolve=True, limit=1)
        found = next((a for a in results if a.acct.lower() == acct.lower()), None)
        if found is None and results and "@" not in results[0].acct:
            # A local account is named without its domain on its own server.
            local = acct.split("@", 1)[0].lower()
            found = results[0] if results[0].acct.lower() == local else None
    if found is None:
        return None
    return {"id": str(found.id), "acct": found.acct}


def post_status(
    client: Mastodon, text: str, *, visibility: str, spoiler_text: str | None, key: str
) -> dict:
    """Post a status with our idempotency key, so a retry never makes a second one."""
    status = client.status_post(
        text, visibility=visibility, spoiler_text=spoiler_text or None, idempotency_key=key
    )
    return {
        "id": str(status.id),
        "url": status.url or status.uri,
        "created_at": status.get("created_at"),
        "mentions": [m.acct.lower() for m in status.mentions],
    }


def find_own_status(
    client: Mastodon, account_id: str, link: str, *, since: datetime, texts: list[str]
) -> dict | None:
    """Find the status an attempt of ours made without our hearing back, to adopt, not repost.

    Only a recent status of the account that carries our exact link, was made after our first
    attempt began, and says one of `texts` (as we sent them) can be ours: an older status with
    the same link (a reused post number, a restored backup) is somebody else's.
    """
    wanted = {comparable(text) for text in texts if text}
    for status in client.account_statuses(account_id, limit=40):
        # Compare whole links: ".../posts/1" is also the start of ".../posts/12".
        links = {html.unescape(href) for href in HREF_RE.findall(status.content or "")}
        created = as_datetime(status.get("created_at"))
        if link not in links or created is None or created < since - CLOCK_SKEW:
            continue
        if wanted and not wanted & {comparable(text) for text in shown_texts(status)}:
            continue
        return {
            "id": str(status.id),
            "url": status.url or status.uri,
            "created_at": created,
            "mentions": [m.acct.lower() for m in status.mentions],
        }
    return None


def shown_texts(status) -> list[str]:
    """Return a status's words as the server shows them: its HTML, and any plain source."""
    texts = [plain_text(status.get("content") or "", 100_000)]
    texts.append(status.get("text") or "")  # GoToSocial, and Mastodon on deletion
    pleroma = status.get("pleroma") or {}
    texts.append(
        ((pleroma.get("content") or {}) if isinstance(pleroma, dict) else {}).get("text/plain")
        or ""
    )
    return [text for text in texts if text]


def comparable(text: str) -> str:
    """Reduce status text to what survives any server's rendering of it.

    Servers show a remote mention as @user, may drop a link's scheme, and turn line breaks into
    paragraphs, so those are dropped before comparing.
    """
    text = REMOTE_MENTION_RE.sub(r"\1@\3", text)
    text = re.sub(r"https?://", "", text, flags=re.IGNORECASE)
    return "".join(text.split())


def delete_status(client: Mastodon, status_id: str) -> None:
    """Delete a status; one already gone counts as deleted."""
    try:
        client.status_delete(status_id)
    except MastodonNotFoundError:
        pass


def replies_by(client: Mastodon, status_id: str, account_id: str, acct: str) -> list[dict]:
    """Return the thread's replies the user's server says the account wrote, earliest first.

    The user's server names the account by its id there or by its handle; either is only a
    hint, which the reply's own server must confirm (`confirmed_reply`).

    :raise MastodonNotFoundError: if the status itself is gone.
    """
    context = client.status_context(status_id)
    acct = acct.lstrip("@").lower()
    # A server names its own people without a domain.
    names = {acct, acct.partition("@")[0]}
    replies = []
    for reply in context.get("descendants") or []:
        account = reply.get("account") if isinstance(reply, dict) else None
        created = as_datetime(reply.get("created_at")) if isinstance(account, dict) else None
        if created is not None and (
            str(account.get("id")) == str(account_id)
            or str(account.get("acct") or "").lower() in names
        ):
            replies.append({"uri": str(reply.get("uri") or ""), "created_at": created})
    return sorted(replies, key=lambda reply: reply["created_at"])


def status_uri(client: Mastodon, status_id: str) -> str | None:
    """Return our status's ActivityPub id, if it is on the user's own server as it should be."""
    uri = str(client.status(status_id).get("uri") or "")
    return uri if uri and origin(uri) == origin(client.api_base_url) else None
