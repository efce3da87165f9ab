"""Encryption at rest for Mastodon tokens and client secrets (Fernet, with key rotation)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

KEY_FILE = "fernet_keys"


def init_app(app: Flask) -> None:
    """Load the keys: WEBAPP_FERNET_KEYS from the environment, else instance/fernet_keys."""
    keys = app.config.get("FERNET_KEYS") or os.environ.get("WEBAPP_FERNET_KEYS", "")
    if not keys:
        path = Path(app.instance_path) / KEY_FILE
        if not path.exists():
            path.write_text(Fernet.generate_key().decode() + "\n")
            path.chmod(0o600)
        keys = path.read_text()
    # Newest key first: it encrypts; every listed key still decrypts.
    app.extensions["fernet"] = MultiFernet(
        [Fernet(key.strip()) for key in keys.replace(",", "\n").split() if key.strip()]
    )


def encrypt(text: str) -> str:
    """Encrypt a secret for storage."""
    return current_app.extensions["fernet"].encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a stored secret.

    :raise InvalidToken: if no configured key can read it.
    """
    return current_app.extensions["fernet"].decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt a stored secret under the newest key."""
    return current_app.extensions["fernet"].rotate(token.encode()).decode()


__all__ = ["InvalidToken", "decrypt", "encrypt", "init_app", "rotate"]
