"""Small helpers for tests."""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser

import sqlalchemy as sa

from webapp.extensions import db


def utc(*args: int) -> datetime:
    """Build an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def count(model: type) -> int:
    """Count the rows of a model."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def count_queries(client, path: str) -> int:
    """Return how many SQL statements one request for path ran."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return len(statements)


def templates_compiled(app, monkeypatch) -> list[str]:
    """Return a list that fills with the name of every template the app compiles from now on."""
    compiled: list[str] = []
    compile_now = app.jinja_env.compile

    def compile_and_note(source, name=None, *args, **kwargs):
        compiled.append(name)
        return compile_now(source, name, *args, **kwargs)

    monkeypatch.setattr(app.jinja_env, "compile", compile_and_note)
    return compiled


def csrf_token(html: str) -> str:
    """Pull the CSRF token out of a rendered form."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def page_text(page) -> str:
    """Return the words a person reads on a page or in HTML: tags dropped, spaces collapsed."""
    markup = page if isinstance(page, str) else page.text
    without_tags = re.sub(r"<[^>]+>", " ", markup)
    return " ".join(html.unescape(without_tags).split())


class _Links(HTMLParser):
    """Collect each link's visible name and address."""

    def __init__(self) -> None:
        """Start with no links."""
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open a link."""
        if tag == "a":
            self._open.append((dict(attrs).get("href") or "", []))

    def handle_data(self, data: str) -> None:
        """Add text to the links being read."""
        for _, words in self._open:
            words.append(data)

    def handle_endtag(self, tag: str) -> None:
        """Close a link, keeping its name with spaces collapsed."""
        if tag == "a" and self._open:
            href, words = self._open.pop()
            self.links.append((" ".join("".join(words).split()), href))


def link_named(page, name: str) -> str:
    """Return the address of the one link a person reads as `name` on a page, failing otherwise."""
    parser = _Links()
    parser.feed(page if isinstance(page, str) else page.text)
    found = [href for text, href in parser.links if text == name]
    assert len(found) == 1, f"expected one link named {name!r}, found {len(found)}"
    return found[0]


def clean_env() -> dict[str, str]:
    """Return this environment without the app's settings, for a `flask` command a test starts."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WEBAPP_", "FLASK_")) and key not in ("DATABASE_URL", "REDIS_URL")
    }


def stop(process: subprocess.Popen, seconds: float) -> bool:
    """Stop a process as Ctrl-C would; kill it if it hangs, and tell whether it had to be."""
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True
    return False
