"""Whose handle: a server speaks for its own domain, and WebFinger confirms any other."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import requests
import urllib3

from webapp.infra.http import (
    REDIRECT_HOPS,
    ServerProblem,
    checked_get,
    fetch_json,
    insecure_allowed,
    origin,
)
from webapp.networks.mastodon.servers import parse_server

USERNAME_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.\-]{0,62}[a-z0-9_])?$", re.IGNORECASE)


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
