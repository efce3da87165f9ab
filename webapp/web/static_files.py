"""Static files under versioned URLs (?v=<content hash>), cached for a year when versioned."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request, session

VERSION_ARG = "v"
# A versioned URL names exactly one content, so any cache may keep it for good.
VERSIONED_CACHE = "public, max-age=31536000, immutable"
# Plain /static paths (the service worker, old pages) and stale versions must pick up changes soon.
UNVERSIONED_MAX_AGE = 300


def init_app(app: Flask) -> None:
    """Add the content hash to every static URL and serve static files with matching lifetimes."""
    app.extensions["static_versions"] = {}
    app.url_defaults(add_version)
    app.after_request(static_not_personal)
    if "static" in app.view_functions:
        app.view_functions["static"] = serve_static


def file_version(app: Flask, filename: str) -> str | None:
    """Return the first 8 hex digits of the file's SHA-256, worked out once per process."""
    versions: dict[str, str | None] = app.extensions["static_versions"]
    if filename not in versions:
        folder = Path(app.static_folder or "").resolve()
        path = (folder / filename).resolve()
        if path.is_file() and path.is_relative_to(folder):
            versions[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
        else:
            versions[filename] = None
    return versions[filename]


def add_version(endpoint: str, values: dict[str, Any]) -> None:
    """url_for('static', filename=...) gains ?v=<hash>, so a changed file gets a new URL."""
    if endpoint != "static" or VERSION_ARG in values or "filename" not in values:
        return
    version = file_version(current_app, values["filename"])
    if version:
        values[VERSION_ARG] = version


def serve_static(filename: str) -> Response:
    """Send a static file: for a year when the URL carries its current version, else briefly."""
    app = current_app
    response = app.send_static_file(filename)
    if request.args.get(VERSION_ARG) and request.args[VERSION_ARG] == file_version(app, filename):
        response.headers["Cache-Control"] = VERSIONED_CACHE
    else:
        response.headers["Cache-Control"] = f"public, max-age={UNVERSIONED_MAX_AGE}"
    if response.status_code == 200 and response.direct_passthrough:
        # Our files are a few kilobytes: read them whole, so they are compressed like any page
        # (Flask-Compress would not gzip a streamed file) with an ETag per encoding.
        file = response.response
        response.direct_passthrough = False
        response.set_data(b"".join(file))
        file.close()
    return response


def static_not_personal(response: Response) -> Response:
    """Keep Vary: Cookie off static files: other hooks read the session, but files never differ.

    A Vary: Cookie would make shared caches keep a copy per visitor, and browsers fetch
    the file again whenever the cookie changes, which undoes the year-long lifetime.
    """
    if request.endpoint == "static" and not session.modified:
        session.accessed = False
    return response
