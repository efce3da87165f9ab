"""What a failed Bluesky call means: retry later, reconnect, or stop with a plain reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import requests

from webapp.infra import crypto
from webapp.infra.http import NoAnswer, RefusedAddress
from webapp.networks import CallFailed, Outcome
from webapp.networks.bluesky.auth import SessionEnded
from webapp.networks.bluesky.client import TOKEN_ERRORS, XrpcError
from webapp.networks.bluesky.oauth import OAuthRefused

# The PDS's words for a post over the limits (graphemes or UTF-8 bytes).
TOO_LONG_RE = re.compile(r"grapheme|too long|maxLength|maxGraphemes|must not be longer", re.I)
ACCOUNT_ERRORS = {"AccountTakedown", "AccountDeactivated", "AccountSuspended"}


def retry_at(headers: dict[str, str]) -> datetime | None:
    """Return when the server's rate limit resets (`ratelimit-reset`, epoch seconds)."""
    try:
        return datetime.fromtimestamp(int(float(headers.get("ratelimit-reset", ""))), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def classify(error: BaseException) -> Outcome:
    """Say what a failed call means for the work."""
    if isinstance(error, SessionEnded):
        return Outcome("needs_login", "Your Bluesky server no longer accepts our sign-in.")
    if isinstance(error, XrpcError):
        if error.status == 429:
            return Outcome(
                "retry", "Your Bluesky server asked us to slow down.", retry_at(error.headers)
            )
        if error.status >= 500:
            return Outcome("retry", f"Your Bluesky server had a problem (HTTP {error.status}).")
        if error.status == 401 or error.error_name in TOKEN_ERRORS | ACCOUNT_ERRORS:
            return Outcome("needs_login", "Your Bluesky server no longer accepts our sign-in.")
        words = " ".join((error.message or error.error_name).split())[:200]
        return Outcome("failed", f"Your Bluesky server refused it (HTTP {error.status}): {words}")
    if isinstance(error, OAuthRefused):
        if error.status >= 500 or error.status == 429:
            return Outcome("retry", "Your Bluesky sign-in service had a problem.")
        return Outcome("failed", f"Your Bluesky sign-in service refused us: {error.error}")
    if isinstance(error, crypto.InvalidToken):
        return Outcome("retry", "The site can't read its stored sign-in (a missing key).")
    if isinstance(error, NoAnswer):
        return Outcome("retry", "We couldn't check the business's Bluesky handle just now.")
    if isinstance(error, requests.Timeout):
        return Outcome("retry", "Your Bluesky server didn't answer in time.")
    if isinstance(error, requests.RequestException):
        return Outcome("retry", "We couldn't reach your Bluesky server.")
    return Outcome("retry", "Something went wrong talking to your Bluesky server.")


def name_of(error: BaseException) -> str:
    """Name a failed call for the log: its HTTP status and error, else the kind of error."""
    if isinstance(error, XrpcError):
        return f"HTTP {error.status} {error.error_name}"
    if isinstance(error, OAuthRefused):
        return f"HTTP {error.status} {error.error}"
    if isinstance(error, NoAnswer):
        return f"NoAnswer {error}"
    return type(error).__name__


def may_have_posted(error: BaseException) -> bool:
    """Tell whether a failed write may still have been made (no answer, or a 5xx)."""
    if isinstance(error, XrpcError):
        return error.status >= 500
    if isinstance(
        error, SessionEnded | OAuthRefused | crypto.InvalidToken | RefusedAddress | NoAnswer
    ):
        return False
    return not isinstance(error, requests.ConnectTimeout)


def too_long(error: BaseException) -> bool:
    """Tell whether the server refused a record as too long."""
    return (
        isinstance(error, XrpcError)
        and error.status == 400
        and bool(TOO_LONG_RE.search(error.message))
    )


def failed(error: BaseException) -> CallFailed:
    """Say what a failed call means, in words delivery understands."""
    return CallFailed(
        classify(error),
        name_of(error),
        may_have_posted=may_have_posted(error),
        too_long=too_long(error),
    )
