"""The signed-in person kept between requests, and the compose form kept for them.

A person's row and network accounts are read once and kept (webapp/infra/kept_people.py), and
a fresh compose form is kept whole for them (it shows nothing but their row and accounts), so
posting again and again reads the person no more. These tests show each change to what either
shows, made through the app, by the worker, on a connection of its own or in another process,
showing at once; a cookie that no longer signs the person in getting nothing kept; and the
password hash and network tokens never kept in memory between requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions
from helpers import csrf_token
from test_auth import copy_cookies
from test_fragments import browser, read_counting, seen, write

from webapp.cli import create_admin
from webapp.extensions import db
from webapp.infra import crypto, fragments, kept_people
from webapp.models import BlueskyAccount, Business, MastodonAccount, User
from webapp.networks.bluesky import auth as bluesky_auth
from webapp.services import posts

NEW_PASSWORD = "another long passphrase 7"


@pytest.fixture
def shop(make_business) -> Business:
    """Return Zebra Cycles, a business with no owner."""
    return make_business("Zebra Cycles")


@pytest.fixture
def alice(app, make_user, shop):
    """Return alice's browser, signed in, after she praised Zebra Cycles once."""
    make_user("alice")
    client = browser(app, "alice")
    write(client, shop, body="They fixed my bike while I waited.")
    client.get("/")  # the post's "Posted" message is shown here
    return client


@contextmanager
def recording() -> Iterator[list[str]]:
    """Collect the SQL statements run inside the block."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def on_bluesky(username: str) -> BlueskyAccount:
    """Connect the person to a Bluesky account (an app password; nothing is sent)."""
    account = BlueskyAccount(
        user=db.session.scalar(sa.select(User).where(User.username == username)),
        did=f"did:plc:{username}",
        handle=f"{username}.test",
        pds_url="http://127.0.0.1:1",
        kind="app_password",
        access_token=crypto.encrypt("a secret token"),
        refresh_token=crypto.encrypt("a secret refresh token"),
    )
    db.session.add(account)
    db.session.commit()
    return account


def reads_person(statements: list[str]) -> bool:
    """Tell whether any of the statements reads a person's row (their token with it)."""
    return any(re.search(r'"?user"?\.session_token', statement) for statement in statements)


def kept_form(client) -> str:
    """Read the compose form twice, the second time kept; return it."""
    client.get("/")  # where a message waiting to be shown once is shown
    seen(client, "/posts/new")
    count, words = read_counting(client, "/posts/new")
    assert count == 0
    return words


def test_posting_again_and_again_reads_the_person_once(alice, shop):
    """The compose form comes kept, reading nothing; the post and its page don't read alice."""
    form = kept_form(alice)
    assert "Log a win or a complaint" in form and "Log out" in form
    for n in range(3):
        with recording() as statements:
            post_id = write(alice, shop, body=f"Visit {n}: quick and kind.")
            shown = seen(alice, f"/posts/{post_id}")
            again = seen(alice, "/posts/new")
        assert f"Visit {n}: quick and kind." in shown and "Log out" in shown
        assert "Log a win or a complaint" in again
        assert not reads_person(statements), statements


def test_a_kept_compose_form_gives_each_browser_its_own_token_to_post_with(app, alice, shop):
    """Two browsers of alice's get the kept form, each with its own CSRF token, which posts."""
    laptop = browser(app, "alice")
    seen(laptop, "/posts/new")
    app.config["WTF_CSRF_ENABLED"] = True
    on_phone = alice.get("/posts/new").text
    on_laptop = laptop.get("/posts/new").text
    assert csrf_token(on_phone) != csrf_token(on_laptop)
    form = {
        "csrf_token": csrf_token(on_laptop),
        "kind": "praise",
        "business_id": str(shop.id),
        "body": "Posted from the laptop's kept form.",
        "happened_on": posts.latest_today().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
    }
    assert alice.post("/posts/new", data=form).status_code == 400
    sent = laptop.post("/posts/new", data=form)
    assert sent.status_code == 302
    assert "Posted from the laptop's kept form." in seen(laptop, sent.headers["Location"])


def test_a_form_filled_from_its_address_is_made_for_it(alice, shop):
    """/posts/new?kind=complaint starts a complaint, though the fresh form is kept."""
    seen(alice, "/posts/new")
    page = alice.get("/posts/new?kind=complaint&business=zebra-cycles").text
    assert re.search(r'value="complaint"[^>]*checked|checked[^>]*value="complaint"', page)
    assert "Zebra Cycles" in page
    fresh = alice.get("/posts/new").text
    assert not re.search(r'value="complaint"[^>]*checked|checked[^>]*value="complaint"', fresh)


def test_a_new_day_makes_a_new_form(app, alice, monkeypatch):
    """The form's latest date is today's: once the day moves on, the kept form isn't served."""
    today = posts.latest_today()
    assert f'max="{today.isoformat()}"' in alice.get("/posts/new").text
    later = today.replace(year=today.year + 1)
    monkeypatch.setattr(posts, "latest_today", lambda: later)
    monkeypatch.setitem(app.jinja_env.globals, "latest_today", lambda: later)
    assert f'max="{later.isoformat()}"' in alice.get("/posts/new").text


def test_becoming_an_admin_shows_at_once_on_every_page(app, alice):
    """The "Reports" link comes on the kept form and on settings the moment it's true."""
    assert "Reports" not in seen(alice, "/settings")
    assert "Reports" not in kept_form(alice)
    result = app.test_cli_runner().invoke(create_admin, ["alice"])
    assert result.exit_code == 0, result.output
    for path in ("/posts/new", "/settings"):
        assert "Reports" in seen(alice, path), path


def test_a_new_password_ends_the_kept_person_in_every_other_browser(app, alice):
    """The laptop was kept as alice on every page; once the phone changes the password it is
    signed out everywhere, and the phone, kept too, still changes it again with the new one."""
    laptop = browser(app, "alice")
    for path in ("/settings", "/posts/new"):
        assert "Log out" in seen(laptop, path)
        assert "Log out" in seen(alice, path)
    form = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert alice.post("/settings/password", data=form).status_code == 302

    for path in ("/settings", "/posts/new"):
        assert laptop.get(path).status_code == 302, path
    assert "Log out" in seen(alice, "/posts/new")
    back = {"current": NEW_PASSWORD, "password": PASSWORD, "confirm": PASSWORD}
    assert alice.post("/settings/password", data=back).status_code == 302
    assert AuthActions(app.test_client()).login("alice", PASSWORD).status_code == 302


def test_a_cookie_with_my_id_but_an_old_token_gets_nothing_kept(app, alice):
    """A signed cookie naming alice with a token she no longer has is nobody, kept or not."""
    seen(alice, "/posts/new")
    stale = app.test_client()
    with alice.session_transaction() as session:
        person_id = session["_user_id"].partition(":")[0]
    with stale.session_transaction() as session:
        session["_user_id"] = f"{person_id}:an-old-token"
    assert stale.get("/posts/new").status_code == 302
    assert stale.get("/settings").status_code == 302


def test_a_kept_person_holds_no_password_hash_and_no_token(app, alice):
    """What stays in memory between requests has neither the hash nor a network's tokens."""
    on_bluesky("alice")
    assert "Log out" in seen(alice, "/settings")
    kept = [person for _, person in app.extensions["kept_people"].rows.values()]
    assert {person.username for person in kept} == {"alice"}
    assert all("password_hash" not in vars(person) for person in kept)
    account = vars(kept[-1])["bluesky_account"]
    assert account.handle == "alice.test"
    for secret in kept_people.SECRETS[BlueskyAccount]:
        assert secret not in vars(account), secret


def test_the_worker_s_word_that_mastodon_wants_a_new_sign_in_shows_at_once(app, connected, client):
    """Marked by the worker (an ORM change), the banner shows on the kept form and elsewhere."""
    assert "Reconnect Mastodon" not in seen(client, "/settings")
    form = kept_form(client)
    assert "posted from @alice@" in form and "Reconnect Mastodon" not in form
    account = db.session.scalar(sa.select(MastodonAccount))
    account.needs_login = True
    db.session.commit()
    for path in ("/posts/new", "/settings"):
        assert "Reconnect Mastodon" in seen(client, path), path


def test_a_mastodon_server_s_new_limit_shows_on_the_kept_form(app, connected, client):
    """A server's limits are on its people's compose form: a new one shows at once."""
    assert "/ 500 characters" in kept_form(client)
    server = db.session.scalar(sa.select(MastodonAccount)).server
    server.max_characters = 1000
    db.session.commit()
    assert "/ 1000 characters" in seen(client, "/posts/new")


def test_disconnecting_mastodon_shows_at_once_on_the_kept_form(app, connected, client):
    """Once disconnected, the form offers to connect instead of previewing the status."""
    assert "posted from @alice@" in kept_form(client)
    app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/settings/mastodon/disconnect").status_code == 302
    form = seen(client, "/posts/new")
    assert "posted from @alice@" not in form
    assert "Connect your Mastodon account" in form


def test_bluesky_s_refusal_written_on_its_own_connection_shows_at_once(app, alice):
    """A renewal the server refused marks the account beside the session; the banner shows."""
    account = on_bluesky("alice")
    assert "Reconnect Bluesky" not in seen(alice, "/settings")
    assert "Reconnect Bluesky" not in kept_form(alice)
    assert bluesky_auth.swap(account.id, 0, {"token_version": 2, "needs_login": True})
    for path in ("/posts/new", "/settings"):
        assert "Reconnect Bluesky" in seen(alice, path), path


def test_a_person_kept_in_one_process_is_dropped_by_a_change_in_another(two_processes):
    """Process B keeps alice; her new password, set in process A, signs B's cookie out."""
    first, second, _ = two_processes
    with second.app_context():
        assert kept_people.current().seconds == kept_people.SHARED_SECONDS
        on_second = browser(second, "alice")
        assert "Log out" in seen(on_second, "/settings")
        with recording() as statements:
            assert "Log out" in seen(on_second, "/settings")
        assert not reads_person(statements)
    on_first = first.test_client()
    copy_cookies(on_second, on_first, "session")
    with first.app_context():
        form = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        assert on_first.post("/settings/password", data=form).status_code == 302
    with second.app_context():
        assert on_second.get("/settings").status_code == 302


def test_a_person_the_request_already_holds_is_left_as_it_holds_them(app, alice):
    """A change the request made to the person before asking who is signed in is written,
    not lost under the kept copy."""
    user_id = db.session.scalar(sa.select(User.id).where(User.username == "alice"))
    assert "Log out" in seen(alice, "/settings")
    with app.test_request_context():
        held = db.session.get(User, user_id)
        assert held is not None and held.post_to_mastodon is True
        with db.session.no_autoflush:
            held.post_to_mastodon = False
            assert kept_people.person(user_id) is held
            assert held.post_to_mastodon is False and db.session.is_modified(held)
        db.session.commit()
    stored = db.session.scalar(sa.select(User.post_to_mastodon).where(User.id == user_id))
    assert stored is False


def test_a_person_held_before_a_change_elsewhere_is_not_kept_past_it(app, alice):
    """A request that read alice's row itself, before her other browser set a new password,
    goes on with the row it holds, but keeps no copy of it: the next request reads the new
    token, and the old cookie signs nobody in."""
    user_id = db.session.scalar(sa.select(User.id).where(User.username == "alice"))
    with app.test_request_context():
        db.session.expunge_all()
        held = db.session.get(User, user_id)
        assert held is not None
        old_token = held.session_token
        with app.app_context():
            elsewhere = db.session.get(User, user_id)
            assert elsewhere is not None
            elsewhere.end_sessions()
            db.session.commit()
        assert kept_people.person(user_id) is held
        db.session.rollback()
    db.session.expunge_all()
    with app.test_request_context():
        read_next = kept_people.person(user_id)
        assert read_next is not None and read_next.session_token != old_token
    assert alice.get("/settings").status_code == 302


def test_asking_for_the_form_s_headers_leaves_the_kept_form_whole(alice):
    """A HEAD of /posts/new (whose form lacks what only a GET's carries) isn't kept for GETs."""
    assert alice.head("/posts/new").status_code == 200
    assert "data-fresh" in alice.get("/posts/new").text
    assert "data-fresh" in alice.get("/posts/new").text


def test_a_change_redis_was_not_told_of_makes_this_process_read_afresh(app, alice, monkeypatch):
    """When moving the scopes on fails, this process forgets the people it kept."""
    assert "Log out" in seen(alice, "/settings")
    assert app.extensions.get("kept_people") is not None

    def refuse(self, scopes):
        raise fragments.redis.RedisError("connection refused")

    monkeypatch.setattr(fragments.Fragments, "bump", refuse)
    result = app.test_cli_runner().invoke(create_admin, ["alice"])
    assert result.exit_code == 0, result.output
    assert app.extensions.get("kept_people") is None
    monkeypatch.undo()
    assert "Reports" in seen(alice, "/settings")
