"""XRPC calls to a person's PDS, signed as their connection, over the checked transport.

Each call is signed by `auth.auth_for(account)`; it is sent once more when the server asks
for a new DPoP nonce, and once more after renewing the tokens when they have ended (or the
server says so). Reads from the AppView go through the PDS with the `atproto-proxy` header
naming the AppView (BLUESKY_APPVIEW).
"""

from __future__ import annotations

from typing import Any

import requests
from flask import current_app, has_app_context

from webapp.infra.http import server_session
from webapp.models import BlueskyAccount
from webapp.networks.bluesky import answers
from webapp.networks.bluesky.auth import answer_json, auth_for

DEFAULT_APPVIEW = "did:web:api.bsky.app#bsky_appview"
# What a PDS says when an access token has ended or isn't accepted any more.
TOKEN_ERRORS = {"ExpiredToken", "InvalidToken", "invalid_token", "AuthenticationRequired"}


class XrpcError(Exception):
    """A PDS (or the AppView through it) refused a call."""

    def __init__(
        self, status: int, error_name: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        """Keep the status, the error's name and message, and the answer's headers."""
        super().__init__(
            f"{status} {error_name}: {message}" if message else f"{status} {error_name}"
        )
        self.status = status
        self.error_name = error_name
        self.message = message
        self.headers = headers or {}

    @classmethod
    def of(cls, response: requests.Response) -> XrpcError:
        """Read a refusal from an answer."""
        body = answer_json(response)
        return cls(
            response.status_code,
            str(body.get("error") or f"HTTP {response.status_code}")[:100],
            str(body.get("message") or "")[:500],
            {name.lower(): value for name, value in response.headers.items()},
        )


def appview() -> str:
    """Return the AppView reads are proxied to."""
    configured = current_app.config.get("BLUESKY_APPVIEW") if has_app_context() else None
    return configured or DEFAULT_APPVIEW


def token_ended(response: requests.Response) -> bool:
    """Tell whether a refusal is about the access token (ended, or not accepted)."""
    if response.status_code == 401:
        return True
    return response.status_code == 400 and answer_json(response).get("error") in TOKEN_ERRORS


class Client:
    """XRPC for one connected account."""

    def __init__(self, account: BlueskyAccount) -> None:
        """Sign as the account, talking to its PDS only.

        :raise webapp.infra.crypto.InvalidToken: if no key reads its stored secrets.
        """
        self.account = account
        self.auth = auth_for(account)
        self.base_url = account.pds_url.rstrip("/")

    def get(self, nsid: str, params: dict | None = None, *, proxy_appview: bool = False) -> dict:
        """Call a query method and return its JSON answer."""
        headers = {"atproto-proxy": appview()} if proxy_appview else {}
        return self.call("GET", nsid, params=params, headers=headers)

    def post(self, nsid: str, json: Any = None) -> dict:
        """Call a procedure with a JSON body and return its JSON answer."""
        return self.call("POST", nsid, json=json if json is not None else {})

    def upload_blob(self, data: bytes, mime: str) -> dict:
        """Upload a blob (an image, say) and return the answer (its `blob` reference)."""
        return self.call(
            "POST", "com.atproto.repo.uploadBlob", data=data, headers={"Content-Type": mime}
        )

    def call(
        self,
        method: str,
        nsid: str,
        *,
        params: dict | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict | None = None,
    ) -> dict:
        """Send one XRPC call, once more for a nonce or after renewing ended tokens.

        :raise XrpcError: if the server refuses.
        :raise webapp.networks.bluesky.auth.SessionEnded: if the tokens can't be renewed.
        :raise requests.RequestException: if there is no answer.
        """
        url = f"{self.base_url}/xrpc/{nsid}"
        renewed = False
        if self.auth.expired():
            self.auth.refresh()
            renewed = True
        retried_nonce = False
        with server_session(self.base_url) as session:
            while True:
                response = answers.request(
                    session,
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers={
                        "User-Agent": "Praisewall",
                        **(headers or {}),
                        **self.auth.headers(method, url),
                    },
                )
                if self.auth.learn(response) and not retried_nonce:
                    retried_nonce = True
                    continue
                if token_ended(response) and not renewed:
                    self.auth.refresh()
                    renewed = True
                    continue
                break
        if not 200 <= response.status_code < 300:
            raise XrpcError.of(response)
        if not response.content:
            return {}
        return answer_json(response)
