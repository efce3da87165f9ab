"""Support for the browser tests: Chromium's whereabouts, a live server, and page checks."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 800}
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def require_chromium() -> str:
    """Return Chromium's path; without it, fail on CI and skip elsewhere."""
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = (
        f"Chromium not installed at {CHROMIUM}: install Debian's package "
        "(`make chromium` or `apt-get install chromium`) to run the browser tests"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # as conftest's ON_CI
        pytest.fail(f"{reason}. CI must run them.", pytrace=False)
    pytest.skip(reason)


class LiveServer:
    """Serve a Flask app on a free loopback port from a daemon thread."""

    def __init__(self, app: Flask) -> None:
        """Bind the server now, so its URL is known before it starts."""
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="live-server", daemon=True
        )

    def start(self) -> LiveServer:
        """Start answering requests."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering, close the socket and wait for the thread."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


class RequestLog:
    """Remember every URL a browser context asked for."""

    def __init__(self, origin: str) -> None:
        """Start an empty log for pages served from origin."""
        self.origin = origin
        self.urls: list[str] = []

    def record(self, request) -> None:
        """Playwright "request" listener."""
        self.urls.append(request.url)

    def foreign(self) -> list[str]:
        """Return the requests that went anywhere but the live server."""
        own = urlsplit(self.origin)
        return [
            url
            for url in self.urls
            if not url.startswith(("data:", "about:"))
            and (urlsplit(url).scheme, urlsplit(url).netloc) != (own.scheme, own.netloc)
        ]


def assert_fits(page) -> None:
    """Assert the page has no horizontal scrolling at the current viewport width."""
    width = page.viewport_size["width"]
    sizes = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert sizes["scroll"] <= sizes["inner"], f"{page.url} overflows sideways: {sizes}"
    assert sizes["scroll"] <= width, f"{page.url} is wider than the {width}px screen: {sizes}"


def screenshot(page, name: str) -> None:
    """Save full-page shots at phone width and at 360 px, checking both fit."""
    ARTIFACTS.mkdir(exist_ok=True)
    original = dict(page.viewport_size)
    for size in (PHONE, SMALL_PHONE):
        page.set_viewport_size(size)
        assert_fits(page)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size['width']}.png"), full_page=True)
    page.set_viewport_size(original)
