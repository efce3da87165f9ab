"""Reporting posts, hiding them after enough reports, admins' review, and `flask create-admin`."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, compose_form
from helpers import count, page_text

from webapp.extensions import db
from webapp.models import Moderation, Post, Report, User


def moderation_of(post: Post) -> str:
    """Read a post's moderation state straight from the database."""
    return db.session.scalar(sa.select(Post.moderation).where(Post.id == post.id))


@pytest.fixture
def acting_as(client, auth):
    """Return a switch that logs the one test client in as a user, or out for None.

    One client is shared because the pushed app context keeps Flask-Login's user in `g`
    across requests, so a second client would act as whoever logged in last.
    """
    current: list[str | None] = [None]

    def switch(username: str | None):
        if current[0] != username:
            if current[0] is not None:
                auth.logout()
            if username is not None:
                assert auth.login(username).status_code == 302
            current[0] = username
        return client

    return switch


@pytest.fixture
def people(make_user):
    """Return the cast: alice writes, bob, carol and dave read, root is an admin."""
    return {
        "author": make_user("alice"),
        "other": make_user("bob"),
        "carol": make_user("carol"),
        "dave": make_user("dave"),
        "erin": make_user("erin"),
        "admin": make_user("root", is_admin=True),
    }


@pytest.fixture
def post(people, bakery, make_post):
    """Return alice's public praise."""
    return make_post(people["author"], bakery, body="Best croissant in town, free refill.")


def report(client, post: Post, reason: str = "spam", **extra):
    """Send a report through the real form."""
    return client.post(f"/posts/{post.id}/report", data={"reason": reason, **extra})


WHO = {"anonymous": None, "author": "alice", "other": "bob", "admin": "root"}


@pytest.mark.parametrize("reason", ["spam", "abuse", "personal", "false", "other"])
def test_reporting_a_post_is_recorded_and_thanked(acting_as, people, post, reason):
    """Each listed reason is taken; the reporter is thanked on the post's page."""
    bob = acting_as("bob")
    response = report(bob, post, reason, detail="  Looks like an advert.  ")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/posts/{post.id}"
    thanks = bob.get(response.headers["Location"]).text
    assert "Thanks for reporting. An admin will look at it." in thanks
    row = db.session.execute(sa.select(Report.reporter_id, Report.reason, Report.detail)).one()
    assert tuple(row) == (people["other"].id, reason, "Looks like an advert.")


def test_report_without_detail_stores_none(acting_as, people, post):
    """The detail is optional."""
    assert report(acting_as("bob"), post, "abuse").status_code == 302
    assert db.session.scalar(sa.select(Report.detail)) is None


@pytest.mark.parametrize("reason", ["", "rude", "SPAM", "spam "])
def test_report_with_an_unknown_reason_is_refused(acting_as, people, post, reason):
    """A reason not on the list gets a plain message, a 4xx and no report."""
    response = report(acting_as("bob"), post, reason)
    assert response.status_code == 422
    assert "Choose a reason from the list." in response.text
    assert count(Report) == 0


def test_reporting_twice_is_refused_plainly(acting_as, people, post):
    """One person reports a post once; the second try is told so and not counted."""
    bob = acting_as("bob")
    assert report(bob, post, "spam").status_code == 302
    response = report(bob, post, "abuse")
    assert response.status_code == 409
    assert "You've already reported this post." in page_text(response)
    assert count(Report) == 1


def test_authors_cannot_report_their_own_post(acting_as, people, post):
    """The author is pointed to edit or delete instead."""
    response = report(acting_as("alice"), post)
    assert response.status_code == 403
    assert "You can't report your own post. You can edit or delete it." in page_text(response)
    assert count(Report) == 0


def test_private_posts_cannot_be_reported(acting_as, people, bakery, make_post):
    """A post only its author can see is a 404 to a reporter, as if it weren't there."""
    private = make_post(people["author"], bakery, is_on_wall=False)
    response = report(acting_as("bob"), private)
    assert response.status_code == 404
    assert count(Report) == 0


def test_reporting_a_missing_post_is_404(acting_as, people):
    """An id that names no post is a 404."""
    response = acting_as("bob").post("/posts/999/report", data={"reason": "spam"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("who", "status", "location", "message", "reports"),
    [
        ("anonymous", 302, "/login?next=%2Fposts%2F{id}%2Freport", None, 0),
        ("author", 403, None, "You can't report your own post.", 0),
        ("other", 302, "/posts/{id}", None, 1),
        ("admin", 302, "/posts/{id}", None, 1),
    ],
)
def test_who_may_report(acting_as, people, post, who, status, location, message, reports):
    """Anyone logged in may report someone else's post; anonymous visitors log in first."""
    response = report(acting_as(WHO[who]), post)
    assert response.status_code == status
    if location:
        assert response.headers["Location"] == location.format(id=post.id)
    if message:
        assert message in page_text(response)
    assert count(Report) == reports


@pytest.mark.parametrize("path", ["/wall", "/b/corner-bakery", "/u/alice", "/"])
def test_three_reports_hide_a_post_from_public_pages(acting_as, people, post, path):
    """Two reports leave the post up; the third distinct one takes it off the public pages."""
    report(acting_as("bob"), post, "spam")
    report(acting_as("carol"), post, "false")
    assert post.body in acting_as(None).get(path).text
    report(acting_as("dave"), post, "abuse")
    response = acting_as(None).get(path)
    assert response.status_code == 200
    assert post.body not in response.text
    assert moderation_of(post) == Moderation.PENDING


def test_a_hidden_post_is_404_to_the_public(acting_as, people, post):
    """After three reports, the post's own page is a 404 for others."""
    for name in ("bob", "carol", "dave"):
        report(acting_as(name), post)
    assert acting_as(None).get(f"/posts/{post.id}").status_code == 404
    assert acting_as("bob").get(f"/posts/{post.id}").status_code == 404


def test_repeat_reports_from_one_person_do_not_hide_a_post(acting_as, people, post):
    """The threshold counts people, not clicks."""
    bob = acting_as("bob")
    report(bob, post, "spam")
    report(bob, post, "abuse")
    report(bob, post, "other")
    report(acting_as("carol"), post, "spam")
    assert post.body in acting_as(None).get("/wall").text
    assert moderation_of(post) == Moderation.OK


def test_author_still_sees_a_hidden_post_marked_hidden(acting_as, people, post):
    """On /me, the author keeps the post and learns why nobody else sees it."""
    for name in ("bob", "carol", "dave"):
        report(acting_as(name), post)
    alice = acting_as("alice")
    text = page_text(alice.get("/me"))
    assert post.body in text
    assert "Hidden while reports are reviewed" in text
    page = alice.get(f"/posts/{post.id}")
    assert page.status_code == 200
    assert "Hidden from the walls while reports are reviewed." in page_text(page)


@pytest.mark.parametrize(
    ("who", "status", "location"),
    [
        ("anonymous", 302, "/login?next=%2Fadmin%2Freports"),
        ("author", 403, None),
        ("other", 403, None),
        ("admin", 200, None),
    ],
)
def test_only_admins_see_the_reports_page(acting_as, people, post, who, status, location):
    """/admin/reports is for admins; others get 403 and anonymous visitors log in first."""
    report(acting_as("bob"), post)
    response = acting_as(WHO[who]).get("/admin/reports")
    assert response.status_code == status
    if location:
        assert response.headers["Location"] == location
    assert (post.body in response.text) == (who == "admin")


def test_reports_page_lists_each_post_with_its_reports(acting_as, people, post, bakery, make_post):
    """Admins see the post, how many reported it, why, who, and what they added."""
    quiet = make_post(people["carol"], bakery, body="Nice staff, quick service.")
    report(acting_as("bob"), post, "spam", detail="Reads like an <b>advert</b>")
    report(acting_as("carol"), post, "false")
    report(acting_as("dave"), post, "abuse")
    response = acting_as("root").get("/admin/reports")
    text = page_text(response)
    assert "Hidden, awaiting you 3 reports" in text
    assert post.body in text
    assert "Spam or advertising: “Reads like an <b>advert</b>” — bob" in text
    assert "Not true, or not about this business — carol" in text
    assert "Abusive or hateful — dave" in text
    assert "&lt;b&gt;advert&lt;/b&gt;" in response.text
    assert quiet.body not in text


def test_reports_page_says_when_all_is_quiet(acting_as, people):
    """With no reports, admins see a calm empty state."""
    assert "No reports. All quiet." in acting_as("root").get("/admin/reports").text


def test_admin_hides_a_post_for_good(acting_as, people, post):
    """Hiding takes the post off the walls and tells the author a moderator did it."""
    report(acting_as("bob"), post)
    root = acting_as("root")
    response = root.post(f"/admin/posts/{post.id}/hide")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/reports"
    assert "Hidden from the walls." in page_text(root.get("/admin/reports"))
    assert moderation_of(post) == Moderation.HIDDEN
    assert post.body not in acting_as(None).get("/wall").text
    assert "Hidden by a moderator" in page_text(acting_as("alice").get("/me"))


def test_admin_restores_a_post_hidden_by_reports(acting_as, people, post):
    """Restoring puts the post back, and more reports don't hide it again."""
    for name in ("bob", "carol", "dave"):
        report(acting_as(name), post)
    assert post.body not in acting_as(None).get("/wall").text
    root = acting_as("root")
    response = root.post(f"/admin/posts/{post.id}/restore")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/reports"
    page = page_text(root.get("/admin/reports"))
    assert "Restored to the walls." in page
    assert "Restored 3 reports" in page
    assert post.body in acting_as(None).get("/wall").text
    report(acting_as("root"), post)
    assert moderation_of(post) == Moderation.RESTORED
    assert post.body in acting_as(None).get("/wall").text


@pytest.mark.parametrize("action", ["hide", "restore"])
@pytest.mark.parametrize(
    ("who", "status", "location", "changes"),
    [
        ("anonymous", 302, "/login?next=%2Fadmin%2Fposts%2F{id}%2F{action}", False),
        ("author", 403, None, False),
        ("other", 403, None, False),
        ("admin", 302, "/admin/reports", True),
    ],
)
def test_who_may_hide_and_restore(acting_as, people, post, action, who, status, location, changes):
    """Only admins may hide or restore; everyone else is refused and nothing changes."""
    for name in ("bob", "carol", "dave"):
        report(acting_as(name), post)
    response = acting_as(WHO[who]).post(f"/admin/posts/{post.id}/{action}")
    assert response.status_code == status
    if location:
        assert response.headers["Location"] == location.format(id=post.id, action=action)
    expected = {"hide": Moderation.HIDDEN, "restore": Moderation.RESTORED}[action]
    assert moderation_of(post) == (expected if changes else Moderation.PENDING)


@pytest.mark.parametrize("action", ["hide", "restore"])
def test_hiding_or_restoring_a_missing_post_is_404(acting_as, people, action):
    """An admin acting on an id that names no post gets a 404."""
    assert acting_as("root").post(f"/admin/posts/999/{action}").status_code == 404


def is_admin(username: str) -> bool | None:
    """Read whether a user is an admin (None when there is no such user)."""
    return db.session.scalar(sa.select(User.is_admin).where(User.username == username))


def test_create_admin_promotes_an_existing_user(runner, acting_as, make_user):
    """`flask create-admin NAME` makes an existing account an admin, who can then review reports."""
    make_user("bob")
    assert acting_as("bob").get("/admin/reports").status_code == 403
    result = runner.invoke(args=["create-admin", "Bob"])
    assert result.exit_code == 0, result.output
    assert "bob is now an admin." in result.output
    assert is_admin("bob") is True
    assert acting_as("bob").get("/admin/reports").status_code == 200


def test_create_admin_creates_a_new_account_with_a_password(runner, acting_as):
    """With --password, a new admin account is created and can log in."""
    result = runner.invoke(args=["create-admin", "carol", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Created admin carol." in result.output
    assert is_admin("carol") is True
    assert acting_as("carol").get("/admin/reports").status_code == 200


def test_create_admin_asks_for_a_password_when_none_is_given(runner, acting_as):
    """Without --password, the command prompts twice for it."""
    result = runner.invoke(
        args=["create-admin", "carol"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        env={"ADMIN_PASSWORD": None},
    )
    assert result.exit_code == 0, result.output
    assert "Created admin carol." in result.output
    assert acting_as("carol").get("/admin/reports").status_code == 200


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("carol", "short", "Use at least 10 characters."),
        ("carol", "password123", "too easy to guess"),
        ("carol", "carol-is-the-boss", "Don't put your username in your password."),
        ("no spaces", PASSWORD, "Use 3 to 30 letters, digits or underscores."),
    ],
)
def test_create_admin_refuses_weak_passwords_and_bad_names(runner, name, password, message):
    """A weak password or a malformed name is refused with the reason, and nobody is created."""
    result = runner.invoke(args=["create-admin", name, "--password", password])
    assert result.exit_code != 0
    assert message in result.output
    assert count(User) == 0


def test_an_edited_restored_post_can_be_hidden_again_by_new_reports(acting_as, people, post):
    """An admin restored the words they read: rewritten, the post is in reach of reports again."""
    for name in ("bob", "carol", "dave"):
        report(acting_as(name), post)
    acting_as("root").post(f"/admin/posts/{post.id}/restore")
    assert moderation_of(post) == Moderation.RESTORED

    edited = acting_as("alice").post(
        f"/posts/{post.id}/edit",
        data=compose_form(post.business, body="Now it says something else.", to_mastodon=None),
    )
    assert edited.status_code == 302
    assert moderation_of(post) == Moderation.OK
    assert "Now it says something else." in acting_as(None).get("/wall").text

    # The reports the admin answered don't count again: one new one leaves it up...
    report(acting_as("erin"), post, "abuse")
    assert moderation_of(post) == Moderation.OK
    # ...and those who reported before may report what it says now, once.
    assert report(acting_as("bob"), post, "abuse").status_code == 302
    assert report(acting_as("bob"), post, "abuse").status_code == 409
    report(acting_as("carol"), post, "abuse")
    assert moderation_of(post) == Moderation.PENDING
    assert "Now it says something else." not in acting_as(None).get("/wall").text
    assert "Hidden, awaiting you 4 reports" in page_text(acting_as("root").get("/admin/reports"))


def test_a_restored_post_left_as_it_was_stays_restored(acting_as, people, post):
    """Without an edit the admin's decision stands: new reports are listed but don't hide it."""
    for name in ("bob", "carol", "dave"):
        report(acting_as(name), post)
    acting_as("root").post(f"/admin/posts/{post.id}/restore")
    for name in ("erin", "bob", "carol", "dave"):
        report(acting_as(name), post)
    assert moderation_of(post) == Moderation.RESTORED
    assert post.body in acting_as(None).get("/wall").text
