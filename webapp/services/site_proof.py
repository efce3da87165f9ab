"""Proving a business's website is yours: a token of ours, published on the site.

The token is an HMAC of the person, the business and its website's domain under the app's
secret key, so it is never stored (nor logged), and a new website needs a new token. We look
for it at /.well-known/praisewall-verification.txt, then in a
<meta name="praisewall-verification"> tag on the home page, through the same checked transport
as Mastodon requests: https only, public addresses only, no redirect to another host.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from flask import current_app

from webapp.infra.http import (
    REDIRECT_HOPS,
    RefusedAddress,
    checked_get,
    insecure_allowed,
    is_public,
    origin,
    read_body,
)
from webapp.models import Business, User

WELL_KNOWN = "/.well-known/praisewall-verification.txt"
META_NAME = "praisewall-verification"
FILE_MAX_BYTES = 4 * 1024
PAGE_MAX_BYTES = 512 * 1024


class Failed(Exception):
    """The site answered, and the answer doesn't prove the claim."""


class NoAnswer(Exception):
    """The site gave no answer just now (no connection, a timeout, a 5xx or 429)."""


@dataclass
class Page:
    """A document the site sent back: its status and the body read (up to a limit)."""

    status: int
    body: bytes


def token(business: Business, user: User) -> str:
    """Return the token this person publishes to prove the business's current website."""
    message = f"website-claim:{business.id}:{user.id}:{business.domain or ''}".encode()
    key = current_app.config["SECRET_KEY"].encode()
    return "praisewall-" + hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def site_origin(business: Business) -> str | None:
    """Return the https origin of the business's website (http too under the dev setting)."""
    if not business.website:
        return None
    parts = urlsplit(business.website)
    scheme = parts.scheme if insecure_allowed() and parts.scheme == "http" else "https"
    return f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}" if parts.hostname else None


def check_host(url: str) -> None:
    """Refuse a site whose name leads inside a network; the transport checks again on connect.

    :raise NoAnswer: when the name doesn't resolve just now.
    :raise Failed: when it leads to an address that isn't public.
    """
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise NoAnswer(f"We couldn't find {host}.") from None
    if not insecure_allowed() and not all(is_public(ipaddress.ip_address(i[4][0])) for i in infos):
        raise Failed(f"{host} isn't a public website, so we won't connect to it.")


def fetch(url: str, limit: int) -> Page:
    """GET a document over the checked transport, following redirects on the same host only.

    :raise Failed: on a refused address, a redirect elsewhere or too many, a body over `limit`.
    :raise NoAnswer: when the site didn't answer, or answered 5xx or 429.
    """
    host, start = urlsplit(url).hostname, origin(url)
    for _ in range(REDIRECT_HOPS + 1):
        try:
            with checked_get(url, {"User-Agent": "Praisewall"}) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["location"])
                    if origin(url) != start:
                        # Another host, port or scheme (https to http, say) is another site.
                        elsewhere = urlsplit(url).netloc
                        raise Failed(f"{host} sent us to another website, {elsewhere}.")
                    continue
                if response.status_code >= 500 or response.status_code == 429:
                    raise NoAnswer(f"{host} answered with an error ({response.status_code}).")
                body = read_body(response, limit)
        except RefusedAddress as refused:
            raise Failed(str(refused)) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError):
            raise NoAnswer(f"{host} didn't answer.") from None
        if len(body) > limit:
            raise Failed(f"The page at {url} is over {limit // 1024} KB, too big to read.")
        return Page(response.status_code, body)
    raise Failed(f"{host} redirected us too many times.")


class _MetaFinder(HTMLParser):
    """Collects the content of every <meta name="praisewall-verification">."""

    def __init__(self) -> None:
        """Start with none found."""
        super().__init__()
        self.contents: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note a verification tag's content."""
        values = dict(attrs)
        if tag == "meta" and (values.get("name") or "").lower() == META_NAME:
            self.contents.append((values.get("content") or "").strip())


def in_file(page: Page, expected: str) -> bool:
    """Tell whether the well-known file holds the token on a line of its own."""
    lines = page.body.decode("utf-8", "replace").splitlines()
    return page.status == 200 and any(hmac.compare_digest(line.strip(), expected) for line in lines)


def in_home_page(page: Page, expected: str) -> bool:
    """Tell whether the home page carries the token in its verification meta tag."""
    if page.status != 200:
        return False
    finder = _MetaFinder()
    finder.feed(page.body.decode("utf-8", "replace"))
    return any(hmac.compare_digest(content, expected) for content in finder.contents)


def prove(business: Business, user: User) -> None:
    """Find the person's token on the business's website, in the file or the home page tag.

    :raise Failed: when the site has no website, or answered without the token.
    :raise NoAnswer: when a place we looked gave no answer, so the token may be there.
    """
    base = site_origin(business)
    if base is None:
        raise Failed(f"{business.name} has no website on Praisewall to prove it with.")
    expected = token(business, user)
    check_host(base)
    problems: list[Exception] = []
    places = ((WELL_KNOWN, FILE_MAX_BYTES, in_file), ("/", PAGE_MAX_BYTES, in_home_page))
    for path, limit, holds in places:
        try:
            if holds(fetch(base + path, limit), expected):
                return
        except (Failed, NoAnswer) as problem:
            problems.append(problem)
    unanswered = [p for p in problems if isinstance(p, NoAnswer)]
    if unanswered:
        raise unanswered[0]
    if problems:
        raise problems[0]
    raise Failed(
        f"We didn't find your code at {base}{WELL_KNOWN} nor in a "
        f'<meta name="{META_NAME}"> tag on {base}/.'
    )
