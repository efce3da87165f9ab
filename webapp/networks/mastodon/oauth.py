"""Registering our app with a Mastodon server and signing in there (OAuth 2 with PKCE)."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from webapp.infra.http import TIMEOUT, RefusedAddress, ServerProblem, guard, server_session

SCOPES = "read:accounts read:statuses write:statuses"
APP_NAME = "Praisewall"


class UnknownClient(Exception):
    """The server no longer knows our app registration."""


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
