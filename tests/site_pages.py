"""Every page of the URL map, filled with a community and seen by each kind of person.

Shared by the page checks: axe in a browser (test_accessibility.py), and the markup checks
through the test client (test_html_valid.py).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import csrf_token
from webapp import demo
from webapp.extensions import db
from webapp.infra import crypto
from webapp.models import (
    Business,
    BusinessManager,
    BusinessReply,
    Crosspost,
    MastodonAccount,
    MastodonServer,
    Post,
    ReplyReport,
    Report,
    User,
    utcnow,
)
from webapp.services import (
    accounts,
    api_tokens,
    challenge,
    emails,
    notifications,
    password_reset,
)

PASSWORD = "correct horse battery"
# Who looks at which pages: everyone sees every page; owners and admins also their own ones.
ROLES = ("anonymous", "member", "owner", "admin")
ROLE_PREFIXES = {"owner": ("/b/",), "admin": ("/admin/",)}
USERNAMES = {"member": "alice", "owner": "bakery_owner", "admin": "root"}


@dataclass
class Community:
    """What the pages are filled with, and the values that fill in their URLs."""

    slug: str
    post_id: int
    username: str
    token_id: int
    reset_token: str
    confirm_token: str
    unsubscribe_token: str
    unclaimed: str  # a wall with a website and no owner, whose claim page shows a code
    answered_id: int  # a complaint the business answered on its wall


def build_community() -> Community:
    """Fill the database: the demo, a member on Mastodon, a business owner, an admin, a report."""
    demo.fill(7)
    alice = accounts.create_user("alice", PASSWORD)
    owner = accounts.create_user("bakery_owner", PASSWORD)
    admin = accounts.create_user("root", PASSWORD, is_admin=True)
    shop = db.session.scalars(db.select(Business).order_by(Business.id)).first()
    shop.owner_id = owner.id
    shop.claimed_at = utcnow()
    shop.description = "Coffee roasted on the premises since 2009."
    db.session.flush()
    db.session.add(BusinessManager(business_id=shop.id, user_id=alice.id))
    unclaimed = db.session.scalars(
        db.select(Business).where(Business.id != shop.id).order_by(Business.id)
    ).first()
    unclaimed.website, unclaimed.domain = "https://unclaimed.example", "unclaimed.example"
    server = MastodonServer(base_url="https://social.example", max_characters=500, url_length=23)
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
    sent = posts[0].crossposts[0]
    sent.replied_at = now
    sent.reply_url = "https://beanline.example/@hello/2"
    sent.reply_text = "@alice Thank you, we'll tell the team!"
    sent.mention_resolved = True
    # The business answered a complaint on its wall, and edited its answer since.
    posts[2].wall_reply = BusinessReply(
        business_id=shop.id,
        author_id=owner.id,
        body="We're sorry: the next coffee is on us.",
        created_at=now,
        edited_at=now,
    )
    posts[2].complaint_status = "replied"
    db.session.add(
        ReplyReport(reply=posts[2].wall_reply, reporter=admin, reason="other", detail="Odd.")
    )
    other = db.session.scalars(
        db.select(Post).where(Post.author_id != alice.id).order_by(Post.id)
    ).first()
    db.session.add(Report(post=other, reporter=alice, reason="spam", detail="An ad."))
    made = api_tokens.create(alice, "Phone shortcut")
    alice.email, alice.new_email = "alice@example.com", "alice@new.example"
    db.session.commit()
    assert admin.is_admin and isinstance(owner, User)
    return Community(
        slug=shop.slug,
        post_id=posts[0].id,
        username="alice",
        token_id=made.token.id,
        reset_token=password_reset.serializer().dumps({"u": alice.id, "n": alice.reset_counter}),
        confirm_token=emails.serializer().dumps({"u": alice.id, "e": alice.new_email}),
        unsubscribe_token=notifications.unsubscribe_token(alice, "nudge"),
        unclaimed=unclaimed.slug,
        answered_id=posts[2].id,
    )


def fill_path(rule: str, community: Community) -> str:
    """Put real values into a URL rule's placeholders, failing on one nobody knows."""
    values = {
        "slug": community.slug,
        "post_id": str(community.post_id),
        "username": community.username,
        "token_id": str(community.token_id),
        "filename": "style.css",
        "token": community.confirm_token
        if rule.startswith("/email/")
        else community.unsubscribe_token
        if rule.startswith("/unsubscribe/")
        else community.reset_token,
    }

    def value(match: re.Match) -> str:
        """Return the value for one placeholder."""
        name = match.group(1)
        assert name in values, f"{rule}: give tests/site_pages.py a real value for <{name}>"
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


def role_rules(app: Flask, role: str) -> list[str]:
    """Return the URL rules a role looks at: all of them, or only its own pages."""
    prefixes = ROLE_PREFIXES.get(role)
    return [rule for rule in page_rules(app) if not prefixes or rule.startswith(prefixes)]


def extra_paths(community: Community) -> dict[str, list[str]]:
    """Return pages in other states, reached by a query string or a missing thing, by role."""
    slug = community.slug
    return {
        "anonymous": [
            "/posts/999999",
            "/businesses?q=bean",
            "/share/mastodon?server=not+a+server&text=Hello",
            "/reset/not-a-link",
            "/email/confirm/not-a-link",
            "/unsubscribe/not-a-link",
        ],
        "member": [
            f"/b/{slug}?tab=complaints",
            f"/b/{slug}?tab=unanswered",
            f"/b/{slug}/embed?theme=light",
            f"/b/{slug}/embed?theme=dark",
            f"/b/{community.unclaimed}/claim",
            f"/posts/new?kind=complaint&business={slug}",
            "/share/mastodon?text=Hello",
        ],
        "owner": [f"/b/{slug}/posts/{community.answered_id}/reply"],
        "admin": [],
    }


# Forms sent wrong (or, for a token, right), so their messages show; sent by role as
# (path, form fields). The CSRF token is added from the form's own page.
FORM_STATES = {
    "anonymous": [
        ("/register", {"username": "a", "password": "short", "confirm": "other"}),
        ("/login", {"username": "alice", "password": "wrong password"}),
        ("/login/mastodon", {"handle": ""}),
        ("/login/bluesky", {"handle": "not a handle!"}),
        ("/reset/<token>", {"password": "short", "confirm": "other"}),
        ("/forgot", {"name": ""}),
        # Last: the link it sends makes the one above stop working.
        ("/forgot", {"name": "alice"}),
    ],
    "member": [
        ("/posts/new", {"body": ""}),
        ("/settings/password", {"current": "wrong", "password": "short", "confirm": "x"}),
        ("/settings/email", {"email": "not an address", "password": "wrong password"}),
        ("/settings/tokens", {"name": "Shortcut on my phone"}),
        ("/settings/bluesky/app-password", {"handle": "me.example.com", "app_password": "x"}),
        ("/settings/delete", {"password": "wrong password"}),
    ],
    "owner": [("/b/<slug>/posts/<post_id>/reply", {"body": ""})],
    "admin": [],
}


def sign_in(client: FlaskClient, role: str) -> None:
    """Log the client in through the form as the role's person (nobody, for anonymous)."""
    username = USERNAMES.get(role)
    if username is None:
        return
    token = csrf_token(client.get("/login").text)
    data = {"username": username, "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", data=data)
    assert response.status_code == 302, f"{username} could not log in"


def is_html(response) -> bool:
    """Tell whether a response is an HTML page."""
    return response.mimetype == "text/html"


def html_pages(app: Flask, community: Community) -> Iterator[tuple[str, str]]:
    """Yield ("role path", HTML) for every HTML page each role reaches, by GET and by forms.

    The app must have CSRF protection on, so the pages carry their tokens as in production.
    """
    for role in ROLES:
        client = app.test_client()
        sign_in(client, role)
        for rule in role_rules(app, role):
            path = fill_path(rule, community)
            response = client.get(path)
            if response.status_code == 200 and is_html(response):
                yield f"{role} {path}", response.text
        for path in extra_paths(community)[role]:
            response = client.get(path)
            assert is_html(response), f"{path} answered {response.status_code}"
            yield f"{role} {path}", response.text
        for path, fields in FORM_STATES[role]:
            path = fill_path(path, community)
            form_page = "/settings" if path.startswith("/settings") else path
            token = csrf_token(client.get(form_page).text)
            response = client.post(path, data={**fields, "csrf_token": token})
            if response.status_code in (301, 302, 303):
                response = client.get(response.headers["Location"])
            assert is_html(response), f"POST {path} answered {response.status_code}"
            yield f"{role} POST {path}", response.text
