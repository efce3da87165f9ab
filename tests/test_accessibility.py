"""axe-core in Chromium on every page a person can reach, signed in or not, light and dark."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser_support import ARTIFACTS, PHONE, LiveServer, axe_violations, require_axe
from webapp import crypto
from webapp.extensions import db
from webapp.models import (
    Business,
    Crosspost,
    MastodonAccount,
    MastodonServer,
    Post,
    Report,
    User,
    utcnow,
)
from webapp.services import accounts, api_tokens, challenge, demo

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
# Who looks at which pages: everyone sees every page; owners and admins also their own ones.
ROLES = ("anonymous", "member", "owner", "admin")
ROLE_PREFIXES = {"owner": ("/b/",), "admin": ("/admin/",)}
# Pages saved as pictures in each colour scheme, by the name of the picture.
PICTURED = {"/": "home", "/posts/new": "compose", "/b/<slug>": "business-wall", "/me": "me"}


@dataclass
class Community:
    """What the pages are filled with, and the values that fill in their URLs."""

    slug: str
    post_id: int
    username: str
    token_id: int


@pytest.fixture
def community(live_app: Flask) -> Community:
    """The demo community, plus a member on Mastodon, a business owner, an admin and a report."""
    with live_app.app_context():
        demo.fill(7)
        alice = accounts.create_user("alice", PASSWORD)
        owner = accounts.create_user("bakery_owner", PASSWORD)
        admin = accounts.create_user("root", PASSWORD, is_admin=True)
        shop = db.session.scalars(db.select(Business).order_by(Business.id)).first()
        shop.owner_id = owner.id
        shop.claimed_at = utcnow()
        shop.description = "Coffee roasted on the premises since 2009."
        server = MastodonServer(
            base_url="https://social.example", max_characters=500, url_length=23
        )
        db.session.add(server)
        db.session.flush()
        account = MastodonAccount(
            user=alice,
            server=server,
            remote_id="1",
            acct="alice@social.example",
            access_token=crypto.encrypt("not-a-real-token"),
            scopes="read write",
        )
        db.session.add(account)
        now = utcnow()
        posts = []
        states = [
            ("sent", {"remote_url": "https://social.example/@alice/1", "sent_at": now}),
            ("pending", {}),
            (
                "pending",
                {
                    "attempts": 2,
                    "last_error": "The server was busy.",
                    "next_attempt_at": now + timedelta(minutes=5),
                },
            ),
            ("failed", {"attempts": 1, "last_error": "The server refused the status."}),
            ("needs_login", {"attempts": 1}),
            ("gave_up", {"attempts": 8, "last_error": "The server did not answer."}),
            ("gone", {}),
        ]
        for n, (state, fields) in enumerate(states):
            kind = "complaint" if n % 3 == 2 else "praise"
            post = Post(
                author=alice,
                business=shop,
                kind=kind,
                body=f"Story number {n}: they sorted out my order in minutes.",
                rating=n % 5 + 1 if kind == "praise" else None,
                happened_on=date.today(),
                channel="in_person",
                make_right="An apology." if kind == "complaint" else None,
                complaint_status="open" if kind == "complaint" else None,
                created_at=now - timedelta(hours=n),
            )
            db.session.add(post)
            db.session.flush()
            challenge.record_praise(post)
            db.session.add(
                Crosspost(
                    post=post,
                    account=account,
                    state=state,
                    idempotency_key=str(uuid.uuid4()),
                    post_url=f"http://praisewall.test/posts/{post.id}",
                    **fields,
                )
            )
            posts.append(post)
        posts[0].featured_at, posts[0].featured_by_id = now, shop.id
        sent = posts[0].crosspost
        sent.replied_at = now
        sent.reply_url = "https://beanline.example/@hello/2"
        sent.reply_text = "@alice Thank you, we'll tell the team!"
        sent.mention_resolved = True
        other = db.session.scalars(
            db.select(Post).where(Post.author_id != alice.id).order_by(Post.id)
        ).first()
        db.session.add(Report(post=other, reporter=alice, reason="spam", detail="An ad."))
        made = api_tokens.create(alice, "Phone shortcut")
        db.session.commit()
        assert admin.is_admin and isinstance(owner, User)
        return Community(
            slug=shop.slug, post_id=posts[0].id, username="alice", token_id=made.token.id
        )


def fill_path(rule: str, community: Community) -> str:
    """Put real values into a URL rule's placeholders, failing on one nobody knows."""
    values = {
        "slug": community.slug,
        "post_id": str(community.post_id),
        "username": community.username,
        "token_id": str(community.token_id),
        "filename": "style.css",
    }

    def value(match: re.Match) -> str:
        """Return the value for one placeholder."""
        name = match.group(1)
        assert name in values, f"{rule}: give test_accessibility a real value for <{name}>"
        return values[name]

    return re.sub(r"<(?:[^:>]+:)?(\w+)>", value, rule)


def page_rules(app: Flask) -> list[str]:
    """Return every URL rule answering GET, so a new page is checked without being listed."""
    return sorted(
        {
            rule.rule
            for rule in app.url_map.iter_rules()
            if "GET" in (rule.methods or ()) and rule.endpoint != "static"
        }
    )


class Visitor:
    """One phone-sized context signed in (or not) as one role, collecting axe's findings."""

    def __init__(self, context: BrowserContext, base_url: str, role: str, axe: str) -> None:
        """Open a page for the role and sign in when it has an account."""
        self.context = context
        self.base_url = base_url
        self.role = role
        self.axe = axe
        self.page: Page = context.new_page()
        self.findings: dict[str, list[str]] = {}
        username = {"member": "alice", "owner": "bakery_owner", "admin": "root"}.get(role)
        if username:
            self.page.goto(f"{base_url}/login")
            self.page.get_by_label("Username").fill(username)
            self.page.get_by_label("Password").fill(PASSWORD)
            self.page.get_by_role("button", name="Log in").click()
            expect(self.page.get_by_role("link", name="Me", exact=True)).to_be_visible()

    def renders_html(self, path: str) -> bool:
        """Tell whether the path answers this role with an HTML page of its own."""
        response = self.context.request.get(self.base_url + path, max_redirects=0)
        return response.status == 200 and response.headers.get("content-type", "").startswith(
            "text/html"
        )

    def visit(self, path: str) -> Page:
        """Open a path and check it."""
        self.page.goto(self.base_url + path)
        self.check(path)
        return self.page

    def keep_picture(self, name: str) -> None:
        """Save a full-page picture of the page as it is now, for people to look at."""
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def check(self, label: str) -> None:
        """Run axe on the page as it is now and keep what it finds."""
        self.page.wait_for_load_state("load")
        found = axe_violations(self.page, self.axe)
        if found:
            self.findings[f"{self.role} {label}"] = found


def compose_with_errors(visitor: Visitor) -> None:
    """Submit an empty compose form, so every error shows."""
    page = visitor.visit("/posts/new")
    page.get_by_label("What happened?").fill("")
    page.get_by_role("button", name="Post it").click()
    expect(page.locator(".flash-error")).to_be_visible()
    expect(page.locator(".error").first).to_be_visible()
    visitor.check("/posts/new after a failed submit")


def compose_with_type_ahead(visitor: Visitor) -> None:
    """Open the business type-ahead's list of options."""
    page = visitor.visit("/posts/new?kind=complaint")
    page.get_by_role("combobox", name="Business").press_sequentially("Bean")
    expect(page.get_by_role("option").first).to_be_visible()
    page.get_by_role("combobox", name="Business").press("ArrowDown")
    page.locator("summary", has_text="Add a new business").evaluate("el => el.click()")
    visitor.check("/posts/new with the type-ahead open")


def compose_did_you_mean(visitor: Visitor) -> None:
    """Post about a name that is close to a known business, so "Did you mean" shows."""
    page = visitor.visit("/posts/new")
    page.get_by_role("combobox", name="Business").fill("Beanline")
    page.get_by_label("What happened?").fill("Lovely flat white.")
    page.get_by_role("button", name="Post it").click()
    expect(page.get_by_role("group", name="Did you mean")).to_be_visible()
    visitor.check("/posts/new with suggestions")


def settings_with_token(visitor: Visitor) -> None:
    """Make an API token, so the page shows it this once."""
    page = visitor.visit("/settings")
    page.get_by_label("Name it after where").fill("Shortcut on my phone")
    page.get_by_role("button", name="Make a token").click()
    expect(page.locator("#new-token")).to_be_visible()
    visitor.check("/settings with a new token")


def failed_sign_up(visitor: Visitor) -> None:
    """Sign up with passwords that don't match."""
    page = visitor.visit("/register")
    page.get_by_label("Username").fill("a")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator(".error").first).to_be_visible()
    visitor.check("/register after a failed sign-up")


def failed_log_in(visitor: Visitor) -> None:
    """Log in with the wrong password."""
    page = visitor.visit("/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".flash-error, .error").first).to_be_visible()
    visitor.check("/login after a failed log-in")


def open_paths(*paths: str) -> Callable[[Visitor], None]:
    """Return a step that checks these paths, whatever they answer."""

    def step(visitor: Visitor) -> None:
        """Check each path."""
        for path in paths:
            visitor.visit(path)

    return step


def page_states(community: Community) -> dict[str, list[Callable[[Visitor], None]]]:
    """Return the states pages reach by doing something, by who reaches them."""
    slug = community.slug
    return {
        "anonymous": [
            failed_sign_up,
            failed_log_in,
            open_paths(
                "/posts/999999",
                "/businesses?q=bean",
                "/share/mastodon?server=not+a+server&text=Hello",
            ),
        ],
        "member": [
            compose_with_errors,
            compose_with_type_ahead,
            compose_did_you_mean,
            settings_with_token,
            open_paths(
                f"/b/{slug}?tab=complaints",
                f"/b/{slug}?tab=unanswered",
                f"/b/{slug}/embed?theme=light",
                f"/b/{slug}/embed?theme=dark",
                f"/posts/new?kind=complaint&business={slug}",
                "/share/mastodon?text=Hello",
            ),
        ],
        "owner": [],
        "admin": [],
    }


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe(
    browser: Browser,
    live_app: Flask,
    live_server: LiveServer,
    community: Community,
    scheme: str,
) -> None:
    """axe finds no WCAG 2.2 A/AA violation on any page, for anyone, in either colour scheme."""
    axe = require_axe()
    states = page_states(community)
    checked: set[tuple[str, str]] = set()
    findings: dict[str, list[str]] = {}
    for role in ROLES:
        context = browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, color_scheme=scheme
        )
        context.set_default_timeout(10_000)
        try:
            visitor = Visitor(context, live_server.url, role, axe)
            prefixes = ROLE_PREFIXES.get(role)
            for rule in page_rules(live_app):
                if prefixes and not rule.startswith(prefixes):
                    continue
                path = fill_path(rule, community)
                if visitor.renders_html(path):
                    visitor.visit(path)
                    checked.add((role, rule))
                    if role == "member" and rule in PICTURED:
                        visitor.keep_picture(f"{scheme}-{PICTURED[rule]}")
            for step in states[role]:
                step(visitor)
            findings.update(visitor.findings)
        finally:
            context.close()
    must = {
        ("anonymous", "/"),
        ("anonymous", "/b/<slug>/embed"),
        ("member", "/posts/new"),
        ("member", "/posts/<int:post_id>/edit"),
        ("member", "/me"),
        ("member", "/settings"),
        ("owner", "/b/<slug>/manage"),
        ("admin", "/admin/reports"),
    }
    assert must <= checked, f"pages left unchecked: {sorted(must - checked)}"
    report = "\n".join(
        f"{where}:\n  " + "\n  ".join(lines) for where, lines in sorted(findings.items())
    )
    assert not findings, f"axe found violations in {scheme} mode:\n{report}"
