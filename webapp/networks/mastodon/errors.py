"""What a failed Mastodon call means: retry later, reconnect, give up, or the thing is gone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from webapp.networks import CallFailed, Outcome
from webapp.networks.mastodon.text import plain_text

# Servers' words for a refused token: Doorkeeper (Mastodon), Pleroma/Akkoma, GoToSocial, and the
# WWW-Authenticate header's error="invalid_token". Some answer 400 or 403 rather than 401.
TOKEN_REFUSED_RE = re.compile(
    r"invalid[_ ]token|invalid credentials|access token (?:is|was) (?:invalid|revoked|expired)"
    r"|token (?:not supplied|was revoked|is invalid|has expired|expired|revoked)",
    re.IGNORECASE,
)
# Mastodon: "Text character limit of 500 exceeded"; others say "too long" or "over the limit".
TOO_LONG_RE = re.compile(
    r"too long|character limit|over the (?:character )?limit|maximum (?:length|characters)"
    r"|characters? (?:limit|maximum)",
    re.IGNORECASE,
)
HEAD_RE = re.compile(r"<head\b.*?</head>", re.IGNORECASE | re.DOTALL)


@dataclass
class Failure:
    """A refused answer as the server sent it: Mastodon.py keeps only a JSON "error"."""

    status: int
    text: str
    content_type: str
    authenticate: str


def remember_failure(response: requests.Response, *args, **kwargs) -> None:
    """Keep the last refused answer on its session, for `classify` to explain."""
    if response.status_code >= 400:
        response.connection.last_failure = Failure(  # type: ignore[attr-defined]
            response.status_code,
            response.text[:4000],
            response.headers.get("content-type", ""),
            response.headers.get("www-authenticate", ""),
        )


def last_failure(client: Mastodon | None) -> Failure | None:
    """Return the last refused answer the client's session received, if any."""
    session = getattr(client, "session", None)
    adapter = session.get_adapter("https://") if session is not None else None
    return getattr(adapter, "last_failure", None)


def classify(error: Exception, client: Mastodon | None = None) -> Outcome:
    """Say what a failed call means: retry later, reconnect, give up, or the thing is gone."""
    if isinstance(error, MastodonRatelimitError):
        reset = getattr(client, "ratelimit_reset", None)
        retry_at = datetime.fromtimestamp(reset, UTC) if reset else None
        return Outcome("retry", "Your server asked us to slow down.", retry_at)
    if isinstance(error, MastodonNetworkError):
        return Outcome("retry", "Your server didn't answer in time.")
    if isinstance(error, MastodonServerError):
        return Outcome("retry", f"Your server had a problem ({api_status(error)}).")
    status = api_status(error)
    if isinstance(error, MastodonUnauthorizedError) or status in (401, 403):
        return Outcome("needs_login", "Your server no longer accepts our sign-in.")
    if status is not None and token_refused(error, client):
        return Outcome("needs_login", "Your server no longer accepts our sign-in.")
    if isinstance(error, MastodonNotFoundError):
        return Outcome("gone", "It is no longer on your server.")
    if isinstance(error, MastodonAPIError):
        return Outcome("failed", refusal(error, client))
    if isinstance(error, MastodonError):
        return Outcome("retry", "Something went wrong talking to your server.")
    raise error


def api_status(error: Exception) -> int | None:
    """Return the HTTP status inside a Mastodon.py error, if it carries one."""
    args: tuple = getattr(error, "args", ())
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def api_reason(error: Exception) -> str:
    """Return the server's own words from a Mastodon.py error."""
    args: tuple = getattr(error, "args", ())
    return str(args[3] if len(args) > 3 and args[3] else args[-1] if args else error)[:300]


def failure_of(error: Exception, client: Mastodon | None) -> Failure | None:
    """Return the refused answer behind an API error, if the client's session kept it."""
    failure = last_failure(client)
    return failure if failure is not None and failure.status == api_status(error) else None


def server_words(error: Exception, client: Mastodon | None = None, limit: int = 200) -> str:
    """Return what the server said: its JSON error, else its page or text, else the reason."""
    args: tuple = getattr(error, "args", ())
    said = args[3] if len(args) > 3 and isinstance(args[3], str) else ""
    failure = failure_of(error, client)
    if not said.strip() and failure is not None:
        said = failure.text
        if "html" in failure.content_type or said.lstrip().startswith("<"):
            said = plain_text(HEAD_RE.sub("", said), limit * 2)
    if not said.strip() and len(args) > 2 and isinstance(args[2], str):
        said = args[2]  # the HTTP reason phrase, e.g. "I'm a teapot"
    said = " ".join(said.split())
    if len(said) > limit:
        said = said[: limit - 1].rstrip() + "…"
    return said or "no reason given"


def refusal(error: Exception, client: Mastodon | None = None) -> str:
    """Explain a refusal in plain words, with the server's status code and its own words."""
    status = api_status(error)
    if status is None:
        return "Your server sent an answer we couldn't read."
    return f"Your server refused it (HTTP {status}): {server_words(error, client)}"


def token_refused(error: Exception, client: Mastodon | None = None) -> bool:
    """Tell whether a refusal says our access token is invalid or revoked, whatever its code."""
    failure = failure_of(error, client)
    said = [server_words(error, client, 500)]
    if failure is not None:
        said += [failure.text[:1000], failure.authenticate]
    return any(TOKEN_REFUSED_RE.search(text) for text in said)


def too_long(error: Exception, client: Mastodon | None = None) -> bool:
    """Tell whether a refusal says the status is too long."""
    return api_status(error) in (400, 413, 422) and bool(
        TOO_LONG_RE.search(server_words(error, client, 500))
    )


def outcome_name(error: Exception) -> str:
    """Name a failed call for the log: its HTTP status, else the kind of error."""
    if isinstance(error, MastodonRatelimitError):
        return "HTTP 429"
    status = api_status(error)
    return f"HTTP {status}" if status is not None else type(error).__name__


def may_have_posted(error: Exception) -> bool:
    """Tell whether a failed post may still have made the status (no answer, or a 5xx)."""
    if isinstance(error, MastodonRatelimitError):
        return False
    status = api_status(error)
    return not (status is not None and 400 <= status < 500)


def failed(error: MastodonError, api: Mastodon) -> CallFailed:
    """Say what a failed call means, in words delivery understands."""
    return CallFailed(
        classify(error, api),
        outcome_name(error),
        may_have_posted=may_have_posted(error),
        too_long=isinstance(error, MastodonAPIError) and too_long(error, api),
    )
