"""Which Mastodon server a person means, and what it says about itself (limits, domain)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from webapp.infra.http import ServerProblem, fetch_json, is_ip
from webapp.networks.mastodon.text import DEFAULT_MAX_CHARACTERS, DEFAULT_URL_LENGTH

HOST_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)


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
