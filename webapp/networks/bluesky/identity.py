"""Who is who on Bluesky, checked the protocol's way: a handle is believed both ways or not at all.

A handle (a domain name) names a DID, by DNS (a TXT record at `_atproto.<handle>`) or by
`https://<handle>/.well-known/atproto-did`; the DID's document (from the PLC directory, or the
domain itself for did:web) must name the handle back in its `alsoKnownAs`, and names the PDS
that holds the account. No server's word is taken about anyone else: not the PDS's, not the
AppView's. dnspython is not among our dependencies, so only the well-known route is asked;
a handle set up by DNS alone doesn't resolve here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import requests
import urllib3
from flask import current_app, has_app_context

from webapp.infra.http import (
    NoAnswer,
    checked_get,
    fetch_json,
    insecure_allowed,
    no_answer,
    read_body,
)

# What the protocol allows a handle to be (atproto.com/specs/handle).
HANDLE_RE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
# Top-level names that never name anyone; .test only in development, through the local PDS.
RESERVED_TLDS = {"alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"}
DEV_TLD = "test"
DID_RE = re.compile(r"^did:(plc:[a-z2-7]{24}|web:[a-zA-Z0-9._:%-]{1,253})$")
INVALID_HANDLE = "handle.invalid"
WELL_KNOWN_MAX_BYTES = 2048


@dataclass(frozen=True)
class Identity:
    """An account as its DID document says: the DID, its handle (checked back) and its PDS."""

    did: str
    handle: str
    pds_url: str

    @property
    def handle_verified(self) -> bool:
        """Tell whether the handle resolved back to this DID."""
        return self.handle != INVALID_HANDLE


def normalize_handle(text: str) -> str | None:
    """Return a typed handle (`@alice.bsky.social`, `at://…`) in its plain form, or None."""
    handle = text.strip().lower()
    for prefix in ("at://", "@"):
        handle = handle.removeprefix(prefix)
    handle = handle.rstrip(".")
    if len(handle) > 253 or not HANDLE_RE.match(handle):
        return None
    tld = handle.rsplit(".", 1)[-1]
    if tld in RESERVED_TLDS or (tld == DEV_TLD and not dev_handle_server()):
        return None
    return handle


def is_did(text: str) -> bool:
    """Tell whether a text is a DID of a method we resolve (plc or web)."""
    return bool(DID_RE.match(text))


def setting(name: str, default: str = "") -> str:
    """Return a Bluesky setting, or its default outside an app."""
    if not has_app_context():
        return default
    return str(current_app.config.get(name) or default)


def dev_handle_server() -> str:
    """Return the local PDS that vouches for .test handles, in development only."""
    return setting("BLUESKY_DEV_HANDLE_SERVER") if insecure_allowed() else ""


def fetch_text(url: str, headers: dict | None = None, *, strict: bool = False) -> str | None:
    """GET a short text over the checked transport; None for anything but a plain answer.

    :raise NoAnswer: with `strict`, when the server couldn't be reached or answered 5xx.
    """
    if urlsplit(url).scheme != "https" and not insecure_allowed():
        return None
    try:
        with checked_get(url, {"User-Agent": "Praisewall", **(headers or {})}) as response:
            if strict and response.status_code >= 500:
                raise NoAnswer(f"HTTP {response.status_code}")
            if not response.ok or response.is_redirect:
                return None
            body = read_body(response, WELL_KNOWN_MAX_BYTES)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        if strict and no_answer(error):
            raise NoAnswer(type(error).__name__) from error
        return None
    if len(body) > WELL_KNOWN_MAX_BYTES:
        return None
    try:
        return body.decode().strip()
    except UnicodeDecodeError:
        return None


def handle_to_did(handle: str, *, strict: bool = False) -> str | None:
    """Return the DID a handle's own domain names, by its well-known address (see fetch_text)."""
    if handle.endswith("." + DEV_TLD):
        server = dev_handle_server()
        if not server:
            return None
        # A .test name is in no DNS: the local PDS answers for the handles it hosts, by Host.
        text = fetch_text(
            f"{server.rstrip('/')}/.well-known/atproto-did", {"Host": handle}, strict=strict
        )
    else:
        text = fetch_text(f"https://{handle}/.well-known/atproto-did", strict=strict)
    if text is None:
        return None
    did = text.splitlines()[0].strip() if text else ""
    return did if is_did(did) else None


def did_document(did: str, *, strict: bool = False) -> dict | None:
    """Fetch a DID's document: from the PLC directory, or from the did:web's own domain.

    :raise NoAnswer: with `strict`, when the server couldn't be reached or answered 5xx.
    """
    if did.startswith("did:plc:"):
        plc = setting("BLUESKY_PLC_URL", "https://plc.directory").rstrip("/")
        document = fetch_json(
            f"{plc}/{quote(did)}", accept="application/did+ld+json, */*", strict=strict
        )
    elif did.startswith("did:web:"):
        domain = did.removeprefix("did:web:")
        if ":" in domain:  # a path (did:web:host:path) or a port isn't for accounts
            return None
        document = fetch_json(
            f"https://{domain}/.well-known/did.json", accept="application/json", strict=strict
        )
    else:
        return None
    if not isinstance(document, dict) or document.get("id") != did:
        return None
    return document


def handle_in(document: dict) -> str | None:
    """Return the handle a DID document claims (its first at:// name)."""
    for name in document.get("alsoKnownAs") or []:
        if isinstance(name, str) and name.startswith("at://"):
            return normalize_handle(name)
    return None


def pds_in(document: dict) -> str | None:
    """Return the PDS a DID document names (service `#atproto_pds`), if it is usable."""
    for service in document.get("service") or []:
        if not isinstance(service, dict):
            continue
        if service.get("id") not in ("#atproto_pds", f"{document['id']}#atproto_pds"):
            continue
        if service.get("type") != "AtprotoPersonalDataServer":
            continue
        return server_url(service.get("serviceEndpoint"))
    return None


def server_url(value: object) -> str | None:
    """Return a server's address as `scheme://host[:port]`, if it is one we may talk to."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    allowed = ("https", "http") if insecure_allowed() else ("https",)
    if parts.scheme not in allowed or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def resolve_handle(handle: str, *, strict: bool = False) -> Identity | None:
    """Return the account a handle names, believed only when it resolves both ways.

    None when it doesn't: no DID, or a document that doesn't name the handle back.
    :raise NoAnswer: with `strict`, when a server that would say couldn't be reached (or
        answered 5xx), so a caller that can wait tells "not now" from "no such account".
    """
    normal = normalize_handle(handle)
    if normal is None:
        return None
    did = handle_to_did(normal, strict=strict)
    if did is None:
        return None
    document = did_document(did, strict=strict)
    if document is None or handle_in(document) != normal:
        return None
    pds = pds_in(document)
    if pds is None:
        return None
    return Identity(did, normal, pds)


def resolve_did(did: str) -> Identity | None:
    """Return the account a DID names, with its handle only if the handle names it back.

    A handle that doesn't resolve back to the DID is `handle.invalid`, as the protocol says;
    None when the DID's document can't be had or names no usable PDS.
    """
    if not is_did(did):
        return None
    document = did_document(did)
    if document is None:
        return None
    pds = pds_in(document)
    if pds is None:
        return None
    claimed = handle_in(document)
    handle = claimed if claimed is not None and handle_to_did(claimed) == did else INVALID_HANDLE
    return Identity(did, handle, pds)


def same_domain(handle: str, domain: str | None) -> bool:
    """Tell whether a handle is the domain itself (or its www. name)."""
    if not domain:
        return False
    domain = domain.lower().removeprefix("www.").rstrip(".")
    return handle.lower().removeprefix("www.") == domain


__all__ = ["Identity", "is_did", "normalize_handle", "resolve_did", "resolve_handle"]
