"""Businesses answer on their own wall: one public reply under a post, by the owner or a manager.

The reply shows under the post, can be edited (and says so) or deleted; the customer's words
never change. Every reply, edit and deletion goes to the audit log.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions
from helpers import page_text
from test_reply_watch import number
from test_stats_counters import assert_counters_match

from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.models import (
    REPLY_MAX,
    Business,
    BusinessManager,
    BusinessReply,
    Crosspost,
    CrosspostState,
    Kind,
    Post,
    User,
    utcnow,
)
from webapp.services import owners, stats


@pytest.fixture
def claimed_bakery(app, make_user, make_business) -> Business:
    """Corner Bakery, claimed by its owner, with a manager and a customer."""
    owner = make_user("bakery")
    manager = make_user("mo")
    make_user("carol")
    make_user("eve")
    business = make_business("Corner Bakery")
    business.owner = owner
    business.claimed_at = utcnow()
    business.claim_proof = owners.MASTODON
    db.session.add(BusinessManager(business_id=business.id, user_id=manager.id))
    db.session.commit()
    return business


@pytest.fixture
def complaint(make_post, claimed_bakery) -> Post:
    """Carol's open complaint on the bakery's wall."""
    carol = db.session.scalar(sa.select(User).filter_by(username="carol"))
    return make_post(carol, claimed_bakery, kind=Kind.COMPLAINT, body="The bread was stale.")


def browser(app, username: str):
    """Return a browser signed in as this person."""
    client = app.test_client()
    assert AuthActions(client).login(username, PASSWORD).status_code == 302
    return client


def actions() -> list[tuple[str, str]]:
    """Return the audit log's (action, who) entries, oldest first."""
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
    return [(e.action, e.actor_name) for e in entries]


def reply_url(business: Business, post: Post) -> str:
    """Return where the business's reply to the post is written."""
    return f"/b/{business.slug}/posts/{post.id}/reply"


def test_the_owner_replies_and_everyone_sees_it_under_the_post(app, claimed_bakery, complaint):
    """The reply shows on the permalink and the wall as the business's, with the time it took."""
    owner = browser(app, "bakery")
    wall = page_text(owner.get(f"/b/{claimed_bakery.slug}?tab=complaints"))
    assert "Reply as Corner Bakery" in wall
    form = owner.get(reply_url(claimed_bakery, complaint))
    assert form.status_code == 200 and "The bread was stale." in page_text(form)
    response = owner.post(
        reply_url(claimed_bakery, complaint), data={"body": "  Sorry! Come by for a fresh loaf.  "}
    )
    assert response.status_code == 302
    page = page_text(owner.get(response.headers["Location"]))
    assert "Your reply is under the post." in page
    assert "Reply from Corner Bakery after" in page
    assert "Sorry! Come by for a fresh loaf." in page
    visitor = app.test_client()
    for url in (f"/posts/{complaint.id}", f"/b/{claimed_bakery.slug}?tab=complaints"):
        seen = page_text(visitor.get(url))
        assert "Reply from Corner Bakery" in seen and "Sorry! Come by for a fresh loaf." in seen
        assert "The bread was stale." in seen
        assert "Business replied" in seen
    assert actions()[-1] == ("business.reply", "bakery")


def test_a_manager_edits_the_reply_and_it_says_edited(app, claimed_bakery, complaint):
    """A second send changes the one reply, which then shows as edited; both are logged."""
    manager = browser(app, "mo")
    assert (
        manager.post(reply_url(claimed_bakery, complaint), data={"body": "Sorry."}).status_code
        == 302
    )
    page = page_text(manager.get(reply_url(claimed_bakery, complaint)))
    assert "Edit your reply" in page and "edited" not in page
    response = manager.post(
        reply_url(claimed_bakery, complaint), data={"body": "Sorry, fixed now."}
    )
    assert response.status_code == 302
    page = page_text(app.test_client().get(f"/posts/{complaint.id}"))
    assert "Sorry, fixed now." in page and "edited" in page
    assert "Sorry." not in page.replace("Sorry, fixed now.", "")
    assert actions()[-2:] == [("business.reply", "mo"), ("business.reply_edit", "mo")]


def test_the_owner_deletes_the_reply(app, claimed_bakery, complaint):
    """Deleting takes the reply off the post, and the complaint is open again."""
    owner = browser(app, "bakery")
    owner.post(reply_url(claimed_bakery, complaint), data={"body": "Sorry."})
    response = owner.post(reply_url(claimed_bakery, complaint) + "/delete")
    assert response.status_code == 302
    page = page_text(owner.get(response.headers["Location"]))
    assert "Your reply is deleted." in page
    assert "Reply from Corner Bakery" not in page and "Open" in page
    assert "The bread was stale." in page
    assert owner.post(reply_url(claimed_bakery, complaint) + "/delete").status_code == 404
    assert actions()[-1] == ("business.reply_delete", "bakery")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("", "Write your reply."),
        ("\u200b \u200b", "Write your reply."),
        ("x" * (REPLY_MAX + 1), f"Keep your reply under {REPLY_MAX} characters."),
    ],
)
def test_an_empty_or_overlong_reply_is_sent_back_with_the_text_kept(
    app, claimed_bakery, complaint, body, says
):
    """The form comes back with a clear message and what was typed; nothing is published."""
    owner = browser(app, "bakery")
    response = owner.post(reply_url(claimed_bakery, complaint), data={"body": body})
    assert response.status_code == 422
    assert says in page_text(response)
    if body.strip("\u200b "):
        assert body in response.text
    assert "Reply from" not in page_text(app.test_client().get(f"/posts/{complaint.id}"))


def test_nobody_else_may_reply_and_nothing_outside_the_wall_can_be_answered(
    app, claimed_bakery, complaint, make_business, make_post
):
    """Customers get 403, visitors are sent to sign in; other walls' and private posts are 404."""
    eve = browser(app, "eve")
    assert eve.get(reply_url(claimed_bakery, complaint)).status_code == 403
    assert eve.post(reply_url(claimed_bakery, complaint), data={"body": "Hi"}).status_code == 403
    assert "Reply as" not in page_text(eve.get(f"/posts/{complaint.id}"))
    response = app.test_client().post(reply_url(claimed_bakery, complaint), data={"body": "Hi"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    other = make_business("Other Shop")
    elsewhere = make_post(complaint.author, other, body="Elsewhere.")
    private = make_post(complaint.author, claimed_bakery, body="Just for me.", is_on_wall=False)
    owner = browser(app, "bakery")
    for post in (elsewhere, private):
        assert owner.post(reply_url(claimed_bakery, post), data={"body": "Hi"}).status_code == 404
    assert owner.get(f"/b/{claimed_bakery.slug}/posts/999999999999/reply").status_code == 404
    assert "Reply from" not in page_text(app.test_client().get(f"/posts/{complaint.id}"))


def test_replying_is_limited_per_person(make_app, make_user, make_business, make_post):
    """Past the posting allowance a reply is refused with 429."""
    app = make_app(POST_RATE_LIMIT="2 per minute")
    with app.app_context():
        owner = make_user("bakery")
        carol = make_user("carol")
        business = make_business("Corner Bakery")
        business.owner = owner
        db.session.commit()
        ids = [make_post(carol, business, body=f"Lovely {n}.").id for n in range(3)]
        slug = business.slug
    client = browser(app, "bakery")
    for post_id in ids[:2]:
        response = client.post(f"/b/{slug}/posts/{post_id}/reply", data={"body": "Thanks!"})
        assert response.status_code == 302
    response = client.post(f"/b/{slug}/posts/{ids[2]}/reply", data={"body": "Thanks!"})
    assert response.status_code == 429


def test_the_reply_shows_in_the_feeds_the_embed_and_the_api(app, claimed_bakery, make_post):
    """Wherever the post is shown, the business's answer is shown under it, with its delay."""
    carol = db.session.scalar(sa.select(User).filter_by(username="carol"))
    praise = make_post(carol, claimed_bakery, body="Best croissants in town.")
    owner = browser(app, "bakery")
    owner.post(reply_url(claimed_bakery, praise), data={"body": "Thank you, Carol!"})
    visitor = app.test_client()
    for feed in (f"/b/{claimed_bakery.slug}/feed.atom", "/wall/feed.atom", "/u/carol/feed.atom"):
        text = visitor.get(feed).text
        assert "Best croissants in town." in text, feed
        assert "Reply from Corner Bakery after" in text and "Thank you, Carol!" in text, feed
    embed = page_text(visitor.get(f"/b/{claimed_bakery.slug}/embed"))
    assert "Reply from Corner Bakery after" in embed and "Thank you, Carol!" in embed
    shown = visitor.get(f"/api/v1/posts/{praise.id}").get_json()
    assert shown["wall_reply"]["body"] == "Thank you, Carol!"
    assert shown["wall_reply"]["edited_at"] is None
    assert shown["wall_reply"]["seconds_to_reply"] >= 0
    listed = visitor.get(f"/api/v1/businesses/{claimed_bakery.slug}/posts").get_json()
    assert [item["wall_reply"]["body"] for item in listed["items"]] == ["Thank you, Carol!"]
    owner.post(reply_url(claimed_bakery, praise), data={"body": "Thank you so much, Carol!"})
    shown = visitor.get(f"/api/v1/posts/{praise.id}").get_json()
    assert shown["wall_reply"]["edited_at"] is not None
    assert "(edited)" in visitor.get(f"/b/{claimed_bakery.slug}/feed.atom").text


def test_a_post_without_an_answer_on_the_wall_says_so_in_the_api(app, claimed_bakery, complaint):
    """The API's wall_reply is null until the business answers."""
    shown = app.test_client().get(f"/api/v1/posts/{complaint.id}").get_json()
    assert shown["wall_reply"] is None


def test_the_author_sees_a_new_reply_mark_until_they_open_the_post(app, claimed_bakery, complaint):
    """On /me and the post, "New reply" shows once; after opening the post it is gone."""
    owner = browser(app, "bakery")
    owner.post(reply_url(claimed_bakery, complaint), data={"body": "Sorry!"})
    carol = browser(app, "carol")
    assert "New reply" in page_text(carol.get("/me"))
    assert "New reply" not in page_text(owner.get(f"/posts/{complaint.id}"))
    assert "New reply" not in page_text(app.test_client().get(f"/posts/{complaint.id}"))
    assert "New reply" in page_text(carol.get("/me"))
    first = page_text(carol.get(f"/posts/{complaint.id}"))
    assert "New reply" in first and "Sorry!" in first
    assert "New reply" not in page_text(carol.get(f"/posts/{complaint.id}"))
    assert "New reply" not in page_text(carol.get("/me"))
    # An edited answer is new again.
    owner.post(reply_url(claimed_bakery, complaint), data={"body": "Sorry, it's fixed."})
    assert "New reply" in page_text(carol.get("/me"))


def mention(post: Post, **fields) -> Crosspost:
    """Give the post a public status that named the business, sent when the post was written."""
    sent = Crosspost(
        post=post,
        idempotency_key=f"key-{post.id}",
        post_url=f"https://praisewall.example/posts/{post.id}",
        state=CrosspostState.SENT,
        visibility="public",
        sent_at=post.created_at,
        mention_resolved=True,
        remote_url=f"https://social.example/@carol/{post.id}",
        **fields,
    )
    db.session.add(sent)
    db.session.commit()
    return sent


def test_numbers_count_the_first_answer_from_either_source(app, claimed_bakery, make_post):
    """Reply rate and median reply time count each post's first answer, wall or Mastodon; the
    wall says how many answers came from each, and answered praise leaves "Unanswered"."""
    carol = db.session.scalar(sa.select(User).filter_by(username="carol"))
    two_hours_ago = utcnow() - timedelta(hours=2)
    named = make_post(carol, claimed_bakery, body="Named on Mastodon.", created_at=two_hours_ago)
    status = mention(named)
    quiet = make_post(carol, claimed_bakery, body="Only here.", created_at=two_hours_ago)
    visitor = app.test_client()
    wall = f"/b/{claimed_bakery.slug}"
    assert number(visitor.get(wall).text, "Replies") == "0%"
    assert "Named on Mastodon." in page_text(visitor.get(f"{wall}?tab=unanswered"))

    owner = browser(app, "bakery")
    owner.post(reply_url(claimed_bakery, named), data={"body": "Thanks!"})
    page = visitor.get(wall).text
    assert number(page, "Replies") == "100%"
    assert "Answers: 1 on the wall" in page_text(visitor.get(wall))
    assert "Named on Mastodon." not in page_text(visitor.get(f"{wall}?tab=unanswered"))
    assert_counters_match()

    owner.post(reply_url(claimed_bakery, quiet), data={"body": "Thank you too!"})
    status.replied_at = utcnow() + timedelta(hours=1)  # later than the wall's answer
    db.session.commit()
    assert_counters_match()
    numbers = stats.business_numbers(db.session.get(Business, claimed_bakery.id))
    assert (numbers.askable, numbers.answered) == (2, 2)
    assert numbers.answers_by_source == [("on the wall", 2), ("on Mastodon", 1)]
    assert abs(numbers.median_reply - timedelta(hours=2)) < timedelta(minutes=5)
    assert "Answers: 2 on the wall · 1 on Mastodon" in page_text(visitor.get(wall))

    owner.post(reply_url(claimed_bakery, quiet) + "/delete")
    assert_counters_match()
    numbers = stats.business_numbers(db.session.get(Business, claimed_bakery.id))
    assert (numbers.askable, numbers.answered, numbers.wall_replied) == (1, 1, 1)


def test_a_reply_is_reported_like_a_post_and_admins_hide_or_restore_it(
    app, claimed_bakery, complaint, make_user
):
    """Three reports hide the answer until an admin decides; hide and restore are logged, and
    the business's own people can't report it. The customer's post stays as it was."""
    for name in ("dan", "fay", "gil"):
        make_user(name)
    make_user("root", is_admin=True)
    browser(app, "bakery").post(reply_url(claimed_bakery, complaint), data={"body": "Go away."})
    report = f"/posts/{complaint.id}/reply/report"
    assert "Report the business's reply" in page_text(
        browser(app, "eve").get(f"/posts/{complaint.id}")
    )
    refused = browser(app, "mo").post(report, data={"reason": "abuse"})
    assert refused.status_code == 403
    assert "You can't report your business's own reply." in page_text(refused)
    for name in ("dan", "fay", "gil"):
        response = browser(app, name).post(report, data={"reason": "abuse", "detail": "Rude."})
        assert response.status_code == 302
        if name == "dan":
            again = browser(app, "dan").post(report, data={"reason": "abuse"})
            assert again.status_code == 409
    visitor = app.test_client()
    page = page_text(visitor.get(f"/posts/{complaint.id}"))
    assert "Go away." not in page and "The bread was stale." in page

    admin = browser(app, "root")
    queue = page_text(admin.get("/admin/reports"))
    assert "Replies from businesses" in queue and "Go away." in queue and "Rude." in queue
    assert admin.post(f"/admin/posts/{complaint.id}/reply/restore").status_code == 302
    assert "Go away." in page_text(visitor.get(f"/posts/{complaint.id}"))
    assert admin.post(f"/admin/posts/{complaint.id}/reply/hide").status_code == 302
    page = page_text(visitor.get(f"/b/{claimed_bakery.slug}?tab=complaints"))
    assert "Go away." not in page and "The bread was stale." in page
    assert actions()[-2:] == [("reply.restore", "root"), ("reply.hide", "root")]
    assert_counters_match()
    numbers = stats.business_numbers(db.session.get(Business, claimed_bakery.id))
    assert numbers.wall_replied == 0


def test_the_answer_goes_with_the_post_and_outlives_whoever_wrote_it(
    app, claimed_bakery, complaint, make_post
):
    """Deleting the post deletes its answer; the writer leaving keeps the business's answer."""
    carol = complaint.author
    praise = make_post(carol, claimed_bakery, body="Lovely bread.")
    owner = browser(app, "bakery")
    owner.post(reply_url(claimed_bakery, complaint), data={"body": "Sorry!"})
    manager = browser(app, "mo")
    manager.post(reply_url(claimed_bakery, praise), data={"body": "Thanks!"})
    assert browser(app, "carol").post(f"/posts/{complaint.id}/delete").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BusinessReply)) == 1
    assert_counters_match()
    response = manager.post("/settings/delete", data={"password": PASSWORD})
    assert response.status_code == 302
    page = page_text(app.test_client().get(f"/posts/{praise.id}"))
    assert "Reply from Corner Bakery" in page and "Thanks!" in page
