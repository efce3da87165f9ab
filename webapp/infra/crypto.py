"""Encryption at rest for Mastodon tokens and client secrets (Fernet, with key rotation).

Keys come from WEBAPP_FERNET_KEYS, or else from instance/fernet_keys, newest first: the newest
encrypts, every one still decrypts. A running process notices when the key file changes (say
`flask rotate-keys` put a new key at its top) and reads it again before its next use, so the
site reads what the rotation wrote without a restart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

KEY_FILE = "fernet_keys"


@dataclass
class KeyFile:
    """The key file a process reads its keys from, and what the file was when last read."""

    path: Path
    stamp: tuple[int, int, int] | None = None


def init_app(app: Flask) -> None:
    """Load the keys: WEBAPP_FERNET_KEYS from the environment, else instance/fernet_keys."""
    keys = configured_keys(app)
    if keys:
        app.extensions["fernet_file"] = None
        app.extensions["fernet"] = multi_fernet(split_keys(keys))
        return
    path = key_file_path(app)
    if not path.exists():
        write_keys(path, [Fernet.generate_key().decode()])
    app.extensions["fernet_file"] = KeyFile(path)
    reload_if_changed(app)


def configured_keys(app: Flask) -> str:
    """Return the keys given as settings (WEBAPP_FERNET_KEYS), or "" when none are."""
    return app.config.get("FERNET_KEYS") or os.environ.get("WEBAPP_FERNET_KEYS", "")


def key_file_path(app: Flask) -> Path:
    """Return where the instance's key file is (whether or not it exists)."""
    return Path(app.instance_path) / KEY_FILE


def uses_key_file(app: Flask) -> bool:
    """Tell whether this process takes its keys from instance/fernet_keys."""
    return app.extensions.get("fernet_file") is not None


def split_keys(text: str) -> list[str]:
    """Return the keys in a comma- or line-separated list, newest first."""
    return [key.strip() for key in text.replace(",", "\n").split() if key.strip()]


def multi_fernet(keys: list[str]) -> MultiFernet:
    """Build the encrypter: the first key encrypts, every key decrypts."""
    return MultiFernet([Fernet(key) for key in keys])


def read_keys(path: Path) -> list[str]:
    """Return the keys in a key file, newest first."""
    return split_keys(path.read_text())


def write_keys(path: Path, keys: list[str]) -> None:
    """Replace the key file at once, readable by its owner only, so no reader sees half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write("\n".join(keys) + "\n")
    os.replace(partial, path)


def reload_if_changed(app: Flask) -> None:
    """Read the key file again if it changed since this process last read it."""
    source: KeyFile | None = app.extensions.get("fernet_file")
    if source is None:
        return
    try:
        info = source.path.stat()
    except OSError:
        return  # Gone or unreadable for now: keep the keys already loaded.
    stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
    if stamp != source.stamp:
        app.extensions["fernet"] = multi_fernet(read_keys(source.path))
        source.stamp = stamp


def fernet() -> MultiFernet:
    """Return the current keys, reading the key file again first if it changed."""
    app = current_app._get_current_object()
    reload_if_changed(app)
    return app.extensions["fernet"]


def encrypt(text: str) -> str:
    """Encrypt a secret for storage."""
    return fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a stored secret.

    :raise InvalidToken: if no configured key can read it.
    """
    return fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt a stored secret under the newest key."""
    return fernet().rotate(token.encode()).decode()


__all__ = ["InvalidToken", "decrypt", "encrypt", "init_app", "rotate"]
