"""The one module that talks to Mastodon servers (Mastodon.py for the API, Authlib for OAuth).

Everything here is plain functions over URLs and tokens; the callers own the database rows.
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import grapheme
import requests
import urllib3
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app, has_app_context
from mastodon import Mastodon
from mastodon._url_regex import url_regex
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from requests.adapters import HTTPAdapter

SCOPES = "read:accounts read:statuses write:statuses"
APP_NAME = "Praisewall"
TIMEOUT = 10
DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_LENGTH = 23
HOST_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
REMOTE_MENTION_RE = re.compile(r"(^|[^/\w])@(([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]+)", re.IGNORECASE)
HREF_RE = re.compile(r'href="([^"]*)"')
USERNAME_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.\-]{0,62}[a-z0-9_])?$", re.IGNORECASE)
DOCUMENT_MAX_BYTES = 64 * 1024
REDIRECT_HOPS = 3
ACTIVITY_JSON = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
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
# How far a server's clock may be behind ours when it dates a status one of our attempts made.
CLOCK_SKEW = timedelta(minutes=1)


class ServerProblem(Exception):
    """A Mastodon server we can't or won't talk to, explained in plain words."""


class RefusedAddress(requests.exceptions.ConnectionError):
    """A connection we won't make: to an address inside a network, or to another host."""


class UnknownClient(Exception):
    """The server no longer knows our app registration."""


@dataclass
class Outcome:
    """What a failed call means for the work: retry later, reconnect, or stop."""

    kind: str  # "retry", "needs_login", "failed" or "gone"
    reason: str
    retry_at: datetime | None = None


# --- Which server, and may we talk to it? ---


def parse_server(entry: str, *, allow_insecure: bool = False) -> str:
    """Turn "@user@server", "user@server", "server" or "https://server" into a base URL.

    :raise ServerProblem: when the entry names no server we may use.
    """
    text = entry.strip()
    scheme = ""
    if "://" in text:
        parts = urlsplit(text)
        scheme, text = parts.scheme.lower(), parts.netloc.rsplit("@", 1)[-1]
        if scheme not in ("https", "http") or not text:
            raise ServerProblem("Enter your server like mastodon.social, or your @name@server.")
    else:
        # Only the part before any path names the server: "mastodon.social/@alice" is on
        # mastodon.social, not on a server called "alice".
        text = text.lstrip("@").split("/", 1)[0]
        if "@" in text:
            text = text.rsplit("@", 1)[1]
    if scheme == "http" and not allow_insecure:
        raise ServerProblem("Mastodon servers are reached over https only.")
    text = text.lower()
    if text.startswith("[") and "]" in text:
        # An IPv6 address with a port is written [::1]:3000.
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, _, port = text.rpartition(":")
    else:
        host, port = text, ""
    if not scheme:
        # A local development server (allowed only by the development setting) speaks http.
        local = host == "localhost" or (is_ip(host) and ipaddress.ip_address(host).is_loopback)
        scheme = "http" if allow_insecure and local else "https"
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ServerProblem("That server address has a broken port number.")
    if len(host) > 253:
        raise ServerProblem("That server name is too long.")
    if not host or not (HOST_RE.match(host) or is_ip(host)):
        raise ServerProblem("That doesn't look like a server name. Try mastodon.social.")
    if "." not in host and not is_ip(host) and host != "localhost":
        raise ServerProblem("A server name has a dot in it, like mastodon.social.")
    if port == {"https": "443", "http": "80"}[scheme]:
        port = ""  # one server, one spelling
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}{':' + port if port else ''}"


def is_ip(host: str) -> bool:
    """Tell whether a host is written as an IP address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_address(base_url: str, *, allow_insecure: bool = False) -> None:
    """Refuse servers whose name leads to private, loopback or link-local addresses.

    :raise ServerProblem: if the name doesn't resolve or points inside a network.
    """
    host = urlsplit(base_url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise ServerProblem(f"We couldn't find a server called {host}.") from None
    if allow_insecure:
        return
    for info in infos:
        if not is_public(ipaddress.ip_address(info[4][0])):
            raise ServerProblem(f"{host} isn't a public server, so we won't connect to it.")


# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052 and 8215).
NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Tell whether an address is public; IPv6 that wraps IPv4 is judged by the IPv4."""
    if address.version == 6:
        if address.teredo is not None:
            return False  # the client's address inside is obfuscated; nothing to judge
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (
            any(address in prefix for prefix in NAT64_PREFIXES) or int(address) < 2**32
        ):
            # NAT64 and the old IPv4-compatible form (::a.b.c.d) end in the IPv4 address.
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


# --- Talking to one server only, over addresses checked as we connect ---


def insecure_allowed() -> bool:
    """Tell whether the development setting lets us reach http and in-network servers."""
    return bool(has_app_context() and current_app.config.get("MASTODON_ALLOW_INSECURE"))


class _Refused(Exception):
    """Raised inside urllib3, which retries and rewraps OSErrors, and turned into RefusedAddress."""


class _CheckedConnectionMixin:
    """Resolve the host as we connect and connect only to public addresses.

    Checking when the sign-in starts is not enough: the name may resolve elsewhere a moment
    later (DNS rebinding). Here the address checked is the address connected to, while TLS
    still verifies the certificate for the server's name.
    """

    def _new_conn(self):
        """Connect to the first public address the host resolves to; refuse any other."""
        try:
            infos = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise urllib3.exceptions.NameResolutionError(self.host, self, error) from error
        addresses = [info[4][0] for info in infos]
        if not addresses or not all(is_public(ipaddress.ip_address(a)) for a in addresses):
            raise _Refused(f"{self.host} isn't a public server, so we won't connect to it.")
        error: Exception | None = None
        for address in addresses:
            try:
                return urllib3.util.connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as failure:
                error = failure
        raise urllib3.exceptions.NewConnectionError(self, f"Failed to connect: {error}")


class _CheckedHTTPConnection(_CheckedConnectionMixin, urllib3.connection.HTTPConnection):
    """An http connection to checked addresses only."""


class _CheckedHTTPSConnection(_CheckedConnectionMixin, urllib3.connection.HTTPSConnection):
    """An https connection to checked addresses only."""


class _CheckedHTTPPool(urllib3.HTTPConnectionPool):
    """A pool of checked http connections."""

    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(urllib3.HTTPSConnectionPool):
    """A pool of checked https connections."""

    ConnectionCls = _CheckedHTTPSConnection


def origin(url: str) -> tuple[str, str, int | None]:
    """Return a URL's (scheme, host, port), with the scheme's default port filled in; all
    empty for a URL that can't be read (an unclosed IPv6 bracket, say)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", "", None
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


class ServerAdapter(HTTPAdapter):
    """Send requests to one server only, over checked addresses unless development allows any."""

    def __init__(self, base_url: str, *, allow_insecure: bool) -> None:
        """Bind the adapter to the server's origin."""
        self.origin = origin(base_url)
        self.allow_insecure = allow_insecure
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        """Use the checked connections unless development allows any address."""
        super().init_poolmanager(*args, **kwargs)
        if not self.allow_insecure:
            self.poolmanager.pool_classes_by_scheme = {
                "http": _CheckedHTTPPool,
                "https": _CheckedHTTPSPool,
            }

    def send(self, request, *args, **kwargs):
        """Refuse a request to another host (a redirect, say), or to a refused address."""
        if origin(request.url) != self.origin:
            raise RefusedAddress(
                f"We only talk to {self.origin[1]}, not {origin(request.url)[1]}.", request=request
            )
        try:
            return super().send(request, *args, **kwargs)
        except _Refused as refused:
            raise RefusedAddress(str(refused), request=request) from None


def guard(session: requests.Session, base_url: str) -> requests.Session:
    """Make a session talk only to this server, over addresses checked at connect time."""
    # Proxies and .netrc from the environment would change where, and as whom, we connect.
    session.trust_env = False
    adapter = ServerAdapter(base_url, allow_insecure=insecure_allowed())
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def server_session(base_url: str) -> requests.Session:
    """Return a requests session for one server, guarded as in `guard`."""
    return guard(requests.Session(), base_url)


# --- Registering our app and signing in (OAuth 2 with PKCE) ---


def oauth_endpoints(base_url: str) -> dict:
    """Read the server's OAuth metadata (Mastodon 4.3+), or assume the classic paths."""
    endpoints = {
        "authorization_endpoint": f"{base_url}/oauth/authorize",
        "token_endpoint": f"{base_url}/oauth/token",
        "revocation_endpoint": f"{base_url}/oauth/revoke",
        "code_challenge_methods_supported": [],
    }
    try:
        with server_session(base_url) as session:
            response = session.get(
                f"{base_url}/.well-known/oauth-authorization-server",
                timeout=TIMEOUT,
                allow_redirects=False,
            )
        advertised = response.json() if "json" in response.headers.get("content-type", "") else {}
        if response.ok and isinstance(advertised, dict):
            # An endpoint on another host would dodge check_address, so keep only this server's.
            endpoints.update(
                (key, value)
                for key, value in advertised.items()
                if not key.endswith("_endpoint") or str(value).startswith(f"{base_url}/")
            )
    except (requests.RequestException, ValueError, RecursionError):
        pass
    return endpoints


def register_app(base_url: str, redirect_uri: str, website: str) -> tuple[str, str]:
    """Register Praisewall with a server and return (client_id, client_secret).

    :raise ServerProblem: if the server can't be reached or refuses.
    """
    try:
        with server_session(base_url) as session:
            response = session.post(
                f"{base_url}/api/v1/apps",
                data={
                    "client_name": APP_NAME,
                    "redirect_uris": redirect_uri,
                    "scopes": SCOPES,
                    "website": website,
                },
                timeout=TIMEOUT,
                allow_redirects=False,
            )
        data = response.json()
        return data["client_id"], data["client_secret"]
    except RefusedAddress as refused:
        raise ServerProblem(str(refused)) from None
    except requests.RequestException:
        raise ServerProblem(f"{urlsplit(base_url).netloc} didn't answer. Try again soon.") from None
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ServerProblem(
            f"{urlsplit(base_url).netloc} doesn't look like a Mastodon server."
        ) from None


def client_still_known(token_url: str, client_id: str, client_secret: str) -> bool:
    """Ask the server whether our registration still works (a client-credentials grant)."""
    try:
        with server_session(token_url) as session:
            response = session.post(
                token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "scope": "read",
                },
                timeout=TIMEOUT,
                allow_redirects=False,
            )
    except requests.RequestException:
        return True  # can't tell; the token exchange will find out
    if response.status_code == 401:
        return False
    try:
        return response.json().get("error") != "invalid_client"
    except (ValueError, AttributeError, RecursionError):
        return True


def oauth_session(
    client_id: str, client_secret: str, redirect_uri: str, *, pkce: bool, server: str = ""
) -> OAuth2Session:
    """Make a short-lived OAuth client for one step of the sign-in, bound to the server's URL."""
    session = OAuth2Session(
        client_id,
        client_secret,
        scope=SCOPES,
        redirect_uri=redirect_uri,
        token_endpoint_auth_method="client_secret_post",  # nosec B106 # a method's name
        code_challenge_method="S256" if pkce else None,
        default_timeout=TIMEOUT,
    )
    return guard(session, server)


def authorization_url(
    authorize_url: str, client_id: str, client_secret: str, redirect_uri: str, *, pkce: bool
) -> tuple[str, str, str | None]:
    """Return (url to send the person to, state, PKCE verifier)."""
    verifier = generate_token(48) if pkce else None
    with oauth_session(
        client_id, client_secret, redirect_uri, pkce=pkce, server=authorize_url
    ) as client:
        url, state = client.create_authorization_url(authorize_url, code_verifier=verifier)
    return url, state, verifier


def exchange_code(
    token_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    verifier: str | None,
) -> dict:
    """Trade the authorization code for an access token.

    :raise UnknownClient: if the server has forgotten our registration.
    :raise ServerProblem: for any other refusal or failure.
    """
    try:
        with oauth_session(
            client_id, client_secret, redirect_uri, pkce=verifier is not None, server=token_url
        ) as c:
            token = c.fetch_token(
                token_url, code=code, code_verifier=verifier, allow_redirects=False
            )
    except OAuthError as error:
        if error.error == "invalid_client":
            raise UnknownClient from None
        raise ServerProblem("Your server didn't accept the sign-in. Please try again.") from None
    except requests.RequestException:
        raise ServerProblem("Your server didn't answer. Please try again.") from None
    except (ValueError, RecursionError):
        # An answer that isn't JSON we can read (nested past any depth, say).
        raise ServerProblem("Your server didn't accept the sign-in. Please try again.") from None
    granted = set(token.get("scope", "").split())
    if not set(SCOPES.split()) <= granted:
        raise ServerProblem("Praisewall needs permission to read your account and post for you.")
    return token


def revoke_token(revoke_url: str, client_id: str, client_secret: str, token: str) -> bool:
    """Revoke an access token at its server; tell whether the server confirmed it."""
    try:
        with oauth_session(client_id, client_secret, "", pkce=False, server=revoke_url) as client:
            response = client.revoke_token(revoke_url, token=token, allow_redirects=False)
    except requests.RequestException:
        return False
    return response.status_code == 200


# --- The API, once we have a token ---


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
        response.connection.last_failure = Failure(
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


def api_timeout() -> float:
    """Return the API call timeout in seconds: MASTODON_TIMEOUT if set, else TIMEOUT."""
    configured = current_app.config.get("MASTODON_TIMEOUT") if has_app_context() else None
    return configured or TIMEOUT


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


# --- Whose handle: the server's own domain, and WebFinger for any other ---


@contextmanager
def checked_get(url: str, headers: dict | None = None) -> Iterator[requests.Response]:
    """GET a URL over the checked transport as a stream, leaving any redirect to the caller."""
    deadline = time.monotonic() + fetch_deadline()
    with server_session(url) as session:
        try:
            response = session.get(
                url, timeout=api_timeout(), allow_redirects=False, stream=True, headers=headers
            )
        except ValueError as error:
            # requests reads a redirect's Location as it answers: one that isn't a URL (an
            # unclosed IPv6 bracket, say) is a bad answer, not a fault of ours.
            raise requests.exceptions.InvalidURL(f"Not a URL: {error}") from None
        response.deadline = deadline
        with response:
            yield response


def fetch_deadline() -> float:
    """Return the seconds a whole fetch may take: FETCH_DEADLINE."""
    return float(current_app.config.get("FETCH_DEADLINE", 15)) if has_app_context() else 15.0


def read_body(response: requests.Response, limit: int) -> bytes:
    """Read up to `limit` + 1 bytes of a `checked_get` answer, as they come, by its deadline.

    :raise requests.Timeout: when the whole body hasn't come by the deadline.
    """
    body = b""
    while len(body) <= limit:
        if time.monotonic() > response.deadline:
            raise requests.Timeout(f"{urlsplit(response.url).hostname} took too long to answer.")
        chunk = response.raw.read1(limit + 1 - len(body), decode_content=True)
        if not chunk:
            break
        body += chunk
    return body


def fetch_json(
    url: str, *, hops: int = 0, accept: str = "application/jrd+json, application/json"
) -> object:
    """GET a small JSON document over the checked transport, following up to `hops` redirects.

    Returns None for anything but a JSON answer: no answer, an error, a refused address.
    """
    for _ in range(hops + 1):
        if urlsplit(url).scheme != "https" and not insecure_allowed():
            return None
        try:
            with checked_get(url, {"Accept": accept, "User-Agent": "Praisewall"}) as response:
                if response.is_redirect:
                    # Each hop gets a session of its own, bound to its own checked host.
                    url = urljoin(url, response.headers["location"])
                    continue
                if not response.ok:
                    return None
                body = read_body(response, DOCUMENT_MAX_BYTES)
        except (requests.RequestException, urllib3.exceptions.HTTPError):
            return None
        if len(body) > DOCUMENT_MAX_BYTES:
            return None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested past any depth we read
            return None
    return None


def account_handle(base_url: str, me: dict, domain: str | None) -> tuple[str, str | None]:
    """Return the account's handle (user@domain), and the handle its server claimed when we
    couldn't believe it (else None).

    `domain` is the one the server names its people by (its instance document's). A server
    speaks for its own host. A handle on any other domain (the account's acct, or `domain`) is
    believed only when WebFinger on that domain points at this very account; otherwise the
    person is user@<API host>.

    :raise ServerProblem: if the server names the account with no username we can use.
    """
    user, _, named = str(me.get("acct") or "").partition("@")
    if not USERNAME_RE.match(user):
        raise ServerProblem("Your server didn't tell us who you are. Try again.")
    host = base_url.split("://", 1)[1]
    domain = (named or domain or host).lower()
    own = f"{user}@{host}"
    if domain == host:
        return own, None
    claimed = f"{user}@{domain}"
    return (claimed, None) if webfinger_confirms(claimed, base_url, me) else (own, claimed)


def webfinger_confirms(acct: str, base_url: str, me: dict) -> bool:
    """Tell whether WebFinger on the handle's domain names this very account on this server.

    The account's profile page or actor URI, as the server that signed the person in reports
    them and only when they are on that server's host, must be WebFinger's `self` link, its
    profile page or one of its aliases.
    """
    ours = {u for u in (me.get("url"), me.get("uri")) if u and origin(u) == origin(base_url)}
    document = webfinger(acct) if ours else None
    if document is None:
        return False
    aliases = document.get("aliases")
    links = document.get("links")
    pointers = [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []
    pointers += [
        link.get("href")
        for link in (links if isinstance(links, list) else [])
        if isinstance(link, dict)
        and link.get("rel") in ("self", "http://webfinger.net/rel/profile-page")
    ]
    return any(pointer in ours for pointer in pointers)


def handle_domain_down(acct: str) -> bool:
    """Tell whether the handle's domain gave WebFinger no answer just now (no connection, a
    timeout, a 5xx or 429), so that a handle it didn't confirm may be confirmed later."""
    try:
        domain_url = parse_server(acct.split("@", 1)[1], allow_insecure=insecure_allowed())
    except ServerProblem:
        return False  # no domain we could ever ask
    url = f"{domain_url}/.well-known/webfinger?{urlencode({'resource': f'acct:{acct}'})}"
    try:
        with checked_get(url) as response:
            return response.status_code >= 500 or response.status_code == 429
    except (requests.RequestException, urllib3.exceptions.HTTPError):
        return True


def webfinger(acct: str) -> dict | None:
    """Return WebFinger's answer for the handle from the handle's own domain, if it gives one."""
    domain = acct.partition("@")[2].lower()
    try:
        domain_url = parse_server(domain, allow_insecure=insecure_allowed())
    except ServerProblem:
        return None
    if domain_url.split("://", 1)[1] != domain:
        return None  # a domain written so that it means another host, e.g. with a path
    query = urlencode({"resource": f"acct:{acct}"})
    document = fetch_json(f"{domain_url}/.well-known/webfinger?{query}", hops=REDIRECT_HOPS)
    if not isinstance(document, dict):
        return None
    if str(document.get("subject") or "").casefold() != f"acct:{acct}".casefold():
        return None
    return document


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


@dataclass
class Instance:
    """What a server says about itself: its posting limits, and the domain in its people's
    handles (None when it doesn't say)."""

    max_characters: int = DEFAULT_MAX_CHARACTERS
    url_length: int = DEFAULT_URL_LENGTH
    domain: str | None = None


def instance(base_url: str) -> Instance:
    """Read the server's instance document (v2, and v1 for the domain on older servers)."""
    facts = Instance()
    document = fetch_json(f"{base_url}/api/v2/instance")
    if isinstance(document, dict):
        facts.max_characters, facts.url_length = limits_in(document)
        # GoToSocial calls it account_domain (its "domain" is the web host); Mastodon: domain.
        facts.domain = domain_in(document, ("account_domain", "domain"))
    if facts.domain is None:
        # Mastodon's v1 "uri" is the handle domain; Akkoma's is a URL.
        facts.domain = domain_in(
            fetch_json(f"{base_url}/api/v1/instance"), ("account_domain", "uri")
        )
    return facts


def limits_in(document: dict) -> tuple[int, int]:
    """Return an instance document's (max characters, characters per URL), or the defaults."""
    try:
        statuses = document["configuration"]["statuses"]
        return (
            int(statuses.get("max_characters") or DEFAULT_MAX_CHARACTERS),
            int(statuses.get("characters_reserved_per_url") or DEFAULT_URL_LENGTH),
        )
    except (KeyError, AttributeError, TypeError, ValueError):
        return DEFAULT_MAX_CHARACTERS, DEFAULT_URL_LENGTH


def domain_in(document: object, keys: tuple[str, ...]) -> str | None:
    """Return the first of these keys' values in an instance document as a domain, or None."""
    for key in keys:
        value = document.get(key) if isinstance(document, dict) else None
        if isinstance(value, str) and value.strip():
            value = value.strip().lower()
            return urlsplit(value).netloc if "://" in value else value
    return None


def status_length(text: str, spoiler_text: str = "", url_length: int = DEFAULT_URL_LENGTH) -> int:
    """Count a status as Mastodon does: graphemes, each link as url_length, @user@host as @user."""
    counted = url_regex.sub(lambda m: m.group(2) + "x" * url_length, text)
    counted = REMOTE_MENTION_RE.sub(r"\1@\3", counted)
    return grapheme.length(counted) + grapheme.length(spoiler_text)


def raw_length(text: str, spoiler_text: str = "") -> int:
    """Count a status the strictest way: every character as written, links and mentions whole."""
    return len(text) + len(spoiler_text)


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


def find_actor(acct: str) -> str | None:
    """Return the actor URI WebFinger on the handle's own domain names for it, or None.

    None when the domain can't be reached as well as when it doesn't know the handle.
    """
    document = webfinger(acct.lstrip("@"))
    if document is None:
        return None
    links = document.get("links")
    return next(
        (
            link["href"]
            for link in (links if isinstance(links, list) else [])
            if isinstance(link, dict)
            and link.get("rel") == "self"
            and isinstance(link.get("href"), str)
            and origin(link["href"])[0] in ("https", "http")
        ),
        None,
    )


def fetch_object(uri: str) -> dict | None:
    """Fetch an ActivityPub object from its own server; None unless the server says it is it."""
    document = fetch_json(uri, accept=ACTIVITY_JSON)
    if not isinstance(document, dict) or object_id(document) != uri:
        return None
    return document


def object_id(value: object) -> str | None:
    """Return the id an ActivityPub reference carries: a bare URI, or an object with an id."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def confirmed_reply(uri: str, actor: str, root: str, since: datetime) -> dict | None:
    """Return the reply as its own server has it, if that is the actor's server and it says the
    actor wrote it, after `since` (our status's sending), in reply to `root`, directly or to a
    reply to it; else None, unreachable servers included.

    A reply in between is believed only from the actor's server or `root`'s (the poster's):
    any other server could say whatever it likes about what its note answers.
    """
    if not uri or origin(uri) != origin(actor):
        return None
    note = fetch_object(uri)
    if note is None or object_id(note.get("attributedTo")) != actor:
        return None
    published = as_datetime(note.get("published"))
    if published is None or published < since - CLOCK_SKEW:
        return None
    parent = object_id(note.get("inReplyTo"))
    if parent is not None and parent != root:
        trusted = origin(parent) in (origin(actor), origin(root))
        above = fetch_object(parent) if trusted else None
        parent = object_id(above.get("inReplyTo")) if above else None
    if parent != root:
        return None
    url = note.get("url")
    url = object_id(url if not isinstance(url, list) else (url or [None])[0])
    return {
        "created_at": published,
        # The page to link to, only on the business's server; else the id, which is.
        "url": url if url and origin(url) == origin(actor) else uri,
        "text": plain_text(str(note.get("content") or "")),
    }


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
    args = getattr(error, "args", ())
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def api_reason(error: Exception) -> str:
    """Return the server's own words from a Mastodon.py error."""
    args = getattr(error, "args", ())
    return str(args[3] if len(args) > 3 and args[3] else args[-1] if args else error)[:300]


def failure_of(error: Exception, client: Mastodon | None) -> Failure | None:
    """Return the refused answer behind an API error, if the client's session kept it."""
    failure = last_failure(client)
    return failure if failure is not None and failure.status == api_status(error) else None


def server_words(error: Exception, client: Mastodon | None = None, limit: int = 200) -> str:
    """Return what the server said: its JSON error, else its page or text, else the reason."""
    args = getattr(error, "args", ())
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


class _TextOnly(HTMLParser):
    """Collects the words of a status's HTML, with its paragraphs and line breaks."""

    def __init__(self) -> None:
        """Start with no text."""
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Turn a line break into a newline; note the start of text nobody reads."""
        if tag == "br":
            self.parts.append("\n")
        elif tag in UNREAD_TAGS:
            self.skipping += 1

    def handle_endtag(self, tag: str) -> None:
        """End a paragraph with a blank line."""
        if tag in ("p", "div", "blockquote", "li", "h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append("\n\n")
        elif tag in UNREAD_TAGS:
            self.skipping = max(self.skipping - 1, 0)

    def handle_data(self, data: str) -> None:
        """Keep the words, except inside script or style."""
        if not self.skipping:
            self.parts.append(data)


UNREAD_TAGS = ("script", "style", "template")
REPLY_TEXT_MAX = 500


def plain_text(content: str, limit: int = REPLY_TEXT_MAX) -> str:
    """Return a status's HTML content as plain text, tags dropped, at most `limit` characters.

    The result is shown escaped, never as HTML.
    """
    parser = _TextOnly()
    parser.feed(content[: limit * 20])  # markup is verbose, but a reply is no book
    parser.close()
    text = "".join(parser.parts).replace("\x00", "").replace("\r", "")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
