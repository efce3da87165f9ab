"""Publishing through one service: the business a post is about, the draft, and the demo data."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions
from helpers import count

from webapp import demo
from webapp.extensions import db
from webapp.models import Business, ChallengeRound, Kind, Post, User
from webapp.services import api_tokens, businesses, challenge, posts
from webapp.services.businesses import BusinessChoice, NewBusiness, Outcome

# Resolving the business


@pytest.fixture
def bakery(make_business) -> Business:
    """Corner Bakery, with a website, already here."""
    return make_business("Corner Bakery", website="cornerbakery.example")


@pytest.mark.parametrize(
    ("choice", "outcome", "message"),
    [
        (BusinessChoice(typed_name="corner bakery"), Outcome.EXISTING, ""),
        (BusinessChoice(typed_name="Corner"), Outcome.SUGGESTIONS, "Pick one of these"),
        (BusinessChoice(typed_name="Harbour Books"), Outcome.UNKNOWN, "We don't know that"),
        (BusinessChoice(), Outcome.MISSING, "Which business was it?"),
        (BusinessChoice(picked_id="99999"), Outcome.NOT_FOUND, "We couldn't find that"),
        (BusinessChoice(kept_id="not a number"), Outcome.NOT_FOUND, "We couldn't find that"),
        (BusinessChoice(new=NewBusiness("Harbour Books")), Outcome.NEW, ""),
        (BusinessChoice(new=NewBusiness("Corner Bakery!")), Outcome.DUPLICATE, "already here"),
        (
            BusinessChoice(new=NewBusiness("The Bakery", website="www.cornerbakery.example")),
            Outcome.DUPLICATE,
            "“Corner Bakery” is already here, so we picked it for you.",
        ),
        (BusinessChoice(new=NewBusiness("!!!")), Outcome.BAD_NAME, "with letters in it"),
        (BusinessChoice(new=NewBusiness("word " * 30)), Outcome.BAD_NAME, "too long"),
    ],
)
def test_resolving_a_business_choice(app, bakery, choice, outcome, message):
    """Each way of naming a business settles on one outcome, with the words the form shows."""
    resolved = businesses.resolve(choice)
    assert resolved.outcome == outcome
    assert message in resolved.message
    assert (resolved.settled is not None) == (outcome in (Outcome.EXISTING, Outcome.NEW))


def test_a_picked_business_wins_and_a_kept_one_yields_to_a_new_name(app, bakery, make_business):
    """A "did you mean" pick stands whatever is typed; a kept id only while the name fits."""
    books = make_business("Harbour Books")
    picked = businesses.resolve(BusinessChoice(picked_id=str(bakery.id), typed_name="Harbour"))
    assert picked.settled == bakery
    kept = businesses.resolve(BusinessChoice(kept_id=str(bakery.id), typed_name="harbour books"))
    assert kept.settled == books
    assert businesses.resolve(BusinessChoice(kept_id=str(bakery.id))).settled == bakery


def test_suggestions_are_the_likely_businesses(app, bakery, make_business):
    """A name that matches none exactly is answered with the businesses it could mean."""
    make_business("Corner Shop")
    resolved = businesses.resolve(BusinessChoice(typed_name="Corner"))
    assert [b.name for b in resolved.suggestions] == ["Corner Shop", "Corner Bakery"]
    assert resolved.settled is None


# Publishing


def draft(business, **fields) -> posts.Draft:
    """Return a praise draft about a business, with fields overridden."""
    values = {"kind": Kind.PRAISE, "body": "Warm bread at seven.", "happened_on": date.today()}
    return posts.Draft(business=business, **{**values, **fields})


def test_publish_flushes_and_leaves_the_commit_to_the_caller(app, make_user, bakery):
    """The post, a new business and its challenge round exist until the caller rolls back."""
    alice = make_user("alice")
    published = posts.publish(alice, draft(NewBusiness("Harbour Books")), "key-1")
    assert published.is_new and published.post.id is not None
    assert published.post.submission_key == "key-1" and published.crossposts == ()
    assert count(Post) == 1 and count(ChallengeRound) == 1
    db.session.rollback()
    assert count(Post) == 0 and count(ChallengeRound) == 0
    assert count(Business) == 1


def test_publishing_the_same_submission_twice_gives_the_first_post(app, make_user, bakery):
    """The second publish with a key returns the first post, marked as not new."""
    alice = make_user("alice")
    first = posts.publish(alice, draft(bakery), "same-key")
    db.session.commit()
    again = posts.publish(alice, draft(bakery, body="Different words"), "same-key")
    assert again.post == first.post and not again.is_new
    assert count(Post) == 1


def test_a_follow_up_links_only_the_authors_own_resolved_complaint(app, make_user, bakery):
    """`fixes` names a complaint; publish links it only when the rule allows."""
    alice, bob = make_user("alice"), make_user("bob")
    complaint = posts.publish(alice, draft(bakery, kind=Kind.COMPLAINT)).post
    assert posts.publish(alice, draft(bakery, fixes=complaint.id)).post.fixes is None
    posts.resolve_complaint(complaint, None)
    assert posts.publish(bob, draft(bakery, fixes=complaint.id)).post.fixes is None
    assert posts.publish(alice, draft(bakery, fixes=complaint.id)).post.fixes == complaint


def test_the_form_and_the_api_write_the_same_post(client, make_user, bakery):
    """The same story sent through the compose form and through the API is the same post."""
    alice = make_user("alice")
    token = api_tokens.create(alice, "Phone").plain
    db.session.commit()
    AuthActions(client).login("alice", PASSWORD)
    form = client.post(
        "/posts/new",
        data={
            "kind": "complaint",
            "business": "Corner Bakery",
            "body": "Cold coffee, twice.",
            "make_right": "A fresh cup.",
            "rating": "2",
            "happened_on": "2026-01-05",
            "channel": "phone",
            "shows_name": "y",
        },
    )
    assert form.status_code == 302
    api = client.post(
        "/api/v1/posts",
        json={
            "kind": "complaint",
            "business_name": "Corner Bakery",
            "body": "Cold coffee, twice.",
            "make_right": "A fresh cup.",
            "rating": 2,
            "happened_on": "2026-01-05",
            "channel": "phone",
            "on_wall": False,
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 201, api.text
    by_form, by_api = db.session.scalars(sa.select(Post).order_by(Post.id)).all()
    columns = [c.key for c in Post.__table__.columns if c.key not in ("id", "created_at")]
    assert {c: getattr(by_form, c) for c in columns} == {c: getattr(by_api, c) for c in columns}


# Demo data


def test_demo_rounds_are_what_the_challenge_page_shows(app, client):
    """Every demo person's /challenge shows the progress the challenge rule counts."""
    demo.fill(11)
    people = db.session.scalars(sa.select(User).order_by(User.id)).all()
    for person in people:
        person.set_password(PASSWORD)
    db.session.commit()
    for person in people:
        for round_ in db.session.scalars(
            sa.select(ChallengeRound).where(ChallengeRound.user_id == person.id)
        ):
            counted = challenge.progress(round_)
            assert counted.is_complete == (len(counted.posts) >= round_.goal)
            if counted.is_complete:
                assert round_.completed_at == counted.posts[round_.goal - 1].created_at
        latest = challenge.latest_progress(person)
        if latest is None:
            continue
        auth = AuthActions(client)
        auth.login(person.username)
        assert f'aria-label="{latest.count} of 3"' in client.get("/challenge").text
        auth.logout()
