"""A small Mastodon-compatible server for tests, served over real HTTP on loopback.

Mastodon.py and Authlib talk to it unpatched. It implements the parts of the Mastodon API and
Doorkeeper OAuth that the app uses, with the real checks (client secret, redirect URI, scopes,
single-use codes, PKCE S256, token scopes, grapheme/URL/mention length rule, Idempotency-Key for
one hour), and injects faults on command (`fail_next`, `delay_next`, `forget_apps`,
`revoke_tokens`) or at random (`chaos`). It can name its people by another domain than its own
address (`split_domain`, with WebFinger for them) and lie about who someone is (`lie_about`).
Other servers' ways are there too: `count_raw=True` counts every character as written (while
still advertising `characters_reserved_per_url`), `fail_next(body="...")` answers with plain text
or HTML, and `revoke_tokens(status=400, ...)` refuses a revoked token as Pleroma, Akkoma or
GoToSocial do.

Behaviour follows Mastodon 4.3 with Doorkeeper 5.x, as read in their source:

- Authorization page errors: an unknown client or an unregistered redirect URI gets an HTML error
  page (no redirect, as the server cannot trust the URI); every other error (bad scope, bad PKCE
  method, unsupported response type) redirects to the redirect URI with `error=...&state=...`.
- Token endpoint checks run in Doorkeeper's order: missing `code_verifier` for a PKCE grant or a
  missing `redirect_uri` is `invalid_request` (400); unknown client or wrong secret is
  `invalid_client` (401); unknown, expired (10 min), reused or foreign code, a different
  redirect URI, or a wrong verifier is `invalid_grant` (400).
- With `pkce=False` the server behaves like Mastodon before 4.3: no RFC 8414 metadata (404), the
  challenge is ignored at authorize, and a `code_verifier` at the token endpoint is refused
  (`invalid_request`, Doorkeeper's "Server does not support pkce").
- Mastodon enables Doorkeeper's `reuse_access_token`: signing in again with the same app, account
  and scopes returns the same token.
- `forget_apps()` drops apps and their pending codes but keeps issued tokens working, since the
  real vacuum only removes apps nobody uses.
- A delayed request (`delay_next`) is processed first and answered late, as a slow server would:
  a client that times out may still have created a status.

Plain http: Authlib 1.9.9's OAuth2 client never checks the transport, and `is_secure_transport`
treats loopback http as secure anyway, so `AUTHLIB_INSECURE_TRANSPORT` is not needed. Mastodon.py
refuses http OAuth URLs taken from the server metadata, so call
`revoke_access_token(allow_http=True)` against this fake.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import html
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import grapheme
import requests
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

OOB_REDIRECT_URI = "urn:ietf:wg:oauth:2.0:oob"
IDEMPOTENCY_SECONDS = 3600
AUTHORIZATION_CODE_SECONDS = 600
RATE_LIMIT = 300
RATE_LIMIT_WINDOW_SECONDS = 300
VISIBILITIES = ("public", "unlisted", "private", "direct")
KNOWN_SCOPES = frozenset(
    """
    read read:accounts read:blocks read:bookmarks read:favourites read:filters read:follows
    read:lists read:mutes read:notifications read:search read:statuses
    write write:accounts write:blocks write:bookmarks write:conversations write:favourites
    write:filters write:follows write:lists write:media write:mutes write:notifications
    write:reports write:statuses follow push profile
    admin:read admin:read:accounts admin:read:reports admin:read:domain_allows
    admin:read:domain_blocks admin:read:ip_blocks admin:read:email_domain_blocks
    admin:read:canonical_email_blocks admin:write admin:write:accounts admin:write:reports
    admin:write:domain_allows admin:write:domain_blocks admin:write:ip_blocks
    admin:write:email_domain_blocks admin:write:canonical_email_blocks
    """.split()
)
DEFAULT_TOKEN_SCOPES = "read:accounts read:statuses write:statuses"
TEST_APP_NAME = "fake-mastodon tests"
CHARACTER_LIMIT_ERROR = "character limit of %d exceeded"
VAPID_KEY = (
    "BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifKqfeGIm7Z-HiTU5T9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0TzdZ2M="
)

# Doorkeeper's English error descriptions, so error texts look like the real ones.
OAUTH_ERRORS = {
    "invalid_client": (
        "Client authentication failed due to unknown client, no client authentication "
        "included, or unsupported authentication method."
    ),
    "invalid_grant": (
        "The provided authorization grant is invalid, expired, revoked, does not match the "
        "redirection URI used in the authorization request, or was issued to another client."
    ),
    "invalid_redirect_uri": (
        "The requested redirect uri is malformed or doesn't match client redirect URI."
    ),
    "invalid_scope": "The requested scope is invalid, unknown, or malformed.",
    "unsupported_response_type": "The authorization server does not support this response type.",
    "unsupported_grant_type": (
        "The authorization grant type is not supported by the authorization server."
    ),
    "access_denied": "The resource owner or authorization server denied the request.",
    "unauthorized_client": "You are not authorized to revoke this token",
}

# Mastodon's Account::MENTION_RE; the optional port exists only because this fake's own domain
# has one ("127.0.0.1:PORT").
MENTION_RE = re.compile(
    r"(?<![=/\w])@(([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@(\w+(?:[.-]+\w+)*(?::\d+)?))?)",
    re.IGNORECASE,
)
# An approximation of twitter-text's URL extraction with a protocol (the only kind Mastodon's
# length rule discounts): up to whitespace, without trailing punctuation.
URL_RE = re.compile(r"(?<![A-Za-z0-9@$#＠＃])https?://[^\s<>\"]+", re.IGNORECASE)
HASHTAG_RE = re.compile(r"(?<!\S)#(\w*[^\W\d_]\w*)")
# URLs, mentions and hashtags in one pass, so an @ or # inside a URL is not taken for one.
_ENTITY_RE = re.compile(
    "(?P<url>" + URL_RE.pattern + ")"
    "|(?P<mention>(?<![=/\\w])@(?P<m_user>[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)"
    "(?:@(?P<m_domain>\\w+(?:[.-]+\\w+)*(?::\\d+)?))?)"
    "|(?P<tag>(?<!\\S)#(?P<tag_name>\\w*[^\\W\\d_]\\w*))",
    re.IGNORECASE,
)
HIDDEN_INPUT_RE = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
ERROR_PAGE_RE = re.compile(r'<h2 id="error">([^<]*)</h2>\s*<p id="error_description">([^<]*)</p>')
TRAILING_PUNCTUATION = ".,:;!?'\"]}"


class AuthorizationError(Exception):
    """The authorize page showed an error page instead of redirecting back to the app."""

    def __init__(self, error: str, description: str, status: int) -> None:
        """Keep the OAuth error name, its description and the page's HTTP status."""
        super().__init__(f"{error}: {description} (HTTP {status})")
        self.error = error
        self.description = description
        self.status = status


def countable_length(
    text: str, spoiler_text: str = "", *, characters_reserved_per_url: int = 23
) -> int:
    """Count a status the way Mastodon's StatusLengthValidator does."""

    def url_placeholder(match: re.Match[str]) -> str:
        url, rest = _trim_url(match.group(0))
        return "x" * characters_reserved_per_url + rest

    countable = URL_RE.sub(url_placeholder, text)
    countable = MENTION_RE.sub(lambda m: "@" + m.group(2), countable)
    return grapheme.length(spoiler_text + countable)


def _trim_url(candidate: str) -> tuple[str, str]:
    """Split trailing punctuation (and unbalanced closing parentheses) off a URL."""
    url = candidate
    while url and (
        url[-1] in TRAILING_PUNCTUATION or (url[-1] == ")" and url.count("(") < url.count(")"))
    ):
        url = url[:-1]
    return url, candidate[len(url) :]


def iso(moment: datetime) -> str:
    """Format a datetime as Mastodon does: UTC, milliseconds, "Z"."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _flat(pairs: Any) -> dict[str, Any]:
    """Turn a MultiDict into a dict, keeping lists only for repeated keys."""
    return {key: values if len(values) > 1 else values[0] for key, values in pairs.lists()}


def _with_query(uri: str, params: dict[str, str]) -> str:
    """Append query parameters to a URI that may already have some."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class _QuietHandler(WSGIRequestHandler):
    """Request handler that skips access logs and dates responses by the fake's clock."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the per-request access log line."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """Send the fake's time in the Date header, so rate-limit resets line up with it."""
        fake = getattr(self.server, "fake", None)
        now = fake.now().timestamp() if fake is not None else time.time()
        return email.utils.formatdate(now if timestamp is None else timestamp, usegmt=True)


class FakeMastodon:
    """A Mastodon-compatible WSGI app with test controls, served on a loopback port."""

    def __init__(
        self,
        *,
        max_characters: int = 500,
        characters_reserved_per_url: int = 23,
        pkce: bool = True,
        count_raw: bool = False,
    ) -> None:
        """Configure the instance limits, whether it speaks PKCE (Mastodon 4.3+), and whether it
        counts every character as written instead of as Mastodon does."""
        self.max_characters = max_characters
        self.characters_reserved_per_url = characters_reserved_per_url
        self.pkce = pkce
        self.count_raw = count_raw
        self.url = ""
        self.domain = ""
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._urls = Map(
            [
                Rule("/api/v1/apps", endpoint="create_app", methods=["POST"]),
                Rule("/.well-known/oauth-authorization-server", endpoint="oauth_metadata"),
                Rule("/.well-known/webfinger", endpoint="webfinger"),
                Rule("/oauth/authorize", endpoint="authorize", methods=["GET", "POST"]),
                Rule("/oauth/authorize/native", endpoint="authorize_native"),
                Rule("/oauth/token", endpoint="token", methods=["POST"]),
                Rule("/oauth/revoke", endpoint="revoke", methods=["POST"]),
                Rule("/api/v1/accounts/verify_credentials", endpoint="verify_credentials"),
                Rule("/api/v1/accounts/lookup", endpoint="account_lookup"),
                Rule("/api/v1/accounts/search", endpoint="account_search"),
                Rule("/api/v1/accounts/<account_id>", endpoint="account"),
                Rule("/api/v1/accounts/<account_id>/statuses", endpoint="account_statuses"),
                Rule("/api/v1/instance", endpoint="instance_v1"),
                Rule("/api/v2/instance", endpoint="instance_v2"),
                Rule("/api/v1/statuses", endpoint="post_status", methods=["POST"]),
                Rule("/api/v1/statuses/<status_id>", endpoint="status", methods=["GET", "DELETE"]),
                Rule("/api/v1/statuses/<status_id>/context", endpoint="context"),
                Rule("/users/<username>/statuses/<status_id>", endpoint="note"),
            ]
        ).bind("localhost")
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeMastodon:
        """Serve the app on a free loopback port in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = make_server(
            "127.0.0.1", 0, self, threaded=True, request_handler=_QuietHandler
        )
        self._server.fake = self
        self.domain = f"127.0.0.1:{self._server.port}"
        self.url = f"http://{self.domain}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-mastodon-{self._server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cutting short any injected delays, and close the socket."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeMastodon:
        """Start the server for a `with` block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server at the end of a `with` block."""
        self.stop()

    def reset(self) -> None:
        """Forget every account, app, code, token, status, log entry and injected fault."""
        with self._lock:
            self.statuses: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []
            self.apps: dict[str, dict[str, Any]] = {}
            self._accounts: dict[str, dict[str, Any]] = {}
            self._grants: dict[str, dict[str, Any]] = {}
            self._tokens: dict[str, dict[str, Any]] = {}
            self._idempotency: dict[tuple[str, str], tuple[str, datetime]] = {}
            self._faults: list[dict[str, Any]] = []
            self._delays: list[dict[str, Any]] = []
            self._chaos: dict[str, Any] | None = None
            self._rate_counts: dict[tuple[str, int], int] = {}
            self._revoked_answer: tuple[int, str] = (401, "The access token was revoked")
            self._clock_offset = timedelta()
            self._last_id = 0
            self.handle_domain = ""
            self._redirect_webfinger = False
            self._lies: dict[str, dict[str, str]] = {}
            self._link_lies: dict[str, str] = {}

    # -- test controls ---------------------------------------------------------------------

    def now(self) -> datetime:
        """Return the fake's current time (aware UTC), including any `advance_clock`."""
        return datetime.now(UTC) + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward, e.g. past the one-hour idempotency window."""
        with self._lock:
            self._clock_offset += timedelta(seconds=seconds)

    def add_account(
        self, username: str, *, domain: str | None = None, display_name: str = ""
    ) -> dict[str, Any]:
        """Add a local account, or a known remote one when `domain` is given; return its JSON."""
        if not re.fullmatch(r"[A-Za-z0-9_]+", username):
            raise ValueError(f"invalid Mastodon username {username!r}")
        with self._lock:
            acct = f"{username}@{domain}" if domain else username
            if self._find_account(acct) is not None:
                raise ValueError(f"account {acct!r} already exists")
            home = f"https://{domain}" if domain else self.url
            created = self.now().replace(hour=0, minute=0, second=0, microsecond=0)
            account = {
                "id": self._next_id(),
                "username": username,
                "acct": acct,
                "domain": domain,
                "display_name": display_name,
                "url": f"{home}/@{username}",
                "uri": f"{home}/users/{username}",
                "created_at": created,
            }
            self._accounts[account["id"]] = account
            return self._account_json(account)

    def split_domain(self, handle_domain: str, *, redirect_webfinger: bool = False) -> None:
        """Name local people user@handle_domain while the API stays at `url`.

        This is Mastodon's LOCAL_DOMAIN apart from WEB_DOMAIN. The instance documents say
        handle_domain, and WebFinger answers for it; when the request reaches this server under
        handle_domain's name (e.g. "localhost:PORT" for the API at "127.0.0.1:PORT") and
        `redirect_webfinger` is set, it redirects to `url` as the documented proxy setup does.
        """
        with self._lock:
            self.handle_domain = handle_domain
            self._redirect_webfinger = redirect_webfinger

    def lie_about(self, username: str, **fields: str) -> None:
        """Make verify_credentials say these fields (acct="care@bank.example", url=...) of a local
        account, e.g. a handle on a domain this server doesn't own."""
        with self._lock:
            self._local_account(username)
            self._lies[username] = fields

    def lie_about_links(self, acct: str, url: str) -> None:
        """Give the statuses the account (local username or user@domain) posts from now on
        this `url`, e.g. "javascript:alert(1)", as a server of someone's own may."""
        with self._lock:
            self._link_lies[acct] = url

    @property
    def handles(self) -> str:
        """Return the domain in local people's handles: `handle_domain`, else this server's."""
        return self.handle_domain or self.domain

    def set_profile_fields(self, acct: str, fields: list[dict[str, Any]]) -> None:
        """Set an account's profile fields: dicts of name, value (HTML) and verified_at."""
        with self._lock:
            account = self._find_account(acct)
            if account is None:
                raise ValueError(f"no account {acct!r}")
            account["fields"] = [dict(field) for field in fields]

    def create_token(
        self, username: str, scopes: str = DEFAULT_TOKEN_SCOPES, *, client_id: str | None = None
    ) -> str:
        """Issue a token directly, skipping the OAuth dance (e.g. for an already-connected user)."""
        with self._lock:
            account = self._local_account(username)
            wanted = scopes.split()
            if client_id is None:
                client_id = (
                    next(
                        (
                            app["client_id"]
                            for app in self.apps.values()
                            if app["name"] == TEST_APP_NAME and app["scopes"] == wanted
                        ),
                        None,
                    )
                    or self._register_app(TEST_APP_NAME, [OOB_REDIRECT_URI], wanted, None)[
                        "client_id"
                    ]
                )
            elif client_id not in self.apps:
                raise ValueError(f"unknown client_id {client_id!r}")
            return self._issue_token(client_id, account["id"], wanted)["access_token"]

    def approve(self, authorize_url: str, username: str) -> str:
        """Click "Authorize" as `username` on the page at `authorize_url`; return the redirect.

        The page is fetched and its form posted over HTTP, as a browser would. Errors the real
        server sends back to the app (bad scope, bad PKCE method) come back as the redirect
        Location carrying `error=...`; errors it shows as a page (unknown client, unregistered
        redirect URI) raise `AuthorizationError`.
        """
        return self._answer_authorize_page(authorize_url, username, deny=False)

    def deny(self, authorize_url: str) -> str:
        """Click "Deny" on the page at `authorize_url`; return the error=access_denied redirect."""
        return self._answer_authorize_page(authorize_url, None, deny=True)

    def reply(
        self,
        status_id: str,
        username_or_acct: str,
        text: str,
        *,
        at: datetime | None = None,
        visibility: str = "public",
        **ids: str,
    ) -> dict[str, Any]:
        """Post `text` by the given (local or remote) account in reply to `status_id`.

        `ids` may set the reply's uri and url, as a copy of another server's status has (or as
        a server lying about one says), and `in_reply_to_uri` replies to a status elsewhere
        (`status_id` None).
        """
        if at is not None and at.tzinfo is None:
            raise ValueError("`at` must be an aware datetime")
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {VISIBILITIES}")
        with self._lock:
            account = self._find_account(username_or_acct)
            if account is None:
                raise ValueError(f"unknown account {username_or_acct!r}; add_account() first")
            parent = self._find_status(str(status_id))
            if parent is None and "in_reply_to_uri" in ids:
                parent = {"id": None, "uri": ids.pop("in_reply_to_uri")}
            if parent is None:
                raise ValueError(f"no status {status_id!r} to reply to")
            return self._create_status(
                account,
                text=text,
                visibility=visibility,
                spoiler_text="",
                in_reply_to=parent,
                language="en",
                idempotency_key=None,
                application=None,
                created_at=at.astimezone(UTC) if at is not None else None,
                **ids,
            )

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | str | None = None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        """Answer the next `times` matching requests with `status` instead of handling them.

        A `body` given as a string is sent as it is, with `content_type` (plain text or HTML,
        as from a proxy or a server that isn't Mastodon); a dict is sent as JSON.
        """
        with self._lock:
            self._faults.append(
                {
                    "method": method.upper(),
                    "prefix": path_prefix,
                    "status": status,
                    "times": times,
                    "headers": dict(headers or {}),
                    "body": body,
                    "content_type": content_type,
                }
            )

    def delay_next(self, method: str, path_prefix: str, seconds: float, *, times: int = 1) -> None:
        """Handle the next `times` matching requests normally but answer `seconds` late."""
        with self._lock:
            self._delays.append(
                {
                    "method": method.upper(),
                    "prefix": path_prefix,
                    "seconds": seconds,
                    "times": times,
                }
            )

    def chaos(
        self,
        *,
        rate_5xx: float = 0.0,
        rate_timeout: float = 0.0,
        rate_429: float = 0.0,
        timeout_seconds: float = 2.0,
        processed_share: float = 0.5,
        seed: int = 0,
        paths: tuple[str, ...] = ("/api/",),
    ) -> None:
        """Fail a share of matching requests at random (seeded): 5xx, 429, or an answer too late.

        A late answer comes after `timeout_seconds`; for `processed_share` of them the request
        was handled first (a status may exist though the client gave up), else not at all.
        Call with no rates to stop.
        """
        with self._lock:
            if not (rate_5xx or rate_timeout or rate_429):
                self._chaos = None
                return
            self._chaos = {
                "rng": random.Random(seed),  # nosec B311 # repeatable test faults
                "rates": (rate_5xx, rate_timeout, rate_429),
                "timeout": timeout_seconds,
                "processed_share": processed_share,
                "paths": tuple(paths),
                "counts": {"5xx": 0, "timeout": 0, "timeout_processed": 0, "429": 0},
            }

    @property
    def chaos_counts(self) -> dict[str, int]:
        """Return how many faults of each kind `chaos` injected."""
        with self._lock:
            return dict(self._chaos["counts"]) if self._chaos else {}

    def _roll_chaos(self, path: str) -> tuple[str | None, bool]:
        """Pick this request's random fault, if any, and whether a late one is handled first."""
        chaos = self._chaos
        if chaos is None or not path.startswith(chaos["paths"]):
            return None, False
        rng = chaos["rng"]
        roll = rng.random()
        rate_5xx, rate_timeout, rate_429 = chaos["rates"]
        if roll < rate_5xx:
            kind = "5xx"
        elif roll < rate_5xx + rate_timeout:
            kind = "timeout"
        elif roll < rate_5xx + rate_timeout + rate_429:
            kind = "429"
        else:
            return None, False
        processed = kind == "timeout" and rng.random() < chaos["processed_share"]
        chaos["counts"][kind] += 1
        if processed:
            chaos["counts"]["timeout_processed"] += 1
        return kind, processed

    def _chaos_response(self, kind: str) -> Response:
        """Answer a request that random chaos failed without handling it."""
        if kind == "429":
            response = self._json({"error": "Too many requests"}, 429)
            reset = self.now() + timedelta(seconds=1)
            response.headers["X-RateLimit-Limit"] = str(RATE_LIMIT)
            response.headers["X-RateLimit-Remaining"] = "0"
            response.headers["X-RateLimit-Reset"] = reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return response
        status = self._chaos["rng"].choice((500, 502, 503, 504))
        return self._json({"error": HTTPStatus(status).phrase}, status)

    def forget_apps(self) -> None:
        """Drop every registered app and its pending codes, like Mastodon's app vacuum."""
        with self._lock:
            self.apps.clear()
            self._grants.clear()

    def revoke_tokens(
        self,
        username: str | None = None,
        *,
        status: int = 401,
        error: str = "The access token was revoked",
    ) -> None:
        """Revoke every token, or only the given account's, so API calls answer 401.

        Other servers answer otherwise: Pleroma and Akkoma 400 or 403 "Invalid credentials.",
        GoToSocial 401 "Unauthorized: token not supplied or invalid".
        """
        with self._lock:
            self._revoked_answer = (status, error)
            account = self._find_account(username) if username is not None else None
            if username is not None and account is None:
                raise ValueError(f"unknown account {username!r}")
            for token in self._tokens.values():
                if account is None or token["account_id"] == account["id"]:
                    token["revoked"] = True

    # -- WSGI ------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Handle one WSGI request."""
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        """Log the request, apply faults, route it, and delay the answer if told to."""
        path = request.path.rstrip("/") or "/"
        method = request.method.upper()
        params = self._params(request)
        with self._lock:
            entry = self._log_request(request, path)
            fault = self._take(self._faults, method, path)
            delay = self._take(self._delays, method, path)
            chaos, processed = self._roll_chaos(path) if fault is None else (None, False)
            late = self._chaos["timeout"] if chaos == "timeout" else None
            if fault is not None and isinstance(fault["body"], str):
                response = Response(
                    fault["body"], status=fault["status"], content_type=fault["content_type"]
                )
            elif fault is not None:
                response = self._json(
                    fault["body"] or {"error": HTTPStatus(fault["status"]).phrase},
                    fault["status"],
                )
            elif chaos in ("5xx", "429"):
                response = self._chaos_response(chaos)
            elif chaos == "timeout" and not processed:
                response = self._json({"error": "Gateway Timeout"}, 504)
            else:
                response = self._route(request, method, path, params)
            if path.startswith("/api/") and chaos != "429":
                self._add_rate_limit_headers(request, response)
            if fault is not None:
                for name, value in fault["headers"].items():
                    response.headers[name] = value
            entry["status"] = response.status_code
            entry["chaos"] = chaos
        if late is not None:
            self._stopping.wait(late)
        if delay is not None:
            self._stopping.wait(delay["seconds"])
        return response

    def _route(self, request: Request, method: str, path: str, params: dict[str, Any]) -> Response:
        """Dispatch to the handler for `path`."""
        try:
            endpoint, args = self._urls.match(path, method)
        except NotFound:
            return self._json({"error": "Record not found"}, 404)
        except MethodNotAllowed:
            return self._json({"error": "Method not allowed"}, 405)
        handler = getattr(self, f"_handle_{endpoint}")
        return handler(request, params, **args)

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        """Merge query, form and JSON parameters as Rails does, dropping `[]` from names."""
        merged: dict[str, Any] = _flat(request.args)
        if request.is_json:
            body = request.get_json(silent=True)
            if isinstance(body, dict):
                merged.update(body)
        else:
            merged.update(_flat(request.form))
        return {key.removesuffix("[]"): value for key, value in merged.items()}

    def _log_request(self, request: Request, path: str) -> dict[str, Any]:
        """Record what the client sent, with credentials in the Authorization header redacted."""
        headers = dict(request.headers.items())
        for name in list(headers):
            if name.lower() == "authorization":
                scheme = headers[name].split(" ", 1)[0]
                headers[name] = f"{scheme} …"
        entry = {
            "method": request.method.upper(),
            "path": path,
            "query": _flat(request.args),
            "form": _flat(request.form) if not request.is_json else {},
            "json": request.get_json(silent=True) if request.is_json else None,
            "headers": headers,
            "status": None,
            "at": self.now(),
        }
        self.requests.append(entry)
        return entry

    @staticmethod
    def _take(rules: list[dict[str, Any]], method: str, path: str) -> dict[str, Any] | None:
        """Consume one use of the first rule matching this request."""
        for rule in rules:
            if rule["method"] in (method, "*") and path.startswith(rule["prefix"]):
                rule["times"] -= 1
                if rule["times"] <= 0:
                    rules.remove(rule)
                return rule
        return None

    def _add_rate_limit_headers(self, request: Request, response: Response) -> None:
        """Add Mastodon's X-RateLimit-* headers for a 300-per-5-minutes budget."""
        now = self.now().timestamp()
        window = int(now // RATE_LIMIT_WINDOW_SECONDS)
        key = request.headers.get("Authorization") or request.remote_addr or "-"
        used = self._rate_counts.get((key, window), 0) + 1
        self._rate_counts[(key, window)] = used
        reset = datetime.fromtimestamp((window + 1) * RATE_LIMIT_WINDOW_SECONDS, UTC)
        response.headers["X-RateLimit-Limit"] = str(RATE_LIMIT)
        response.headers["X-RateLimit-Remaining"] = (
            "0" if response.status_code == 429 else str(max(0, RATE_LIMIT - used))
        )
        response.headers["X-RateLimit-Reset"] = reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        """Return a JSON response like Rails renders it."""
        return Response(
            json.dumps(body), status=status, content_type="application/json; charset=utf-8"
        )

    @staticmethod
    def _html(body: str, status: int = 200) -> Response:
        """Return a small HTML page."""
        page = f"<!DOCTYPE html><html><body>{body}</body></html>"
        return Response(page, status=status, content_type="text/html; charset=utf-8")

    # -- helpers on state (call with the lock held) ----------------------------------------

    def _next_id(self) -> str:
        """Return a new snowflake-like id, increasing and unique."""
        candidate = int(self.now().timestamp() * 1000) << 16
        self._last_id = max(self._last_id + 1, candidate)
        return str(self._last_id)

    def _find_account(self, name: str) -> dict[str, Any] | None:
        """Find an account by id, local username, or acct (`user@domain`, with or without @)."""
        if name in self._accounts:
            return self._accounts[name]
        wanted = name.removeprefix("@").lower()
        if "@" in wanted:
            username, domain = wanted.split("@", 1)
            if domain in (self.domain.lower(), self.handles.lower()):
                wanted = username
        for account in self._accounts.values():
            if account["acct"].lower() == wanted:
                return account
        return None

    def _local_account(self, username: str) -> dict[str, Any]:
        """Return a local account that can sign in, or raise ValueError."""
        account = self._find_account(username)
        if account is None or account["domain"] is not None:
            raise ValueError(f"{username!r} is not a local account; add_account() it first")
        return account

    def _find_status(self, status_id: str) -> dict[str, Any] | None:
        """Return the status with this id unless it is missing or deleted."""
        for record in self.statuses:
            if record["id"] == status_id and not record["deleted"]:
                return record
        return None

    def _account_json(
        self, account: dict[str, Any], *, with_source: bool = False
    ) -> dict[str, Any]:
        """Render an Account entity."""
        own = [s for s in self.statuses if s["account_id"] == account["id"] and not s["deleted"]]
        last = max((s["created_at"] for s in own), default=None)
        avatar = f"{self.url}/avatars/original/missing.png"
        body: dict[str, Any] = {
            "id": account["id"],
            "username": account["username"],
            "acct": account["acct"],
            "display_name": account["display_name"],
            "locked": False,
            "bot": False,
            "discoverable": True,
            "indexable": True,
            "group": False,
            "created_at": iso(account["created_at"]),
            "note": "",
            "url": account["url"],
            "uri": account["uri"],
            "avatar": avatar,
            "avatar_static": avatar,
            "header": f"{self.url}/headers/original/missing.png",
            "header_static": f"{self.url}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(own),
            "last_status_at": last.date().isoformat() if last else None,
            "hide_collections": False,
            "noindex": False,
            "emojis": [],
            "roles": [],
            "fields": [
                {"name": f["name"], "value": f["value"], "verified_at": f.get("verified_at")}
                for f in account.get("fields", [])
            ],
        }
        if with_source:
            body["source"] = {
                "privacy": "public",
                "sensitive": False,
                "language": "",
                "note": "",
                "fields": [],
                "follow_requests_count": 0,
                "hide_collections": False,
                "discoverable": True,
                "indexable": True,
            }
            body["role"] = {
                "id": "-99",
                "name": "",
                "permissions": "0",
                "color": "",
                "highlighted": False,
            }
        return body

    def _can_see(self, record: dict[str, Any], viewer: dict[str, Any] | None) -> bool:
        """Apply visibility: public/unlisted for all, others for the author and those mentioned."""
        if record["visibility"] in ("public", "unlisted"):
            return True
        if viewer is None:
            return False
        return viewer["id"] == record["account_id"] or viewer["acct"] in record["mentions"]

    def _status_json(self, record: dict[str, Any], viewer: dict[str, Any] | None) -> dict[str, Any]:
        """Render a Status entity as `viewer` sees it."""
        account = self._accounts[record["account_id"]]
        parent = next((s for s in self.statuses if s["id"] == record["in_reply_to_id"]), None)
        mentioned = [self._find_account(acct) for acct in record["mentions"]]
        replies = [
            s for s in self.statuses if s["in_reply_to_id"] == record["id"] and not s["deleted"]
        ]
        own = viewer is not None and viewer["id"] == record["account_id"]
        return {
            "id": record["id"],
            "created_at": iso(record["created_at"]),
            "in_reply_to_id": record["in_reply_to_id"],
            "in_reply_to_account_id": parent["account_id"] if parent else None,
            "sensitive": bool(record["spoiler_text"]),
            "spoiler_text": record["spoiler_text"],
            "visibility": record["visibility"],
            "language": record["language"],
            "uri": record["uri"],
            "url": record["url"],
            "replies_count": len(replies),
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            **({"pinned": False} if own else {}),
            "content": self._content_html(record["status"], record["account_id"]),
            "filtered": [],
            "reblog": None,
            "application": record["application"] if own else None,
            "account": self._account_json(account),
            "media_attachments": [],
            "mentions": [
                {"id": a["id"], "username": a["username"], "url": a["url"], "acct": a["acct"]}
                for a in mentioned
                if a is not None
            ],
            "tags": [{"name": t, "url": f"{self.url}/tags/{t}"} for t in record["tags"]],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def _resolve_mention(self, match: re.Match[str], author_id: str) -> dict[str, Any] | None:
        """Return the known account a mention names; bare names are on the author's server."""
        username, domain = match.group("m_user"), match.group("m_domain")
        if domain is None:
            domain = self._accounts[author_id]["domain"]
        acct = f"{username}@{domain}" if domain else username
        return self._find_account(acct)

    def _content_html(self, text: str, author_id: str) -> str:
        """Render status text as Mastodon's HTML: paragraphs, links, mentions, hashtags."""
        paragraphs = []
        for paragraph in re.split(r"\n{2,}", text.strip()):
            out, last = [], 0
            for match in _ENTITY_RE.finditer(paragraph):
                out.append(html.escape(paragraph[last : match.start()]))
                last = match.end()
                if match.group("url"):
                    url, rest = _trim_url(match.group("url"))
                    href = html.escape(url)
                    out.append(
                        f'<a href="{href}" target="_blank" rel="nofollow noopener" '
                        f'translate="no">{href}</a>{html.escape(rest)}'
                    )
                elif match.group("mention"):
                    account = self._resolve_mention(match, author_id)
                    if account is None:
                        out.append(html.escape(match.group(0)))
                    else:
                        out.append(
                            f'<span class="h-card" translate="no"><a href="{account["url"]}" '
                            f'class="u-url mention">@<span>{account["username"]}</span></a></span>'
                        )
                else:
                    tag = match.group("tag_name")
                    out.append(
                        f'<a href="{self.url}/tags/{tag.lower()}" class="mention hashtag" '
                        f'rel="tag">#<span>{html.escape(tag)}</span></a>'
                    )
            out.append(html.escape(paragraph[last:]))
            paragraphs.append("<p>" + "".join(out).replace("\n", "<br />") + "</p>")
        return "".join(paragraphs)

    def _create_status(
        self,
        account: dict[str, Any],
        *,
        text: str,
        visibility: str,
        spoiler_text: str,
        in_reply_to: dict[str, Any] | None,
        language: str | None,
        idempotency_key: str | None,
        application: dict[str, Any] | None,
        created_at: datetime | None = None,
        **ids: str,
    ) -> dict[str, Any]:
        """Store a new status and return its record (`ids`: its uri and url, if not ours)."""
        status_id = self._next_id()
        home = f"https://{account['domain']}" if account["domain"] else self.url
        mentions: list[str] = []
        for match in _ENTITY_RE.finditer(text):
            if match.group("mention"):
                mentioned = self._resolve_mention(match, account["id"])
                if mentioned is not None and mentioned["acct"] not in mentions:
                    mentions.append(mentioned["acct"])
        tags = []
        for match in _ENTITY_RE.finditer(text):
            if match.group("tag") and match.group("tag_name").lower() not in tags:
                tags.append(match.group("tag_name").lower())
        record = {
            "id": status_id,
            "account": account["acct"],
            "account_id": account["id"],
            "status": text,
            "visibility": visibility,
            "spoiler_text": spoiler_text,
            "in_reply_to_id": in_reply_to["id"] if in_reply_to else None,
            "in_reply_to_uri": in_reply_to["uri"] if in_reply_to else None,
            "idempotency_key": idempotency_key,
            "created_at": created_at or self.now(),
            "url": self._link_lies.get(
                account["acct"], f"{home}/@{account['username']}/{status_id}"
            ),
            "uri": f"{home}/users/{account['username']}/statuses/{status_id}",
            "mentions": mentions,
            "tags": tags,
            "language": language,
            "application": application,
            "deleted": False,
        }
        record.update(ids)
        self.statuses.append(record)
        return record

    def _register_app(
        self, name: str, redirect_uris: list[str], scopes: list[str], website: str | None
    ) -> dict[str, Any]:
        """Store a new OAuth app and return its record."""
        client_id = secrets.token_urlsafe(32)
        app = {
            "id": str(len(self.apps) + 1 + secrets.randbelow(10**6)),
            "client_id": client_id,
            "client_secret": secrets.token_urlsafe(32),
            "redirect_uris": redirect_uris,
            "scopes": scopes,
            "name": name,
            "website": website,
        }
        self.apps[client_id] = app
        return app

    def _issue_token(self, client_id: str, account_id: str, scopes: list[str]) -> dict[str, Any]:
        """Return a live token for this app, account and scopes, reusing one as Mastodon does."""
        for token in self._tokens.values():
            if (
                token["client_id"] == client_id
                and token["account_id"] == account_id
                and set(token["scopes"]) == set(scopes)
                and not token["revoked"]
            ):
                return token
        token = {
            "access_token": secrets.token_urlsafe(32),
            "client_id": client_id,
            "account_id": account_id,
            "scopes": scopes,
            "created_at": int(self.now().timestamp()),
            "revoked": False,
        }
        self._tokens[token["access_token"]] = token
        return token

    def _authenticate(
        self, request: Request, accepted: tuple[str, ...], *, required: bool
    ) -> tuple[dict[str, Any] | None, Response | None]:
        """Check the bearer token as Doorkeeper does; return (account, None) or (None, error)."""
        header = request.headers.get("Authorization", "")
        value = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not value:
            if required:
                return None, self._json({"error": "The access token is invalid"}, 401)
            return None, None
        token = self._tokens.get(value)
        if token is None:
            return None, self._json({"error": "The access token is invalid"}, 401)
        if token["revoked"]:
            status, error = self._revoked_answer
            return None, self._json({"error": error}, status)
        if not set(token["scopes"]) & set(accepted):
            return None, self._json({"error": "This action is outside the authorized scopes"}, 403)
        return self._accounts[token["account_id"]], None

    def _client_credentials(self, request: Request, params: dict[str, Any]) -> tuple[str, str]:
        """Read client id and secret from HTTP Basic, else from the form (Doorkeeper's order)."""
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except ValueError:
                decoded = ""
            client_id, _, secret = decoded.partition(":")
            return client_id, secret
        return str(params.get("client_id", "")), str(params.get("client_secret", ""))

    def _authenticated_client(
        self, request: Request, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Return the app whose credentials the request carries, if they are right."""
        client_id, secret = self._client_credentials(request, params)
        app = self.apps.get(client_id)
        if app is None or not secrets.compare_digest(app["client_secret"], secret):
            return None
        return app

    @staticmethod
    def _oauth_error(error: str, status: int = 400, description: str | None = None) -> Response:
        """Return a Doorkeeper-style JSON OAuth error."""
        body = {"error": error, "error_description": description or OAUTH_ERRORS[error]}
        return FakeMastodon._json(body, status)

    # -- OAuth -----------------------------------------------------------------------------

    def _handle_create_app(self, request: Request, params: dict[str, Any]) -> Response:
        """POST /api/v1/apps: register a client (a CredentialApplication)."""
        name = str(params.get("client_name") or "").strip()
        raw_uris = params.get("redirect_uris") or ""
        if isinstance(raw_uris, str):
            raw_uris = raw_uris.split("\n")
        redirect_uris = [uri.strip() for uri in raw_uris if uri.strip()]
        raw_scopes = params.get("scopes") or "read"
        scopes = raw_scopes.split() if isinstance(raw_scopes, str) else list(raw_scopes)
        website = params.get("website") or None
        if not name:
            return self._json({"error": "Validation failed: Application name can't be blank"}, 422)
        if not redirect_uris:
            return self._json({"error": "Validation failed: Redirect URI can't be blank"}, 422)
        for uri in redirect_uris:
            parts = urlsplit(uri)
            if uri != OOB_REDIRECT_URI and (
                not parts.scheme or not (parts.netloc or parts.path) or parts.fragment
            ):
                return self._json(
                    {"error": "Validation failed: Redirect URI must be an absolute URI."}, 422
                )
            if parts.scheme.lower() in ("data", "vbscript", "javascript"):
                return self._json(
                    {"error": "Validation failed: Redirect URI is forbidden by the server."}, 422
                )
        if not set(scopes) <= KNOWN_SCOPES:
            return self._json(
                {"error": "Validation failed: Scopes doesn't match configured on the server."}, 422
            )
        app = self._register_app(name, redirect_uris, scopes, website)
        return self._json(
            {
                "id": app["id"],
                "name": name,
                "website": website,
                "scopes": scopes,
                "redirect_uris": redirect_uris,
                "redirect_uri": "\n".join(redirect_uris),
                "vapid_key": VAPID_KEY,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "client_secret_expires_at": 0,
            }
        )

    def _handle_oauth_metadata(self, request: Request, params: dict[str, Any]) -> Response:
        """GET /.well-known/oauth-authorization-server (RFC 8414; 404 before Mastodon 4.3)."""
        if not self.pkce:
            return self._html("<h1>The page you are looking for isn't here.</h1>", 404)
        return self._json(
            {
                "issuer": f"{self.url}/",
                "service_documentation": "https://docs.joinmastodon.org/",
                "authorization_endpoint": f"{self.url}/oauth/authorize",
                "token_endpoint": f"{self.url}/oauth/token",
                "app_registration_endpoint": f"{self.url}/api/v1/apps",
                "revocation_endpoint": f"{self.url}/oauth/revoke",
                "scopes_supported": sorted(KNOWN_SCOPES),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    def _check_authorization_request(
        self, params: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, Response | None]:
        """Validate authorize parameters like Doorkeeper's PreAuthorization.

        Returns (checked request, None) or (None, error response): an error page when the
        client or redirect URI can't be trusted, else a redirect back carrying the error.
        """
        client_id = str(params.get("client_id") or "")
        redirect_uri = str(params.get("redirect_uri") or "")
        state = params.get("state")
        if not client_id:
            return None, self._error_page(
                "invalid_request", "Missing required parameter: client_id.", 400
            )
        app = self.apps.get(client_id)
        if app is None:
            return None, self._error_page("invalid_client", OAUTH_ERRORS["invalid_client"], 401)
        if redirect_uri not in app["redirect_uris"]:
            return None, self._error_page(
                "invalid_redirect_uri", OAUTH_ERRORS["invalid_redirect_uri"], 400
            )

        def back(error: str, description: str | None = None) -> tuple[None, Response]:
            """Redirect to the app with an OAuth error."""
            query = {"error": error, "error_description": description or OAUTH_ERRORS[error]}
            if state:
                query["state"] = str(state)
            return None, self._redirect(redirect_uri, query)

        if params.get("response_type") != "code":
            return back("unsupported_response_type")
        scopes = str(params.get("scope") or "read").split()
        if not scopes or not set(scopes) <= set(app["scopes"]) or not set(scopes) <= KNOWN_SCOPES:
            return back("invalid_scope")
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or None
        if not self.pkce:
            challenge = method = None
        elif challenge is not None and method != "S256":
            return back("invalid_request", "The code_challenge_method must be S256.")
        return {
            "app": app,
            "redirect_uri": redirect_uri,
            "scopes": scopes,
            "state": state,
            "code_challenge": challenge,
        }, None

    def _redirect(self, redirect_uri: str, query: dict[str, str]) -> Response:
        """Redirect to the app's redirect URI, or show the code for the out-of-band URI."""
        if redirect_uri == OOB_REDIRECT_URI:
            target = _with_query(f"{self.url}/oauth/authorize/native", query)
        else:
            target = _with_query(redirect_uri, query)
        return Response("", status=302, headers={"Location": target})

    def _error_page(self, error: str, description: str, status: int) -> Response:
        """Show the authorize error page the real server renders instead of redirecting."""
        return self._html(
            f'<h1>An error has occurred</h1><h2 id="error">{html.escape(error)}</h2>'
            f'<p id="error_description">{html.escape(description)}</p>',
            status,
        )

    def _handle_authorize(self, request: Request, params: dict[str, Any]) -> Response:
        """GET shows the authorize form; POST authorizes (or, with _method=delete, denies)."""
        checked, error = self._check_authorization_request(params)
        if error is not None:
            return error
        assert checked is not None
        if request.method == "GET":
            app = checked["app"]
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(str(value))}">'
                for key, value in params.items()
                if key
                in (
                    "client_id",
                    "redirect_uri",
                    "state",
                    "response_type",
                    "scope",
                    "code_challenge",
                    "code_challenge_method",
                    "lang",
                    "force_login",
                )
            )
            return self._html(
                f"<h1>Authorization required</h1><p>{html.escape(app['name'])} would like "
                f"permission to access your account: {html.escape(' '.join(checked['scopes']))}</p>"
                f'<form method="post" action="/oauth/authorize">{hidden}'
                '<label>Username <input name="username"></label>'
                '<button type="submit">Authorize</button></form>'
                f'<form method="post" action="/oauth/authorize">{hidden}'
                '<input type="hidden" name="_method" value="delete">'
                '<button type="submit">Deny</button></form>'
            )
        query = {"state": str(checked["state"])} if checked["state"] else {}
        if params.get("_method") == "delete":
            query = {
                "error": "access_denied",
                "error_description": OAUTH_ERRORS["access_denied"],
                **query,
            }
            return self._redirect(checked["redirect_uri"], query)
        account = self._find_account(str(params.get("username") or ""))
        if account is None or account["domain"] is not None:
            return self._html("<h1>Log in</h1><p>Invalid login or password.</p>", 422)
        code = secrets.token_urlsafe(32)
        self._grants[code] = {
            "client_id": checked["app"]["client_id"],
            "account_id": account["id"],
            "redirect_uri": checked["redirect_uri"],
            "scopes": checked["scopes"],
            "code_challenge": checked["code_challenge"],
            "created": self.now(),
            "used": False,
        }
        return self._redirect(checked["redirect_uri"], {"code": code, **query})

    def _handle_authorize_native(self, request: Request, params: dict[str, Any]) -> Response:
        """GET /oauth/authorize/native: show the code for out-of-band apps."""
        code = html.escape(str(params.get("code", "")))
        return self._html(f'<input class="oauth-code" readonly value="{code}">')

    def _answer_authorize_page(
        self, authorize_url: str, username: str | None, *, deny: bool
    ) -> str:
        """Fetch the authorize page and submit its Authorize or Deny form; return the redirect."""
        if not authorize_url.startswith(f"{self.url}/"):
            raise ValueError(f"{authorize_url!r} is not on this fake server ({self.url})")
        if username is not None:
            with self._lock:
                username = self._local_account(username)["username"]
        with requests.Session() as http:
            page = http.get(authorize_url, allow_redirects=False, timeout=10)
            if page.is_redirect:
                return page.headers["Location"]
            if page.status_code != 200:
                raise self._authorization_error(page)
            fields = {
                html.unescape(name): html.unescape(value)
                for name, value in HIDDEN_INPUT_RE.findall(page.text)
                if name != "_method"
            }
            if deny:
                fields["_method"] = "delete"
            else:
                fields["username"] = username or ""
            answer = http.post(
                f"{self.url}/oauth/authorize", data=fields, allow_redirects=False, timeout=10
            )
            if not answer.is_redirect:
                raise self._authorization_error(answer)
            return answer.headers["Location"]

    @staticmethod
    def _authorization_error(page: requests.Response) -> AuthorizationError:
        """Turn an authorize error page into an AuthorizationError."""
        found = ERROR_PAGE_RE.search(page.text)
        if found is None:
            return AuthorizationError("server_error", page.text[:200], page.status_code)
        return AuthorizationError(
            html.unescape(found.group(1)), html.unescape(found.group(2)), page.status_code
        )

    def _handle_token(self, request: Request, params: dict[str, Any]) -> Response:
        """POST /oauth/token: exchange an authorization code, checked in Doorkeeper's order."""
        if params.get("grant_type") == "client_credentials":
            return self._app_token(request, params)
        if params.get("grant_type") != "authorization_code":
            if not params.get("grant_type"):
                return self._oauth_error(
                    "invalid_request", description="Missing required parameter: grant_type."
                )
            return self._oauth_error("unsupported_grant_type")
        code = str(params.get("code") or "")
        verifier = params.get("code_verifier") or None
        redirect_uri = params.get("redirect_uri") or None
        grant = self._grants.get(code)
        if not code:
            return self._oauth_error(
                "invalid_request", description="Missing required parameter: code."
            )
        if not self.pkce and verifier is not None:
            return self._oauth_error(
                "invalid_request",
                description="Invalid code_verifier parameter. Server does not support pkce.",
            )
        if grant is not None and grant["code_challenge"] and verifier is None:
            return self._oauth_error(
                "invalid_request", description="Missing required parameter: code_verifier."
            )
        if redirect_uri is None:
            return self._oauth_error(
                "invalid_request", description="Missing required parameter: redirect_uri."
            )
        app = self._authenticated_client(request, params)
        if app is None:
            return self._oauth_error("invalid_client", 401)
        if grant is None or grant["client_id"] != app["client_id"]:
            return self._oauth_error("invalid_grant")
        expired = self.now() - grant["created"] > timedelta(seconds=AUTHORIZATION_CODE_SECONDS)
        if grant["used"] or expired:
            return self._oauth_error("invalid_grant")
        if redirect_uri != grant["redirect_uri"]:
            return self._oauth_error("invalid_grant")
        if grant["code_challenge"]:
            digest = hashlib.sha256(str(verifier).encode("ascii", "replace")).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not secrets.compare_digest(expected, grant["code_challenge"]):
                return self._oauth_error("invalid_grant")
        grant["used"] = True
        token = self._issue_token(app["client_id"], grant["account_id"], grant["scopes"])
        return self._json(
            {
                "access_token": token["access_token"],
                "token_type": "Bearer",
                "scope": " ".join(token["scopes"]),
                "created_at": token["created_at"],
            }
        )

    def _app_token(self, request: Request, params: dict[str, Any]) -> Response:
        """Grant an app-only token, which is how a client checks the server still knows it."""
        app = self._authenticated_client(request, params)
        if app is None:
            return self._oauth_error("invalid_client", 401)
        return self._json(
            {
                "access_token": secrets.token_urlsafe(32),
                "token_type": "Bearer",
                "scope": str(params.get("scope") or "read"),
                "created_at": int(self.now().timestamp()),
            }
        )

    def _handle_revoke(self, request: Request, params: dict[str, Any]) -> Response:
        """POST /oauth/revoke: revoke a token the authenticated client owns."""
        app = self._authenticated_client(request, params)
        if app is None:
            return self._oauth_error("unauthorized_client", 403)
        token = self._tokens.get(str(params.get("token") or ""))
        if token is None:
            return self._json({})
        if token["client_id"] != app["client_id"]:
            return self._oauth_error("unauthorized_client", 403)
        token["revoked"] = True
        return self._json({})

    # -- API -------------------------------------------------------------------------------

    def _handle_verify_credentials(self, request: Request, params: dict[str, Any]) -> Response:
        """GET /api/v1/accounts/verify_credentials: the signed-in account, with `source`."""
        account, error = self._authenticate(
            request, ("profile", "read", "read:accounts"), required=True
        )
        if error is not None:
            return error
        body = self._account_json(account, with_source=True)
        body.update(self._lies.get(account["username"], {}))
        return self._json(body)

    def _handle_webfinger(self, request: Request, params: dict[str, Any]) -> Response:
        """GET /.well-known/webfinger?resource=acct:user@domain, for this server's own people."""
        if self._redirect_webfinger and request.host.lower() == self.handles.lower():
            return Response(status=301, headers={"Location": f"{self.url}{request.full_path}"})
        resource = str(params.get("resource") or "").removeprefix("acct:")
        username, _, domain = resource.partition("@")
        account = self._find_account(username) if username else None
        if (
            account is None
            or account["domain"] is not None
            or account["username"].lower() != username.lower()
            or domain.lower() not in (self.domain.lower(), self.handles.lower())
        ):
            return self._json({"error": "Record not found"}, 404)
        body = {
            "subject": f"acct:{account['username']}@{self.handles}",
            "aliases": [account["url"], account["uri"]],
            "links": [
                {
                    "rel": "http://webfinger.net/rel/profile-page",
                    "type": "text/html",
                    "href": account["url"],
                },
                {"rel": "self", "type": "application/activity+json", "href": account["uri"]},
            ],
        }
        response = self._json(body)
        response.content_type = "application/jrd+json; charset=utf-8"
        return response

    def _handle_account(
        self, request: Request, params: dict[str, Any], account_id: str
    ) -> Response:
        """GET /api/v1/accounts/:id."""
        _, error = self._authenticate(request, ("read", "read:accounts"), required=False)
        if error is not None:
            return error
        account = self._accounts.get(account_id)
        if account is None:
            return self._json({"error": "Record not found"}, 404)
        return self._json(self._account_json(account))

    def _handle_account_statuses(
        self, request: Request, params: dict[str, Any], account_id: str
    ) -> Response:
        """GET /api/v1/accounts/:id/statuses: what the viewer may see of them, newest first."""
        viewer, error = self._authenticate(request, ("read", "read:statuses"), required=False)
        if error is not None:
            return error
        if account_id not in self._accounts:
            return self._json({"error": "Record not found"}, 404)
        limit = min(int(params.get("limit") or 20), 40)
        found = [
            record
            for record in reversed(self.statuses)
            if record["account_id"] == account_id
            and not record["deleted"]
            and self._can_see(record, viewer)
        ]
        return self._json([self._status_json(record, viewer) for record in found[:limit]])

    def _handle_account_lookup(self, request: Request, params: dict[str, Any]) -> Response:
        """GET /api/v1/accounts/lookup?acct=: a known account, no WebFinger."""
        _, error = self._authenticate(request, ("read", "read:accounts"), required=False)
        if error is not None:
            return error
        account = self._find_account(str(params.get("acct") or "")) if params.get("acct") else None
        if account is None:
            return self._json({"error": "Record not found"}, 404)
        return self._json(self._account_json(account))

    def _handle_account_search(self, request: Request, params: dict[str, Any]) -> Response:
        """GET /api/v1/accounts/search?q=: known accounts matching by acct or display name."""
        _, error = self._authenticate(request, ("read", "read:accounts"), required=True)
        if error is not None:
            return error
        query = str(params.get("q") or "").strip().removeprefix("@").lower()
        try:
            limit = min(max(int(params.get("limit") or 40), 1), 80)
            offset = max(int(params.get("offset") or 0), 0)
        except ValueError:
            return self._json({"error": "Validation failed: limit must be a number"}, 422)
        exact = self._find_account(query) if query else None
        found = [exact] if exact is not None else []
        for account in self._accounts.values():
            if account is exact or not query:
                continue
            if (
                account["acct"].lower().startswith(query)
                or query in account["display_name"].lower()
            ):
                found.append(account)
        return self._json([self._account_json(a) for a in found[offset : offset + limit]])

    def _instance_configuration(self) -> dict[str, Any]:
        """Return the `configuration` block shared by instance v1 and v2."""
        return {
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
            "statuses": {
                "max_characters": self.max_characters,
                "max_media_attachments": 4,
                "characters_reserved_per_url": self.characters_reserved_per_url,
            },
            "media_attachments": {
                "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
                "image_size_limit": 16777216,
                "image_matrix_limit": 33177600,
                "video_size_limit": 103809024,
                "video_frame_rate_limit": 120,
                "video_matrix_limit": 8294400,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
        }

    def _handle_instance_v1(self, request: Request, params: dict[str, Any]) -> Response:
        """GET /api/v1/instance (deprecated shape; `max_toot_chars` is a fork extension)."""
        return self._json(
            {
                "uri": self.handles,
                "title": "Fake Mastodon",
                "short_description": "A Mastodon-compatible server for tests.",
                "description": "A Mastodon-compatible server for tests.",
                "email": "admin@example.invalid",
                "version": "4.3.0",
                "urls": {"streaming_api": f"ws://{self.domain}"},
                "stats": {
                    "user_count": len(self._accounts),
                    "status_count": len(self.statuses),
                    "domain_count": 1,
                },
                "thumbnail": None,
                "languages": ["en"],
                "registrations": False,
                "approval_required": False,
                "invites_enabled": False,
                "configuration": self._instance_configuration(),
                "max_toot_chars": self.max_characters,
                "contact_account": None,
                "rules": [],
            }
        )

    def _handle_instance_v2(self, request: Request, params: dict[str, Any]) -> Response:
        """GET /api/v2/instance."""
        configuration = self._instance_configuration()
        configuration["urls"] = {"streaming": f"ws://{self.domain}", "status": None}
        configuration["vapid"] = {"public_key": VAPID_KEY}
        configuration["translation"] = {"enabled": False}
        return self._json(
            {
                "domain": self.handles,
                "title": "Fake Mastodon",
                "version": "4.3.0",
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "A Mastodon-compatible server for tests.",
                "usage": {"users": {"active_month": len(self._accounts)}},
                "thumbnail": {"url": f"{self.url}/packs/media/images/preview.png"},
                "icon": [],
                "languages": ["en"],
                "configuration": configuration,
                "registrations": {
                    "enabled": False,
                    "approval_required": False,
                    "message": None,
                    "url": None,
                },
                "api_versions": {"mastodon": 2},
                "contact": {"email": "admin@example.invalid", "account": None},
                "rules": [],
            }
        )

    def _handle_post_status(self, request: Request, params: dict[str, Any]) -> Response:
        """POST /api/v1/statuses, honouring Idempotency-Key for an hour per account."""
        account, error = self._authenticate(request, ("write", "write:statuses"), required=True)
        if error is not None:
            return error
        key = request.headers.get("Idempotency-Key") or None
        if key is not None:
            seen = self._idempotency.get((account["id"], key))
            if seen is not None and self.now() - seen[1] < timedelta(seconds=IDEMPOTENCY_SECONDS):
                original = self._find_status(seen[0])
                if original is None:
                    return self._json({"error": "Record not found"}, 404)
                return self._json(self._status_json(original, account))
        text = str(params.get("status") or "")
        spoiler_text = str(params.get("spoiler_text") or "")
        visibility = str(params.get("visibility") or "public")
        if visibility not in VISIBILITIES:
            return self._json(
                {"error": "Validation failed: Visibility is not included in the list"}, 422
            )
        in_reply_to = None
        if params.get("in_reply_to_id"):
            in_reply_to = self._find_status(str(params["in_reply_to_id"]))
            if in_reply_to is None or not self._can_see(in_reply_to, account):
                return self._json(
                    {"error": "The post you are trying to reply to does not appear to exist."}, 404
                )
        if not text.strip() and not params.get("media_ids"):
            return self._json({"error": "Validation failed: Text can't be blank"}, 422)
        length = countable_length(
            text, spoiler_text, characters_reserved_per_url=self.characters_reserved_per_url
        )
        if self.count_raw:
            if len(spoiler_text) + len(text) > self.max_characters:
                return self._json(
                    {"error": f"Status is too long, maximum is {self.max_characters} characters"},
                    422,
                )
        elif length > self.max_characters:
            return self._json(
                {"error": f"Validation failed: Text {CHARACTER_LIMIT_ERROR % self.max_characters}"},
                422,
            )
        token = self._tokens[request.headers["Authorization"][7:].strip()]
        app = self.apps.get(token["client_id"])
        record = self._create_status(
            account,
            text=text,
            visibility=visibility,
            spoiler_text=spoiler_text,
            in_reply_to=in_reply_to,
            language=str(params.get("language") or "en"),
            idempotency_key=key,
            application={"name": app["name"], "website": app["website"]} if app else None,
        )
        if key is not None:
            self._idempotency[(account["id"], key)] = (record["id"], self.now())
        return self._json(self._status_json(record, account))

    def _handle_status(self, request: Request, params: dict[str, Any], status_id: str) -> Response:
        """GET or DELETE /api/v1/statuses/:id."""
        if request.method == "DELETE":
            account, error = self._authenticate(request, ("write", "write:statuses"), required=True)
            if error is not None:
                return error
            record = self._find_status(status_id)
            if record is None or record["account_id"] != account["id"]:
                return self._json({"error": "Record not found"}, 404)
            body = self._status_json(record, account)
            body["text"] = record["status"]
            record["deleted"] = True
            return self._json(body)
        viewer, error = self._authenticate(request, ("read", "read:statuses"), required=False)
        if error is not None:
            return error
        record = self._find_status(status_id)
        if record is None or not self._can_see(record, viewer):
            return self._json({"error": "Record not found"}, 404)
        return self._json(self._status_json(record, viewer))

    def _handle_context(self, request: Request, params: dict[str, Any], status_id: str) -> Response:
        """GET /api/v1/statuses/:id/context: ancestors and all visible descendants."""
        viewer, error = self._authenticate(request, ("read", "read:statuses"), required=False)
        if error is not None:
            return error
        record = self._find_status(status_id)
        if record is None or not self._can_see(record, viewer):
            return self._json({"error": "Record not found"}, 404)
        ancestors = []
        parent = self._find_status(record["in_reply_to_id"] or "")
        while parent is not None and len(ancestors) < 40:
            if self._can_see(parent, viewer):
                ancestors.insert(0, parent)
            parent = self._find_status(parent["in_reply_to_id"] or "")
        # Signed-out requests get a shallower, shorter tree, as on the real server.
        max_count, max_depth = (4096, None) if viewer is not None else (60, 20)
        descendants: list[dict[str, Any]] = []

        def walk(parent_id: str, depth: int) -> None:
            """Collect visible replies depth-first, oldest first."""
            children = sorted(
                (s for s in self.statuses if s["in_reply_to_id"] == parent_id and not s["deleted"]),
                key=lambda s: int(s["id"]),
            )
            for child in children:
                if len(descendants) >= max_count or (max_depth is not None and depth > max_depth):
                    return
                if self._can_see(child, viewer):
                    descendants.append(child)
                    walk(child["id"], depth + 1)

        walk(record["id"], 1)
        return self._json(
            {
                "ancestors": [self._status_json(s, viewer) for s in ancestors],
                "descendants": [self._status_json(s, viewer) for s in descendants],
            }
        )

    def _handle_note(
        self, request: Request, params: dict[str, Any], username: str, status_id: str
    ) -> Response:
        """GET /users/:name/statuses/:id as ActivityPub: a public status of this server's own."""
        record = self._find_status(status_id)
        if (
            record is None
            or record["visibility"] not in ("public", "unlisted")
            or not record["uri"].startswith(self.url + "/")
            or "activity+json" not in request.headers.get("Accept", "")
        ):
            return self._json({"error": "Record not found"}, 404)
        account = self._accounts[record["account_id"]]
        note = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": record["uri"],
            "type": "Note",
            "attributedTo": account["uri"],
            "inReplyTo": record["in_reply_to_uri"],
            "published": iso(record["created_at"]),
            "url": record["url"],
            "content": self._content_html(record["status"], record["account_id"]),
        }
        response = self._json(note)
        response.content_type = "application/activity+json; charset=utf-8"
        return response


def fake_mastodon_server() -> Iterator[FakeMastodon]:
    """Yield a started fake Mastodon server and stop it afterwards (wrap with @pytest.fixture)."""
    with FakeMastodon() as fake:
        yield fake
