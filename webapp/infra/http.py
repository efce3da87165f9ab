"""Talking to other people's servers safely: one host per session, public addresses only.

Every request to a server someone named (a Mastodon server, a handle's domain, a business's
website) goes through here: the address is checked as we connect (not only when the name is
first looked up), redirects to other hosts are refused, and bodies are read by a deadline.
MASTODON_ALLOW_INSECURE (development only) lets http and in-network addresses through.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter

TIMEOUT = 10
DOCUMENT_MAX_BYTES = 64 * 1024
REDIRECT_HOPS = 3


class ServerProblem(Exception):
    """A server we can't or won't talk to, explained in plain words."""


class RefusedAddress(requests.exceptions.ConnectionError):
    """A connection we won't make: to an address inside a network, or to another host."""


class NoAnswer(Exception):
    """A server didn't answer for now: no connection, a timeout, or its own error (5xx)."""


# getaddrinfo's "no such name": a domain that doesn't exist, as against DNS failing for now.
NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def causes(error: BaseException) -> Iterator[BaseException]:
    """Yield an error and what it wraps: its cause, context, `reason` and exception args."""
    seen: set[int] = set()
    waiting = [error]
    while waiting and len(seen) < 20:
        current = waiting.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner.extend(current.args)
        waiting.extend(e for e in inner if isinstance(e, BaseException))


def no_answer(error: BaseException) -> bool:
    """Tell whether a failed GET may succeed later: not a refused address nor a missing name."""
    for cause in causes(error):
        if isinstance(cause, RefusedAddress):
            return False
        if isinstance(cause, socket.gaierror) and cause.errno in NO_SUCH_NAME:
            return False
    return True


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


def request_timeout(default: float = TIMEOUT) -> float:
    """Return one request's timeout in seconds: MASTODON_TIMEOUT if set, else the default."""
    configured = current_app.config.get("MASTODON_TIMEOUT") if has_app_context() else None
    return configured or default


@contextmanager
def checked_get(url: str, headers: dict | None = None) -> Iterator[requests.Response]:
    """GET a URL over the checked transport as a stream, leaving any redirect to the caller."""
    deadline = time.monotonic() + fetch_deadline()
    with server_session(url) as session:
        try:
            response = session.get(
                url, timeout=request_timeout(), allow_redirects=False, stream=True, headers=headers
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
    url: str,
    *,
    hops: int = 0,
    accept: str = "application/jrd+json, application/json",
    strict: bool = False,
) -> object:
    """GET a small JSON document over the checked transport, following up to `hops` redirects.

    Returns None for anything but a JSON answer: no answer, an error, a refused address.
    :raise NoAnswer: with `strict`, when the server couldn't be reached or answered 5xx.
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
                if strict and response.status_code >= 500:
                    raise NoAnswer(f"HTTP {response.status_code}")
                if not response.ok:
                    return None
                body = read_body(response, DOCUMENT_MAX_BYTES)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            if strict and no_answer(error):
                raise NoAnswer(type(error).__name__) from error
            return None
        if len(body) > DOCUMENT_MAX_BYTES:
            return None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested past any depth we read
            return None
    return None
