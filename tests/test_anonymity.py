"""With "Show my name" off, nothing public leads to the author: not the pages, feeds, widget,
API, cards or Open Graph, not the link to their status on Mastodon, not the business's reply
(which answers, and usually names, them), and not their public challenge progress.
"""

from __future__ import annotations

from datetime import timedelta

from conftest import BAKERY_ACCT, send
from helpers import page_text

from webapp import tasks
from webapp.extensions import db

ANONYMOUS_WORDS = "Kind staff found my lost scarf"


def public_paths(bakery_on_fake, post_id: int) -> list[str]:
    """Every public place the anonymous post, or something about its author, could show."""
    return [
        "/",
        "/wall",
        f"/b/{bakery_on_fake.slug}",
        f"/b/{bakery_on_fake.slug}?tab=unanswered",
        f"/b/{bakery_on_fake.slug}/embed",
        f"/b/{bakery_on_fake.slug}/badge.svg",
        "/wall/feed.atom",
        f"/b/{bakery_on_fake.slug}/feed.atom",
        f"/posts/{post_id}",
        "/api/v1/wall",
        f"/api/v1/posts/{post_id}",
        f"/api/v1/businesses/{bakery_on_fake.slug}/posts",
    ]


def test_an_anonymous_crossposted_praise_names_nobody_anywhere(
    app, client, connected, fake_mastodon, bakery_on_fake
):
    row = send(client, bakery_on_fake, body=ANONYMOUS_WORDS, shows_name=None)
    visitor = app.test_client()

    unanswered = visitor.get(f"/b/{bakery_on_fake.slug}?tab=unanswered").text
    assert ANONYMOUS_WORDS not in unanswered and row.remote_url not in unanswered
    assert "Reply on Mastodon" not in unanswered

    reply = fake_mastodon.reply(
        row.remote_id,
        BAKERY_ACCT,
        "@alice Thank you, Alice! See you Saturday.",
        at=row.sent_at + timedelta(hours=2),
    )
    tasks.check_reply.call_local(row.id)
    db.session.expire_all()
    assert row.replied_at is not None

    for path in public_paths(bakery_on_fake, row.post_id):
        response = visitor.get(path)
        assert response.status_code == 200, path
        text = response.get_data(as_text=True)
        assert "alice" not in text.lower(), path
        assert row.remote_url not in text and reply["url"] not in text, path
    # The wall and the permalink still say the business answered, and when.
    assert "Corner Bakery replied on Mastodon after 2 h" in page_text(
        visitor.get(f"/b/{bakery_on_fake.slug}")
    )
    assert "Corner Bakery replied after 2 h" in page_text(visitor.get(f"/posts/{row.post_id}"))
    assert visitor.get(f"/api/v1/posts/{row.post_id}").json["business_reply"]["url"] is None
    assert visitor.get("/u/alice/feed.atom").status_code == 200
    assert ANONYMOUS_WORDS not in visitor.get("/u/alice/feed.atom").text
    assert ANONYMOUS_WORDS not in visitor.get("/u/alice").text
    # Alice herself still sees the reply in full.
    mine = page_text(client.get(f"/posts/{row.post_id}"))
    assert "Thank you, Alice! See you Saturday." in mine


def test_anonymous_praise_never_moves_the_public_challenge_card(
    app, client, connected, fake_mastodon, bakery_on_fake, make_user, make_post
):
    visitor = app.test_client()
    before = visitor.get("/u/alice/challenge.png").data

    for n in range(3):
        send(client, bakery_on_fake, body=f"{ANONYMOUS_WORDS}, visit {n}", shows_name=None)

    # Alice's own page counts them: her round is done.
    assert "Challenge complete" in page_text(client.get("/challenge"))
    # The public sees nothing move: not the card, the profile or the API.
    assert visitor.get("/u/alice/challenge.png").data == before
    assert "Three-praise challenge" not in page_text(visitor.get("/u/alice"))
    assert visitor.get("/api/v1/users/alice/challenge").json["completed_rounds"] == 0

    # Named praise moves the card as before.
    send(client, bakery_on_fake, body="Named this time")
    assert visitor.get("/u/alice/challenge.png").data == before  # the round had already ended
    bob = make_user("bob")
    for n in range(3):
        make_post(bob, bakery_on_fake, body=f"Bob's visit {n}")
    assert "Three-praise challenge × 1" in page_text(visitor.get("/u/bob"))
    assert visitor.get("/api/v1/users/bob/challenge").json["completed_rounds"] == 1
    assert visitor.get("/u/bob/challenge.png").data != visitor.get("/u/alice/challenge.png").data


def test_a_mixed_round_stays_private_until_named_praise_finishes_one(
    app, client, connected, bakery_on_fake
):
    """One anonymous praise in a round: the public counts only the named ones."""
    visitor = app.test_client()
    send(client, bakery_on_fake, body="Named one")
    one_named = visitor.get("/u/alice/challenge.png").data
    send(client, bakery_on_fake, body=ANONYMOUS_WORDS, shows_name=None)
    assert visitor.get("/u/alice/challenge.png").data == one_named
    send(client, bakery_on_fake, body="Named two")

    assert visitor.get("/u/alice/challenge.png").data != one_named
    assert "Three-praise challenge" not in page_text(visitor.get("/u/alice"))
