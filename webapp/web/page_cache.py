"""A few seconds' memory of the public pages visitors read, kept in front of the app.

When a post goes viral or a wall is embedded on a busy site, thousands of visitors without a
cookie ask for the same few pages. Each web process keeps the answer it last gave them for
PAGE_CACHE_SECONDS (5 by default; 0 turns it off) and repeats it without running the app, much
as a reverse proxy's micro-cache would. Only what the app itself marked fit for any cache
(`Cache-Control: public`, no cookie set) is kept, and only for requests that carry no cookie
and no credentials, so nobody is ever shown a page meant for somebody else. Signed-in people
always get a fresh page, so an author sees their own post at once; visitors see it within
PAGE_CACHE_SECONDS.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from time import monotonic

from flask import Flask

# What one process keeps at most; past either, the oldest pages go first. Junk query strings
# can't make it grow past these.
MAX_ENTRIES = 2000
MAX_BYTES = 32 * 1024 * 1024
MAX_BODY = 512 * 1024  # bytes; anything larger is passed through, never kept
# Request headers that make an answer personal or partial: such requests skip the cache.
PERSONAL_HEADERS = ("HTTP_COOKIE", "HTTP_AUTHORIZATION", "HTTP_RANGE", "HTTP_IF_MODIFIED_SINCE")
# Request headers a kept page may differ by; everything else about it is in the URL.
KEY_HEADERS = ("HTTP_HOST", "HTTP_ACCEPT_ENCODING")
VARY_ALLOWED = {"cookie", "accept-encoding"}
# What a 304 repeats of the full answer (RFC 9110, section 15.4.5).
NOT_MODIFIED_HEADERS = {"cache-control", "content-location", "date", "etag", "expires", "vary"}

StartResponse = Callable[..., object]


@dataclass(frozen=True)
class Entry:
    """One kept answer: status line, headers, body and when it was made."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes
    made: float
    etag: str | None


class PageCache:
    """WSGI middleware that answers cookieless GETs of public pages from a short-lived copy."""

    def __init__(self, app: Callable, seconds: float) -> None:
        """Wrap a WSGI app, keeping each public page for `seconds`."""
        self.app = app
        self.seconds = seconds
        self.entries: dict[tuple, Entry] = {}
        self.size = 0  # bytes of body kept
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        """Answer from a fresh copy when there is one; otherwise ask the app and keep its page."""
        if not self.applies(environ):
            return self.app(environ, start_response)
        key = cache_key(environ)
        entry = self.entries.get(key)
        now = monotonic()
        if entry is not None and now - entry.made < self.seconds:
            return self.replay(entry, environ, start_response, now)
        return self.fetch(key, environ, start_response)

    @staticmethod
    def applies(environ: dict) -> bool:
        """Tell whether a request may be answered from, and fill, the shared copy."""
        return environ.get("REQUEST_METHOD") in ("GET", "HEAD") and not any(
            environ.get(header) for header in PERSONAL_HEADERS
        )

    def replay(
        self, entry: Entry, environ: dict, start_response: StartResponse, now: float
    ) -> Iterable[bytes]:
        """Send a kept page, or 304 when the visitor already holds it."""
        age = ("Age", str(int(now - entry.made)))
        held = environ.get("HTTP_IF_NONE_MATCH", "")
        if entry.etag and (entry.etag in held or held.strip() == "*"):
            kept = [(k, v) for k, v in entry.headers if k.lower() in NOT_MODIFIED_HEADERS]
            start_response("304 Not Modified", [*kept, age])
            return []
        start_response(entry.status, [*entry.headers, age])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [entry.body]

    def fetch(self, key: tuple, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        """Run the app; keep its answer when it is a public page small enough to keep."""
        seen: dict = {}

        def remember(status: str, headers: list[tuple[str, str]], exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        # Anything but a full GET answer is passed straight through: a HEAD has no body to keep.
        body = self.app(environ, remember)
        if environ["REQUEST_METHOD"] != "GET" or not keepable(seen):
            return body
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        data = b"".join(chunks)
        if len(data) <= MAX_BODY:
            self.store(key, Entry(seen["status"], seen["headers"], data, monotonic(), etag(seen)))
        return [data]

    def store(self, key: tuple, entry: Entry) -> None:
        """Keep an entry, dropping the oldest when full."""
        with self.lock:
            self.forget(key)
            while self.entries and (
                len(self.entries) >= MAX_ENTRIES or self.size + len(entry.body) > MAX_BYTES
            ):
                self.forget(next(iter(self.entries)))
            self.entries[key] = entry
            self.size += len(entry.body)

    def forget(self, key: tuple) -> None:
        """Drop one entry, if kept; the caller holds the lock."""
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body)


def cache_key(environ: dict) -> tuple:
    """Return what a kept page is looked up by: scheme, host, path, query and encodings."""
    return (
        environ.get("wsgi.url_scheme"),
        environ.get("SCRIPT_NAME", ""),
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
        *(environ.get(header, "") for header in KEY_HEADERS),
    )


def keepable(seen: dict) -> bool:
    """Tell whether the app's answer is a public 200 that sets nothing personal."""
    if not seen.get("status", "").startswith("200"):
        return False
    headers: dict[str, list[str]] = {}
    for name, value in seen["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    # Directives by name, values kept: `private="Set-Cookie"` is private, `max-age=0` is stale.
    directives = dict(
        (part.strip().lower().partition("=")[::2])
        for part in ",".join(headers.get("cache-control", [])).split(",")
    )
    vary = {part.strip().lower() for part in ",".join(headers.get("vary", [])).split(",")}
    return (
        "public" in directives
        and not directives.keys() & {"no-store", "private", "no-cache"}
        and directives.get("max-age") != "0"
        and directives.get("s-maxage") != "0"
        and "set-cookie" not in headers
        and vary - {""} <= VARY_ALLOWED
    )


def etag(seen: dict) -> str | None:
    """Return the answer's ETag header, if it has one."""
    return next((value for name, value in seen["headers"] if name.lower() == "etag"), None)


def init_app(app: Flask) -> None:
    """Put the cache in front of the app unless PAGE_CACHE_SECONDS is 0."""
    seconds = float(app.config.get("PAGE_CACHE_SECONDS", 0))
    if seconds > 0:
        app.wsgi_app = PageCache(app.wsgi_app, seconds)  # type: ignore[method-assign]
