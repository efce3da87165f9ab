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


# What a thumb can hit: every control but inline text links should be at least this tall.
TAP = 44
TAP_TARGETS = (
    "main button, main .button, main summary, main select, main textarea, main .pill, "
    "main .field.check, main .option, main [role=option], .top a, .bottom .button, .bottom nav a, "
    "main input:not([type=hidden]):not([type=checkbox]):not([type=radio])"
)


class Phone:
    """One phone-sized browser context on Praisewall, noting its requests and console errors."""

    def __init__(self, context, base_url: str) -> None:
        """Open a page in the context and start listening to it."""
        self.context = context
        self.base_url = base_url
        self.requests = RequestLog(base_url)
        self.errors: list[tuple[str, str]] = []  # (where from, what)
        context.on("request", self.requests.record)
        self.page = context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append((self.page.url, str(error))))
        self.page.on("console", self.record_console)

    def record_console(self, message) -> None:
        """Keep console errors, with the URL they came from."""
        if message.type == "error":
            self.errors.append((message.location.get("url") or self.page.url, message.text))

    def visit(self, path: str):
        """Open a path on Praisewall and check the page suits a phone."""
        response = self.page.goto(self.base_url + path)
        status = response.status if response else None
        assert response is not None and response.ok, f"{path} answered {status}"
        self.check_page()
        return self.page

    def check_page(self) -> None:
        """Check the current page fits the screen and every control is big enough to tap."""
        assert_fits(self.page)
        small = self.page.evaluate(
            """([selector, tap]) => Array.from(document.querySelectorAll(selector))
                .filter((el) => el.getClientRects().length)
                .map((el) => [el, el.getBoundingClientRect()])
                .filter(([el, box]) => box.height < tap - 0.5)
                .map(([el, box]) => `${el.outerHTML.slice(0, 80)} is ${box.height}px tall`)""",
            [TAP_TARGETS, TAP],
        )
        assert small == [], f"{self.page.url} has tap targets under {TAP}px: {small}"

    def check_clean(
        self, *, allowed: tuple[str, ...] = (), expected_errors: tuple[str, ...] = ()
    ) -> None:
        """Assert requests went only to Praisewall (or allowed origins) and no page had errors."""
        assert self.requests.urls, "the browser made no requests at all"
        foreign = [url for url in self.requests.foreign() if not url.startswith(allowed)]
        assert foreign == [], "a page reached beyond Praisewall"
        # Errors from another origin (the user's own Mastodon server, say) are not ours.
        errors = [
            f"{where}: {what}"
            for where, what in self.errors
            if not where.startswith(allowed) and not any(text in what for text in expected_errors)
        ]
        assert errors == [], "the pages logged errors"


AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
# What axe checks: WCAG 2.0, 2.1 and 2.2 at levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


def require_axe() -> str:
    """Return axe-core's source; without it, fail on CI and skip elsewhere."""
    if AXE.is_file():
        return AXE.read_text(encoding="utf-8")
    reason = (
        f"axe-core not installed at {AXE}: run `make .venv/.test-deps` "
        "(or `npm ci --prefix tests`) to run the accessibility tests"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # as conftest's ON_CI
        pytest.fail(f"{reason}. CI must run them.", pytrace=False)
    pytest.skip(reason)


def axe_violations(page, source: str) -> list[str]:
    """Run axe on the page as it is now; return one line per failing element."""
    # Evaluated rather than added as a <script>, which the pages' CSP would refuse.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(source)
    found = page.evaluate(
        """async (tags) => {
            const result = await window.axe.run(document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
            });
            return result.violations.flatMap((rule) => rule.nodes.map((node) =>
                `${rule.id} (${rule.impact}) at ${node.target.join(" ")}: ${rule.help}`
                + ` | ${node.failureSummary.replace(/\\s+/g, " ")}`));
        }""",
        AXE_TAGS,
    )
    return list(found)
