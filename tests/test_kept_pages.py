"""Pages kept whole for a signed-in person: their second look at /wall, /me, /challenge, a wall
or a profile reads nothing it needn't, and every change, theirs or anyone's, shows at once.

The person is recognised by their session cookie alone on a kept page, so these tests also show
that a cookie which no longer signs them in (a new password elsewhere, a deleted account) is
never served one, that a message shown once is not kept, that each browser gets its own CSRF
token, and that a wall's owner and managers always get a page made for them.
"""

from __future__ import annotations

import pytest
from conftest import PASSWORD, AuthActions
from helpers import csrf_token, page_text
from test_auth import copy_cookies
from test_fragments import (
    browser,
    compose,
    read_counting,
    seen,
    write,
)

from webapp.cli import create_admin
from webapp.extensions import db
from webapp.models import Business, utcnow
from webapp.services import owners

NEW_PASSWORD = "another long passphrase 7"
MY_PAGES = ("/wall", "/me", "/challenge", "/b/zebra-cycles", "/u/alice")


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
    client.get("/")  # the post's "Posted" message is shown here, not on the pages below
    return client


@pytest.mark.parametrize("path", MY_PAGES)
def test_a_second_look_reads_nothing_from_the_database(alice, path):
    """The kept page is served without reading the person, or the business or person it names."""
    first = seen(alice, path)
    count, second = read_counting(alice, path)
    assert second == first
    assert "Log out" in second and "They fixed my bike while I waited." in second
    assert count == 0


def test_an_address_that_named_nobody_names_whoever_takes_it_next(app, alice, make_business):
    """/u/bob and /b/bobs-bikes are 404 until bob signs up and his shop is added, then theirs."""
    assert alice.get("/u/bob").status_code == 404
    assert alice.get("/b/bobs-bikes").status_code == 404
    assert make_business("Bobs Bikes").slug == "bobs-bikes"
    AuthActions(app.test_client()).register("bob")
    assert "bob" in seen(alice, "/u/bob")
    assert "Bobs Bikes" in seen(alice, "/b/bobs-bikes")


def test_my_new_post_shows_at_once_on_every_page_i_had_kept(alice, shop):
    """Each kept page of mine is dropped when I post: the post is on every one of them."""
    alice.post("/challenge/start", follow_redirects=True)
    for path in MY_PAGES:
        seen(alice, path)
    assert "2 to go" in seen(alice, "/challenge")
    write(alice, shop, body="Second visit, just as good.")
    alice.get("/")
    for path in MY_PAGES:
        assert "Second visit, just as good." in seen(alice, path), path
    assert "1 to go" in seen(alice, "/challenge")


def test_someone_else_s_post_shows_at_once_on_my_kept_pages(app, alice, shop, make_user):
    """Bob's praise shows on the wall and /wall alice had kept, and his page on hers."""
    for path in ("/wall", "/b/zebra-cycles"):
        seen(alice, path)
    make_user("bob")
    bob = browser(app, "bob")
    seen(alice, "/u/bob")
    write(bob, shop, body="Bob was served quickly too.")
    for path in ("/wall", "/b/zebra-cycles", "/u/bob"):
        assert "Bob was served quickly too." in seen(alice, path), path


def test_a_new_password_ends_the_kept_pages_of_my_other_browsers(app, alice):
    """The laptop's kept pages stop the moment the phone changes the password."""
    laptop = browser(app, "alice")
    for path in ("/me", "/wall"):
        assert "Log out" in seen(laptop, path)
    form = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert alice.post("/settings/password", data=form).status_code == 302

    assert laptop.get("/me").status_code == 302
    assert "Log out" not in seen(laptop, "/wall")
    assert "Log in" in seen(laptop, "/wall")
    assert "Log out" in seen(alice, "/me")


def test_a_deleted_account_s_other_browser_is_served_no_kept_page(app, alice):
    """Once alice deletes her account, the laptop she left signed in shows her nothing."""
    laptop = browser(app, "alice")
    for path in ("/me", "/challenge"):
        seen(laptop, path)
    assert alice.post("/settings/delete", data={"password": PASSWORD}).status_code == 302

    assert laptop.get("/me").status_code == 302
    assert "Log out" not in seen(laptop, "/challenge")
    assert laptop.get("/u/alice").status_code == 404


def test_a_message_is_shown_once_and_its_page_is_not_kept(alice):
    """Taking the challenge again says so on /challenge once; the next look shows the round."""
    seen(alice, "/challenge")
    response = alice.post("/challenge/start", follow_redirects=True)
    assert "Your round is already under way." in page_text(response)
    again = seen(alice, "/challenge")
    assert "Your round is already under way." not in again
    assert "2 to go" in again


def test_each_browser_gets_its_own_csrf_token_that_logs_it_out(app, alice):
    """A kept /wall carries each browser's own token, and only that one logs out (everywhere)."""
    laptop = browser(app, "alice")
    app.config["WTF_CSRF_ENABLED"] = True
    on_phone = alice.get("/wall").text
    on_laptop = laptop.get("/wall").text
    assert "Log out" in page_text(on_laptop)
    assert csrf_token(on_laptop) != csrf_token(on_phone)
    assert laptop.post("/logout", data={"csrf_token": csrf_token(on_phone)}).status_code == 400
    assert laptop.post("/logout", data={"csrf_token": csrf_token(on_laptop)}).status_code == 302
    for browser_left in (laptop, alice):
        assert browser_left.get("/me").status_code == 302
        assert "Log in" in page_text(browser_left.get("/wall").text)


def test_becoming_an_admin_shows_the_reports_link_at_once(app, alice):
    """The layout is part of the kept page: an admin made by the command sees "Reports"."""
    assert "Reports" not in seen(alice, "/wall")
    result = app.test_cli_runner().invoke(create_admin, ["alice"])
    assert result.exit_code == 0, result.output
    assert "Reports" in seen(alice, "/wall")


def test_a_wall_s_owner_and_managers_always_get_a_page_made_for_them(app, alice, shop, make_user):
    """Made a manager, alice's kept wall is dropped and she gets the owner's buttons each time."""
    before = seen(alice, "/b/zebra-cycles")
    assert "Feature this" not in before
    shop.owner = make_user("zebra")
    shop.claimed_at = utcnow()
    shop.claim_proof = owners.MASTODON
    db.session.commit()
    owner = browser(app, "zebra")
    assert owner.post("/b/zebra-cycles/managers", data={"username": "alice"}).status_code == 302

    first_count, first = read_counting(alice, "/b/zebra-cycles")
    second_count, second = read_counting(alice, "/b/zebra-cycles")
    assert "Feature this" in first and "Feature this" in second
    assert second_count == first_count > 1


def test_a_cookie_with_my_id_but_not_my_token_is_never_served_my_kept_page(app, alice):
    """A signed cookie naming alice with a token she no longer has gets no page of hers."""
    for path in ("/me", "/wall"):
        assert "Log out" in seen(alice, path)
    stale = app.test_client()
    with alice.session_transaction() as session:
        person_id = session["_user_id"].partition(":")[0]
    with stale.session_transaction() as session:
        session["_user_id"] = f"{person_id}:an-old-token"

    assert stale.get("/me").status_code == 302
    assert "Log out" not in seen(stale, "/wall")
    assert "Log out" in seen(alice, "/me")


def test_a_page_kept_in_one_process_is_served_by_another_until_it_changes(two_processes):
    """App B serves alice the /me app A kept in Redis, reading nothing, and her edit in app B
    shows in app A at once."""
    first, second, shop_id = two_processes
    with first.app_context():
        on_first = browser(first, "alice")
        post_id = write(on_first, shop_id, body="Kept by the first process.")
        on_first.get("/")
        assert "Kept by the first process." in seen(on_first, "/me")
    on_second = second.test_client()
    copy_cookies(on_first, on_second, "session")

    with second.app_context():
        count, words = read_counting(on_second, "/me")
        assert count == 0 and "Kept by the first process." in words
        response = on_second.post(
            f"/posts/{post_id}/edit", data=compose(shop_id, body="Edited in the second.")
        )
        assert response.status_code == 302
    with first.app_context():
        assert "Edited in the second." in seen(on_first, "/me")
