"""AT Protocol OAuth, the protocol side: discovery, PAR, PKCE, DPoP-bound tokens, revocation.

A person's PDS names its authorization server (`/.well-known/oauth-protected-resource`);
that server's metadata must say it is who the PDS says and that it does what the protocol
requires (PAR, PKCE S256, DPoP with ES256). We are a public client: in production our
client id is the https address of the client-metadata document the site serves; in
development, the loopback form the protocol keeps for it. Every request goes through the
checked transport, and every token request carries a DPoP proof with the server's nonce.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import requests
from joserfc.jwk import ECKey

from webapp.infra.http import (
    ServerProblem,
    fetch_json,
    insecure_allowed,
    server_session,
)
from webapp.models import utcnow
from webapp.networks.bluesky import answers, dpop
from webapp.networks.bluesky.identity import server_url

SCOPES = "atproto transition:generic"
CALLBACK_PATH = "/auth/bluesky/callback"
LONGEST_TOKEN = timedelta(days=365)  # the longest a server's expires_in is believed
METADATA_PATH = "/bluesky/client-metadata.json"


class OAuthRefused(Exception):
    """The authorization server refused a token request, in its own words."""

    def __init__(self, status: int, error: str, description: str) -> None:
        """Keep the status and the server's error code and description."""
        super().__init__(f"{error}: {description}" if description else error)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class Tokens:
    """What a token request gave: the tokens, when the access token ends, who it is for."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scopes: str
    sub: str


def loopback_client_id(redirect_uri: str) -> str:
    """Return the development client id: `http://localhost` naming our redirect and scopes."""
    return "http://localhost?" + urlencode({"redirect_uri": redirect_uri, "scope": SCOPES})


def client_metadata(site_url: str) -> dict:
    """Return the client-metadata document served at our client id."""
    site = site_url.rstrip("/")
    return {
        "client_id": f"{site}{METADATA_PATH}",
        "client_name": "Praisewall",
        "client_uri": site,
        "redirect_uris": [f"{site}{CALLBACK_PATH}"],
        "scope": SCOPES,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",  # nosec B105 # a public client: no secret
        "application_type": "web",
        "dpop_bound_access_tokens": True,
    }


def issuer_of(pds_url: str) -> str:
    """Return the authorization server a PDS names for itself.

    :raise ServerProblem: if the PDS names none we can use.
    """
    document = fetch_json(
        f"{pds_url}/.well-known/oauth-protected-resource", accept="application/json"
    )
    servers = document.get("authorization_servers") if isinstance(document, dict) else None
    issuer = server_url(servers[0]) if isinstance(servers, list) and servers else None
    if issuer is None:
        raise ServerProblem(
            "Your Bluesky server doesn't offer this way to sign in. If you have an account "
            "here already, connect it with an app password in your settings."
        )
    return issuer


def server_metadata(issuer: str) -> dict:
    """Return an authorization server's metadata, checked to be its own and to do our flow.

    :raise ServerProblem: if it isn't, or the server can't do PAR, PKCE S256 or DPoP ES256.
    """
    meta = fetch_json(f"{issuer}/.well-known/oauth-authorization-server", accept="application/json")
    if not isinstance(meta, dict) or meta.get("issuer") != issuer:
        raise ServerProblem("Your Bluesky server's sign-in service didn't answer properly.")
    needed = ("authorization_endpoint", "token_endpoint", "pushed_authorization_request_endpoint")
    if not all(endpoint(meta.get(name)) for name in needed):
        raise ServerProblem("Your Bluesky server's sign-in service can't do what we need.")
    if "S256" not in (meta.get("code_challenge_methods_supported") or []):
        raise ServerProblem("Your Bluesky server's sign-in service doesn't support PKCE.")
    if dpop.ALGORITHM not in (meta.get("dpop_signing_alg_values_supported") or []):
        raise ServerProblem("Your Bluesky server's sign-in service doesn't support DPoP.")
    if "atproto" not in (meta.get("scopes_supported") or ["atproto"]):
        raise ServerProblem("Your Bluesky server's sign-in service isn't an AT Protocol one.")
    return meta


def endpoint(value: object) -> bool:
    """Tell whether a metadata value is an endpoint we may post to (https, but in development)."""
    if not isinstance(value, str):
        return False
    return value.startswith("https://") or (insecure_allowed() and value.startswith("http://"))


def pkce_pair() -> tuple[str, str]:
    """Return a PKCE (verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def post_with_proof(
    url: str, data: dict, key: ECKey, nonces: dict[str, str], *, access_token: str | None = None
) -> requests.Response:
    """POST a form with a DPoP proof, once more with the server's nonce if it asks for one."""
    origin = dpop.origin_of(url)
    with server_session(url) as session:
        for _ in range(2):
            proof = dpop.proof(
                key, "POST", url, nonce=nonces.get(origin), access_token=access_token
            )
            response = answers.request(
                session,
                "POST",
                url,
                data=data,
                headers={"DPoP": proof, "Accept": "application/json", "User-Agent": "Praisewall"},
            )
            if response.headers.get("DPoP-Nonce"):
                nonces[origin] = response.headers["DPoP-Nonce"]
            if not dpop.wants_nonce(response):
                break
    return response


def refused(response: requests.Response) -> OAuthRefused:
    """Read an authorization server's refusal."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = {}
    body = body if isinstance(body, dict) else {}
    return OAuthRefused(
        response.status_code,
        str(body.get("error") or f"HTTP {response.status_code}")[:100],
        str(body.get("error_description") or "")[:300],
    )


def push_request(
    meta: dict,
    client_id: str,
    redirect_uri: str,
    *,
    state: str,
    challenge: str,
    key: ECKey,
    nonces: dict[str, str],
    login_hint: str | None,
) -> str:
    """Push the authorization request (PAR) and return the request_uri it was given.

    :raise OAuthRefused: if the server refuses it.
    """
    data = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": SCOPES,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if login_hint:
        data["login_hint"] = login_hint
    response = post_with_proof(meta["pushed_authorization_request_endpoint"], data, key, nonces)
    if response.status_code not in (200, 201):
        raise refused(response)
    try:
        body = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested past any depth we read
        raise OAuthRefused(response.status_code, "invalid_response", "not JSON") from None
    request_uri = body.get("request_uri") if isinstance(body, dict) else None
    if not isinstance(request_uri, str):
        raise OAuthRefused(response.status_code, "invalid_response", "no request_uri")
    return request_uri


def authorization_url(meta: dict, client_id: str, request_uri: str) -> str:
    """Return where to send the person: the server's authorization page for our request."""
    query = urlencode({"client_id": client_id, "request_uri": request_uri})
    return f"{meta['authorization_endpoint']}?{query}"


def read_tokens(response: requests.Response) -> Tokens:
    """Read a token answer; it must be DPoP-bound and for the atproto scope.

    :raise OAuthRefused: if the server refused, or its answer isn't one we accept.
    """
    if response.status_code != 200:
        raise refused(response)
    try:
        body = response.json()
    except (ValueError, RecursionError):
        raise OAuthRefused(response.status_code, "invalid_response", "not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise OAuthRefused(response.status_code, "invalid_response", "no access token")
    if str(body.get("token_type", "")).lower() != "dpop":
        raise OAuthRefused(response.status_code, "invalid_response", "token not DPoP-bound")
    scopes = str(body.get("scope") or "")
    if "atproto" not in scopes.split():
        raise OAuthRefused(response.status_code, "invalid_response", "not an atproto token")
    return Tokens(
        body["access_token"],
        body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None,
        expires_at_after(body.get("expires_in")),
        scopes,
        str(body.get("sub") or ""),
    )


def expires_at_after(expires_in: object) -> datetime | None:
    """Return when a token given `expires_in` seconds ends: a server's number is kept within
    0 seconds to a year, and anything but a number means it didn't say."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return None
    if expires_in != expires_in:  # NaN
        return None
    # Compared, never converted: a huge integer overflows a float, infinity an int.
    seconds = min(max(expires_in, 0), LONGEST_TOKEN.total_seconds())
    return utcnow() + timedelta(seconds=seconds)


def exchange_code(
    meta: dict,
    client_id: str,
    redirect_uri: str,
    code: str,
    verifier: str,
    key: ECKey,
    nonces: dict[str, str],
) -> Tokens:
    """Trade the authorization code for tokens bound to our key.

    :raise OAuthRefused: if the server refuses.
    """
    data = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code": code,
        "code_verifier": verifier,
    }
    return read_tokens(post_with_proof(meta["token_endpoint"], data, key, nonces))


def refresh(
    token_endpoint: str, client_id: str, refresh_token: str, key: ECKey, nonces: dict[str, str]
) -> Tokens:
    """Trade a refresh token for new tokens (and a new refresh token: they rotate).

    :raise OAuthRefused: if the server refuses (a revoked or expired session: invalid_grant).
    """
    data = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    return read_tokens(post_with_proof(token_endpoint, data, key, nonces))


def revoke(endpoint: str, client_id: str, token: str, key: ECKey, nonces: dict[str, str]) -> bool:
    """Revoke a token at the server; tell whether it said so."""
    try:
        response = post_with_proof(endpoint, {"client_id": client_id, "token": token}, key, nonces)
    except requests.RequestException:
        return False
    return response.status_code == 200


__all__ = ["OAuthRefused", "SCOPES", "Tokens", "client_metadata", "loopback_client_id"]
