"""DPoP (RFC 9449): a key pair per connection, and a signed proof on every request.

Bluesky's servers bind tokens to the key that asked for them, so a stolen token is no use
without the key. Each proof names the method and URL, is fresh (jti, iat), carries the
server's latest nonce, and, with a token, that token's hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

from joserfc import jwt
from joserfc.jwk import ECKey

ALGORITHM = "ES256"


def new_key() -> str:
    """Make a new P-256 key pair and return its private JWK as JSON, for encrypted storage."""
    return json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=True))


def load(jwk_json: str) -> ECKey:
    """Read a stored private JWK."""
    return ECKey.import_key(json.loads(jwk_json))


def target(url: str) -> str:
    """Return the URL a proof names: without query or fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def token_hash(access_token: str) -> str:
    """Return the `ath` claim: the token's SHA-256, base64url without padding."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def proof(
    key: ECKey, method: str, url: str, *, nonce: str | None, access_token: str | None = None
) -> str:
    """Sign a proof for one request."""
    header = {"typ": "dpop+jwt", "alg": ALGORITHM, "jwk": key.as_dict(private=False)}
    claims: dict[str, object] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": target(url),
        "iat": int(time.time()),
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["ath"] = token_hash(access_token)
    return jwt.encode(header, claims, key)


def origin_of(url: str) -> str:
    """Return the origin a nonce belongs to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def wants_nonce(response) -> bool:
    """Tell whether the server refused a proof for lacking its (new) nonce."""
    if response.status_code not in (400, 401) or not response.headers.get("DPoP-Nonce"):
        return False
    if "use_dpop_nonce" in response.headers.get("WWW-Authenticate", ""):
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"
