"""Characters XML 1.0 forbids (control characters, lone surrogates) never break a feed.

They are dropped from everything people send, through every form and the JSON API, and again
from everything the feeds, the badge, the widget, the pages and the cards print, so rows
written before the rule can't break a subscriber's feed either.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

import sqlalchemy as sa
from conftest import compose_form
from helpers import page_text

from webapp.extensions import db
from webapp.models import ApiToken, Business, Post, Report
from webapp.services import api_tokens
from webapp.text import XML_FORBIDDEN

CONTROLS = "\x01\x02\x07\x08\x0b\x0c\x1b\x1f\ufffe"


def well_formed(response) -> ET.Element:
    """Parse a response as XML, which fails on any character XML forbids."""
    assert response.status_code == 200, response.text
    return ET.fromstring(response.data)


def assert_every_surface_parses(client, business: Business, username: str) -> None:
    """The feeds and the badge parse; the pages, the widget and the card hold no such character."""
    well_formed(client.get("/wall/feed.atom"))
    well_formed(client.get(f"/b/{business.slug}/feed.atom"))
    well_formed(client.get(f"/u/{username}/feed.atom"))
    well_formed(client.get(f"/b/{business.slug}/badge.svg"))
    pages = ("/wall", f"/b/{business.slug}", f"/b/{business.slug}/embed", f"/u/{username}")
    for path in pages * 2:  # rendered, then as kept
        page = client.get(path)
        assert page.status_code == 200
        assert not XML_FORBIDDEN.search(page.text), path
    post = db.session.scalars(sa.select(Post).where(Post.business_id == business.id)).first()
    assert not XML_FORBIDDEN.search(client.get(f"/posts/{post.id}").text)
    assert client.get(f"/posts/{post.id}/card.png").status_code == 200


def test_control_characters_posted_through_the_form_are_dropped(
    client, signed_in_alice, make_business
):
    bakery = make_business("Corner Bakery")
    response = client.post(
        "/posts/new",
        data=compose_form(
            bakery,
            body=f"Warm{CONTROLS} bread,\tkind\r\nstaff\x1b[31m",
            to_mastodon=None,
        ),
    )
    assert response.status_code == 302, response.text
    # A new business named with them too.
    response = client.post(
        "/posts/new",
        data=compose_form(
            bakery,
            business_id=None,
            new_business_name="Harbour\x01 Books\x1b",
            new_business_website="harbour\x02books.example",
            body="Found the book I wanted.",
            to_mastodon=None,
        ),
    )
    assert response.status_code == 302, response.text

    body = db.session.scalars(sa.select(Post.body).order_by(Post.id)).first()
    assert body == "Warm bread,\tkind\nstaff[31m"  # tabs and newlines are fine
    harbour = db.session.scalars(sa.select(Business).where(Business.slug == "harbour-books")).one()
    assert harbour.name == "Harbour Books" and harbour.domain == "harbourbooks.example"
    feed = well_formed(client.get("/wall/feed.atom"))
    assert "Warm bread," in ET.tostring(feed, encoding="unicode")
    assert_every_surface_parses(client, bakery, "alice")
    assert_every_surface_parses(client, harbour, "alice")


def test_control_characters_and_lone_surrogates_sent_to_the_api_are_dropped(
    client, make_user, make_business
):
    bakery = make_business("Corner Bakery")
    token = api_tokens.create(make_user("alice"), "Phone shortcut")
    db.session.commit()
    # Written by hand: json.dumps would refuse nothing, but this is what a client may send.
    payload = (
        '{"business": "corner-bakery", "body": "Lovely\\u0001 cake\\ud800\\u001b",'
        ' "content_warning": "food\\u0007"}'
    )
    response = client.post(
        "/api/v1/posts",
        data=payload,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token.plain}"},
    )

    assert response.status_code == 201, response.text
    assert response.json["body"] == "Lovely cake"
    assert_every_surface_parses(client, bakery, "alice")


def test_rows_written_before_the_rule_cannot_break_a_feed(
    client, make_user, make_business, make_post
):
    alice = make_user("alice")
    bakery = make_business("Corner Bakery")
    post = make_post(alice, bakery, body="Fine words")
    # Straight into the database, past every check, as old data would be.
    db.session.execute(sa.update(Post).values(body=f"Old\x01 words{CONTROLS}"))
    db.session.execute(sa.update(Business).values(name="Corner\x02 Bakery\x1b"))
    db.session.commit()
    db.session.expire_all()

    assert_every_surface_parses(client, bakery, "alice")
    entry = well_formed(client.get("/wall/feed.atom")).find("{http://www.w3.org/2005/Atom}entry")
    assert entry.findtext("{http://www.w3.org/2005/Atom}content") == "Old words"
    assert entry.findtext("{http://www.w3.org/2005/Atom}title") == "Praise for Corner Bakery"
    assert "Corner Bakery on Praisewall" in page_text(client.get(f"/b/{bakery.slug}/badge.svg"))
    assert "Old words" in page_text(client.get(f"/posts/{post.id}"))


def test_other_forms_drop_them_too(client, signed_in_alice, make_user, make_business, make_post):
    bakery = make_business("Corner Bakery")
    post = make_post(make_user("bob"), bakery, body="Good bread")
    complaint = make_post(signed_in_alice, bakery, kind="complaint", body="Cold coffee")

    client.post(f"/posts/{post.id}/report", data={"reason": "other", "detail": "Odd\x01 text"})
    client.post("/settings/tokens", data={"name": "Phone\x1b shortcut"})
    client.post(f"/posts/{complaint.id}/resolve", data={"note": "They\x08 fixed it"})

    assert db.session.scalars(sa.select(Report.detail)).one() == "Odd text"
    assert db.session.scalars(sa.select(ApiToken.name)).one() == "Phone shortcut"
    assert db.session.get(Post, complaint.id).resolution_note == "They fixed it"


def test_a_username_with_them_is_refused_with_the_reason(app):
    """Usernames are letters, digits and underscores: the form says so and keeps nothing odd."""
    response = app.test_client().post(
        "/register",
        data={
            "username": "bad\x01name",
            "password": "a long passphrase",
            "confirm": "a long passphrase",
        },
    )
    assert response.status_code == 422
    assert "Use 3 to 30 letters, digits or underscores." in page_text(response)
