"""Who may do what: every route × every kind of visitor, from the app's own URL map.

The table below says what each route answers to an anonymous visitor, a post's author,
another signed-in person, the business's verified owner, a manager they let in and an admin.
A new route is not in the table, so the test for it fails until someone decides who may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, base_config, compose_form
from flask import Flask
from helpers import count, page_text

from webapp import create_app
from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.models import (
    Business,
    BusinessManager,
    BusinessReply,
    Kind,
    Moderation,
    Passkey,
    Post,
    User,
)
from webapp.services import (
    accounts,
    api_tokens,
    businesses,
    emails,
    notifications,
    password_reset,
)

ROLES = ("anonymous", "owner", "other", "business_owner", "manager", "admin")
LOGIN = "login"  # a 302 to the login page


def everyone(status: int | str) -> dict[str, int | str]:
    """Expect the same answer for every visitor."""
    return dict.fromkeys(ROLES, status)


def signed_in(status: int | str) -> dict[str, int | str]:
    """Expect anonymous visitors to be sent to log in, and this answer for everyone else."""
    return {**everyone(status), "anonymous": LOGIN}


def only(role: str, status: int | str, others: int | str = 403) -> dict[str, int | str]:
    """Expect a login for anonymous visitors, this answer for one role and another for the rest."""
    return {**signed_in(others), role: status}


ADMIN_ONLY_PAGE = only("admin", 200)
ADMIN_ONLY_ACTION = only("admin", 302)
AUTHOR_ONLY_ACTION = only("owner", 302)
BUSINESS_OWNER_ONLY_ACTION = only("business_owner", 302)
# The owner's managers may do what the owner does on the manage page, but for managing
# managers and giving up the claim.
MANAGERS_ACTION = {**BUSINESS_OWNER_ONLY_ACTION, "manager": 302}
ANONYMOUS_ONLY_PAGE = {**everyone(302), "anonymous": 200}
# The JSON API never reads the session cookie: callers send their personal token instead.
API_WRITE = {**everyone(422), "anonymous": 401}

# "<endpoint> <METHOD>" → what each visitor gets, for a public post and a claimed business.
EXPECTED: dict[str, dict[str, int | str]] = {
    "api.business GET": everyone(200),
    "api.business_posts GET": everyone(200),
    "api.create_post POST": API_WRITE,
    "api.openapi_document GET": everyone(200),
    "api.post GET": everyone(200),
    "api.search_businesses GET": everyone(200),
    "api.user_challenge GET": everyone(200),
    "api.wall GET": everyone(200),
    "auth.login GET": ANONYMOUS_ONLY_PAGE,
    # Anonymous: an empty form is sent back to fix; signed in: on to the next page.
    "auth.login POST": {**everyone(302), "anonymous": 422},
    "auth.logout POST": signed_in(302),
    # A link's token is what lets its holder in, whoever is signed in; an empty form goes back.
    "auth.confirm_email GET": everyone(200),
    "auth.confirm_email POST": everyone(302),
    "auth.forgot_password GET": everyone(200),
    "auth.forgot_password POST": everyone(422),
    "auth.reset_password GET": everyone(200),
    "auth.reset_password POST": everyone(422),
    "auth.register GET": ANONYMOUS_ONLY_PAGE,
    "auth.register POST": {**everyone(302), "anonymous": 422},
    "businesses.embed GET": everyone(200),
    "businesses.index GET": everyone(200),
    "businesses.wall GET": everyone(200),
    "challenge.show GET": everyone(200),
    "challenge.start POST": signed_in(302),
    "feeds.badge GET": everyone(200),
    "feeds.business GET": everyone(200),
    "feeds.challenge_card GET": everyone(200),
    "feeds.person GET": everyone(200),
    "feeds.post_card GET": everyone(200),
    "feeds.wall GET": everyone(200),
    "feeds.wall_card GET": everyone(200),
    "main.healthz GET": everyone(200),
    "main.index GET": everyone(200),
    "main.me GET": signed_in(200),
    "main.ping GET": everyone(200),
    "main.profile GET": everyone(200),
    "main.wall GET": everyone(200),
    # No sign-in was started, so the callback sends everyone back to start one.
    "mastodon.callback GET": everyone(303),
    # Likewise for Bluesky; the client-metadata document is public, the sign-in form too
    # (sent back empty to fix), connecting by app password needs an account.
    "bluesky.callback GET": everyone(303),
    "bluesky.client_metadata GET": everyone(200),
    "bluesky.login GET": everyone(200),
    "bluesky.login POST": everyone(422),
    "bluesky.app_password GET": signed_in(200),
    "bluesky.app_password POST": signed_in(422),
    "bluesky.disconnect POST": signed_in(302),
    "mastodon.disconnect POST": signed_in(302),
    "mastodon.login GET": everyone(200),
    "mastodon.login POST": everyone(422),
    "moderation.audit_log GET": ADMIN_ONLY_PAGE,
    "moderation.hide POST": ADMIN_ONLY_ACTION,
    # The author can't report their own post; anyone else signed in can.
    "moderation.report POST": {**signed_in(302), "owner": 403},
    "moderation.reports GET": ADMIN_ONLY_PAGE,
    "moderation.restore POST": ADMIN_ONLY_ACTION,
    # Anyone signed in may report the business's answer, but the business's own people.
    "moderation.report_reply POST": {**signed_in(302), "business_owner": 403, "manager": 403},
    "moderation.hide_reply POST": ADMIN_ONLY_ACTION,
    "moderation.restore_reply POST": ADMIN_ONLY_ACTION,
    # Claiming needs the business's own Mastodon account, which nobody here is signed in
    # with; tests/test_owners.py covers a claim that works.
    "owners.claim POST": signed_in(403),
    "owners.add_manager POST": BUSINESS_OWNER_ONLY_ACTION,
    # The bakery here has no website: its owner is told so, the rest that it's claimed;
    # tests/test_website_claims.py covers a claim that works.
    "owners.claim_by_website POST": signed_in(403),
    # Nobody here is signed in with Bluesky either; tests/test_bluesky_signin.py claims.
    "owners.claim_on_bluesky POST": signed_in(403),
    "owners.claim_page GET": signed_in(200),
    "owners.feature POST": MANAGERS_ACTION,
    "owners.manage GET": {**only("business_owner", 200), "manager": 200},
    "owners.release POST": BUSINESS_OWNER_ONLY_ACTION,
    # The business answers under a post on its wall: its owner and managers, nobody else.
    "owners.reply_page GET": {**only("business_owner", 200), "manager": 200},
    "owners.reply POST": MANAGERS_ACTION,
    "owners.delete_reply POST": MANAGERS_ACTION,
    "owners.remove_manager POST": BUSINESS_OWNER_ONLY_ACTION,
    "owners.unfeature POST": MANAGERS_ACTION,
    "owners.update POST": MANAGERS_ACTION,
    # Passkeys' JSON steps: signed-in people are told they are in already; anonymous visitors
    # sending nothing get the username asked for, options to sign in, or "no challenge".
    "passkeys.signup_options POST": {**everyone(409), "anonymous": 422},
    "passkeys.signup POST": {**everyone(409), "anonymous": 400},
    "passkeys.login_options POST": {**everyone(409), "anonymous": 200},
    "passkeys.login POST": {**everyone(409), "anonymous": 400},
    "passkeys.add_options POST": signed_in(200),
    "passkeys.add POST": signed_in(400),
    "passkeys.recovery GET": ANONYMOUS_ONLY_PAGE,
    "passkeys.recovery POST": {**everyone(302), "anonymous": 422},
    # Admins moderate, but never rewrite or delete someone's words.
    "posts.delete POST": AUTHOR_ONLY_ACTION,
    "posts.edit GET": only("owner", 200),
    "posts.edit POST": AUTHOR_ONLY_ACTION,
    "posts.new GET": signed_in(200),
    "posts.new POST": signed_in(302),
    "posts.reopen POST": AUTHOR_ONLY_ACTION,
    "posts.resolve POST": AUTHOR_ONLY_ACTION,
    # The author may, but the post has no crosspost to send again.
    "posts.retry_crosspost POST": only("owner", 409),
    "posts.show GET": everyone(200),
    "pwa.csrf_token GET": everyone(200),
    "pwa.manifest GET": everyone(200),
    "pwa.offline GET": everyone(200),
    "pwa.service_worker GET": everyone(200),
    "pwa.share_mastodon GET": everyone(200),
    # Everyone's own settings: a form without the password is sent back to fix.
    "settings.change_email POST": signed_in(422),
    "settings.change_password POST": signed_in(422),
    "settings.create_token POST": signed_in(200),
    "settings.delete_account POST": signed_in(302),
    "settings.export_data GET": signed_in(200),
    "settings.index GET": signed_in(200),
    # Notifications need a confirmed address: only the author has one here.
    "settings.save_notifications POST": only("owner", 302, others=409),
    # The signed link is what lets its holder stop that kind of email, signed in or not: the
    # page asks first, the POST (a mail client's one-click) turns it off.
    "settings.unsubscribe GET": everyone(200),
    "settings.unsubscribe POST": everyone(200),
    "settings.make_recovery_codes POST": signed_in(200),
    # The passkey is the author's; anyone else's finds no passkey of theirs.
    "settings.remove_passkey POST": only("owner", 302, others=404),
    "settings.rename_passkey POST": only("owner", 302, others=404),
    # Only the author has an address waiting to be confirmed.
    "settings.resend_confirmation POST": only("owner", 302, others=409),
    # The token is the author's; anyone else's "revoke" finds no token of theirs.
    "settings.revoke_token POST": only("owner", 302, others=404),
}

# The same routes for a post only its author may see (not on the wall).
EXPECTED_PRIVATE: dict[str, dict[str, int | str]] = {
    "api.post GET": {**everyone(404), "owner": 200, "admin": 200},
    "feeds.post_card GET": everyone(404),
    "moderation.hide POST": ADMIN_ONLY_ACTION,
    "moderation.restore POST": ADMIN_ONLY_ACTION,
    "moderation.report POST": signed_in(404),
    # A post off the wall has no answer from the business to report or moderate.
    "moderation.report_reply POST": signed_in(404),
    "moderation.hide_reply POST": only("admin", 404),
    "moderation.restore_reply POST": only("admin", 404),
    # Only public praise can be featured: the owner is told so, nobody else gets that far.
    "owners.feature POST": {**only("business_owner", 409), "manager": 409},
    "owners.unfeature POST": MANAGERS_ACTION,
    # A post off the wall is no post of the wall's to answer.
    "owners.reply_page GET": {**only("business_owner", 404), "manager": 404},
    "owners.reply POST": {**only("business_owner", 404), "manager": 404},
    "owners.delete_reply POST": {**only("business_owner", 404), "manager": 404},
    # Others can't tell the post exists; an admin can see it, but not change it.
    "posts.delete POST": {**only("owner", 302, others=404), "admin": 403},
    "posts.edit GET": {**only("owner", 200, others=404), "admin": 403},
    "posts.edit POST": {**only("owner", 302, others=404), "admin": 403},
    "posts.reopen POST": {**only("owner", 302, others=404), "admin": 403},
    "posts.resolve POST": {**only("owner", 302, others=404), "admin": 403},
    "posts.retry_crosspost POST": {**only("owner", 409, others=404), "admin": 403},
    "posts.show GET": {**everyone(404), "owner": 200, "admin": 200},
}

USERNAMES = {
    "owner": "alice",
    "other": "bob",
    "business_owner": "bakery",
    "manager": "mo",
    "admin": "root",
}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """List every (endpoint, method, rule) the app answers, HEAD, OPTIONS and static aside."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return sorted(found)


ROUTES = routes(create_app(base_config()))


@dataclass
class World:
    """The people, business and posts every case starts from."""

    users: dict[str, User]
    tokens: dict[str, str]
    token_id: int
    passkey_id: int
    manager_id: int
    business: Business
    post: Post
    complaint: Post


def build_world(app: Flask, *, private: bool) -> World:
    """Create alice's posts about a bakery that its owner claimed, and a token for each person."""
    users = {role: accounts.create_user(name, PASSWORD) for role, name in USERNAMES.items()}
    users["admin"].is_admin = True
    users["owner"].email, users["owner"].new_email = "alice@example.com", "alice@new.example"
    shop = businesses.create_business("Corner Bakery", handle="@support@cornerbakery.example")
    shop.owner = users["business_owner"]
    db.session.flush()
    db.session.add(BusinessManager(business_id=shop.id, user_id=users["manager"].id))
    made = {role: api_tokens.create(user, "Phone") for role, user in users.items()}
    passkey = Passkey(
        user_id=users["owner"].id,
        credential_id="YWxpY2VzLXBob25l",
        public_key=b"key",
        sign_count=0,
        user_handle="YWxpY2U",
        name="Phone",
    )
    db.session.add(passkey)
    fields: dict[str, Any] = {
        "author": users["owner"],
        "business": shop,
        "happened_on": date.today(),
        "channel": "in_person",
        "is_on_wall": not private,
        "body": "They were lovely.",
    }
    post = Post(kind=Kind.PRAISE, **fields)
    complaint = Post(kind=Kind.COMPLAINT, complaint_status="open", **fields)
    db.session.add_all([post, complaint])
    if not private:
        post.wall_reply = BusinessReply(
            business_id=shop.id, author_id=users["business_owner"].id, body="Thank you!"
        )
    db.session.commit()
    return World(
        users=users,
        tokens={role: new.plain for role, new in made.items()},
        token_id=made["owner"].token.id,
        passkey_id=passkey.id,
        manager_id=users["manager"].id,
        business=shop,
        post=post,
        complaint=complaint,
    )


def fill(rule: str, endpoint: str, world: World) -> str:
    """Put real objects into a rule's placeholders."""
    post = world.complaint if endpoint in ("posts.resolve", "posts.reopen") else world.post
    return (
        rule.replace("<int:post_id>", str(post.id))
        .replace("<slug>", world.business.slug)
        .replace("<username>", "alice")
        .replace("<int:token_id>", str(world.token_id))
        .replace("<int:passkey_id>", str(world.passkey_id))
        .replace("<token>", link_token(endpoint, world.users["owner"]))
        .replace("<int:user_id>", str(world.manager_id))
    )


def link_token(endpoint: str, user: User) -> str:
    """Return a genuine token for the author's links: a password reset, or a new address."""
    if endpoint == "auth.confirm_email":
        return emails.serializer().dumps({"u": user.id, "e": user.new_email})
    if endpoint == "settings.unsubscribe":
        return notifications.unsubscribe_token(user, "replies")
    return password_reset.serializer().dumps({"u": user.id, "n": user.reset_counter})


def form_for(endpoint: str, world: World) -> dict[str, str]:
    """Return a form that a permitted visitor would send successfully (empty for most)."""
    if endpoint in ("posts.new", "posts.edit"):
        return compose_form(world.business, to_mastodon=None)
    return {
        "moderation.report": {"reason": "spam"},
        "moderation.report_reply": {"reason": "spam"},
        "settings.create_token": {"name": "Laptop"},
        "settings.delete_account": {"password": PASSWORD},
        "owners.update": {"website": "", "description": "Fresh bread daily."},
        "owners.add_manager": {"username": "alice"},
        "owners.reply": {"body": "Thank you, come again!"},
        "settings.rename_passkey": {"name": "Old phone"},
    }.get(endpoint, {})


def request_as(app: Flask, role: str, world: World, endpoint: str, method: str, path: str):
    """Send the request as the role: a session for pages, a bearer token for the API."""
    client = app.test_client()
    headers = {}
    if role != "anonymous":
        if path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {world.tokens[role]}"
        else:
            login = {"username": USERNAMES[role], "password": PASSWORD}
            assert client.post("/login", data=login).status_code == 302
    if method == "GET":
        return client.get(path, headers=headers)
    if path.startswith("/api/"):
        return client.open(path, method=method, headers=headers, json={})
    return client.open(path, method=method, headers=headers, data=form_for(endpoint, world))


def check(response, expected: int | str, label: str) -> None:
    """Assert the status the table expects; LOGIN means a redirect to the login page."""
    if expected == LOGIN:
        assert response.status_code == 302, f"{label}: {response.status_code}"
        assert response.headers["Location"].startswith("/login"), label
    else:
        assert response.status_code == expected, f"{label}: {response.status_code}"


def run_case(app, endpoint, method, rule, role, table, *, private):
    """Look the route up in the table and check the role's answer."""
    key = f"{endpoint} {method}"
    assert key in table, (
        f"{key} ({rule}) is not in the authorization table in tests/test_authorization.py: "
        "add it, with what each kind of visitor should get"
    )
    world = build_world(app, private=private)
    path = fill(rule, endpoint, world)
    check(request_as(app, role, world, endpoint, method, path), table[key][role], f"{key} {role}")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("endpoint", "method", "rule"), ROUTES)
def test_who_may_use_each_route(app, endpoint, method, rule, role):
    """Each route answers each kind of visitor as the table says."""
    run_case(app, endpoint, method, rule, role, EXPECTED, private=False)


POST_ROUTES = [route for route in ROUTES if "<int:post_id>" in route[2]]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("endpoint", "method", "rule"), POST_ROUTES)
def test_who_may_use_each_route_on_a_private_post(app, endpoint, method, rule, role):
    """Routes about a post treat one off the wall as their author's alone (and admins')."""
    run_case(app, endpoint, method, rule, role, EXPECTED_PRIVATE, private=True)


def test_the_tables_name_only_routes_that_exist():
    """A route that was removed or renamed must leave the tables too."""
    keys = {f"{endpoint} {method}" for endpoint, method, _ in ROUTES}
    assert set(EXPECTED) - keys == set()
    post_keys = {f"{endpoint} {method}" for endpoint, method, _ in POST_ROUTES}
    assert set(EXPECTED_PRIVATE) == post_keys


def test_refusals_change_nothing(app):
    """Everything refused to someone leaves the database as it was."""
    world = build_world(app, private=False)
    before = snapshot()
    for endpoint, method, rule in ROUTES:
        if method != "POST":
            continue
        for role in ROLES:
            if EXPECTED[f"{endpoint} {method}"][role] not in (LOGIN, 401, 403, 404):
                continue
            path = fill(rule, endpoint, world)
            request_as(app, role, world, endpoint, method, path)
    db.session.expire_all()
    assert snapshot() == before


def snapshot() -> dict[str, list]:
    """Return every row of every table, to compare before and after."""
    return {
        table.name: sorted(map(repr, db.session.execute(sa.select(table)).all()))
        for table in db.metadata.sorted_tables
    }


# --- The audit log ---


def test_hiding_and_restoring_are_written_to_the_audit_log(app, client):
    """Each admin decision on a post is logged with who made it and what it was before."""
    world = build_world(app, private=False)
    client.post("/login", data={"username": "root", "password": PASSWORD})
    assert client.post(f"/admin/posts/{world.post.id}/hide").status_code == 302
    assert client.post(f"/admin/posts/{world.post.id}/restore").status_code == 302
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor_name, e.target_type, e.target_id) for e in entries] == [
        ("post.hide", "root", "post", world.post.id),
        ("post.restore", "root", "post", world.post.id),
    ]
    assert entries[0].detail == {"was": Moderation.OK}
    assert entries[1].detail == {"was": Moderation.HIDDEN}
    page = page_text(client.get("/admin/audit"))
    assert "post.hide" in page and "post.restore" in page and "root" in page


def test_refused_admin_actions_are_not_logged(app, client):
    """Someone who isn't an admin gets a 403 and leaves no entry."""
    world = build_world(app, private=False)
    client.post("/login", data={"username": "bob", "password": PASSWORD})
    assert client.post(f"/admin/posts/{world.post.id}/hide").status_code == 403
    assert count(AuditEntry) == 0


def test_the_log_outlives_the_admin(app, client):
    """Deleting the admin's account keeps their entries, under the name they had."""
    world = build_world(app, private=False)
    client.post("/login", data={"username": "root", "password": PASSWORD})
    client.post(f"/admin/posts/{world.post.id}/hide")
    assert client.post("/settings/delete", data={"password": PASSWORD}).status_code == 302
    entry = db.session.scalars(sa.select(AuditEntry)).one()
    assert (entry.actor_id, entry.actor_name) == (None, "root")


def test_create_admin_is_written_to_the_audit_log(app, runner, make_user):
    """`flask create-admin` logs both a new admin and a promotion."""
    make_user("bob")
    assert runner.invoke(args=["create-admin", "bob"]).exit_code == 0
    result = runner.invoke(args=["create-admin", "carol", "--password", PASSWORD])
    assert result.exit_code == 0
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.detail["username"]) for e in entries] == [
        ("admin.create", "bob"),
        ("admin.create", "carol"),
    ]
    assert entries[0].detail["was_admin"] is False and entries[1].detail["created"] is True
    assert all(e.actor_id is None and e.actor_name.startswith("command line") for e in entries)
    assert db.session.scalar(sa.select(User.is_admin).where(User.username == "bob"))
