"""A software authenticator for tests: makes passkeys and signs challenges as a phone would."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "http://praisewall.test"
RP_ID = "praisewall.test"
# Flags in the authenticator data: user present, user verified, credential data attached.
PRESENT, VERIFIED, ATTESTED = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    """Encode bytes as unpadded base64url, as browsers do."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def client_data(kind: str, challenge: str, origin: str) -> bytes:
    """Return the clientDataJSON a browser would write."""
    return json.dumps({"type": kind, "challenge": challenge, "origin": origin}).encode()


@dataclass
class Authenticator:
    """One device holding one passkey per account it was asked to make one for."""

    rp_id: str = RP_ID
    origin: str = ORIGIN
    keys: dict[bytes, tuple[ec.EllipticCurvePrivateKey, bytes]] = field(default_factory=dict)
    counter: int = 0

    def create(
        self, options: dict, *, origin: str | None = None, again: bytes | None = None
    ) -> dict:
        """Make a passkey for the registration options, returned as the browser sends it.

        :param again: a credential id this device made before, to offer the same key again.
        """
        credential_id = again or secrets.token_bytes(32)
        key = self.keys[again][0] if again else ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        self.keys[credential_id] = (key, unb64url(options["user"]["id"]))
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([PRESENT | VERIFIED | ATTESTED])
            + struct.pack(">I", self.counter)
            + bytes(16)
            + struct.pack(">H", len(credential_id))
            + credential_id
            + cose
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        data = client_data("webauthn.create", options["challenge"], origin or self.origin)
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(data),
                "attestationObject": b64url(attestation),
            },
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict,
        credential_id: bytes | None = None,
        *,
        counter: int | None = None,
        origin: str | None = None,
    ) -> dict:
        """Sign the challenge with a passkey (the newest unless named), as browsers send it."""
        allowed = [unb64url(c["id"]) for c in options.get("allowCredentials", [])]
        if credential_id is None:
            usable = [c for c in self.keys if not allowed or c in allowed]
            assert usable, "this device holds no passkey the site asked for"
            credential_id = usable[-1]
        key, user_handle = self.keys[credential_id]
        self.counter = self.counter + 1 if counter is None else counter
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([PRESENT | VERIFIED])
            + struct.pack(">I", self.counter)
        )
        data = client_data("webauthn.get", options["challenge"], origin or self.origin)
        signature = key.sign(auth_data + hashlib.sha256(data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(user_handle),
            },
            "clientExtensionResults": {},
        }


def sign_up(client, device: Authenticator, username: str = "alice", **extra):
    """Sign up with a passkey through both JSON steps; return the second answer."""
    options = client.post("/register/passkey/options", json={"username": username})
    assert options.status_code == 200, options.text
    return client.post(
        "/register/passkey", json={"credential": device.create(options.json), **extra}
    )


def sign_in(client, device: Authenticator, username: str = "", **extra):
    """Sign in with a passkey through both JSON steps; return the second answer."""
    options = client.post("/login/passkey/options", json={"username": username})
    assert options.status_code == 200, options.text
    return client.post("/login/passkey", json={"credential": device.get(options.json), **extra})


def add_passkey(client, device: Authenticator, name: str = ""):
    """Add a passkey in the settings through both JSON steps; return the second answer."""
    options = client.post("/settings/passkeys/options", json={})
    assert options.status_code == 200, options.text
    return client.post(
        "/settings/passkeys", json={"credential": device.create(options.json), "name": name}
    )
