"""A business's reply counts only when the business's own server has it.

Alice posts through her server (the `fake_mastodon` fixture), which anyone may run and which
can show any reply under any name. Harbour Savings' account @care lives on a second fake whose
handle domain is "localhost:PORT" (WebFinger answers there for it). A reply Alice's server shows
counts once WebFinger on that domain names the business's actor and the actor's server serves
the reply, by that actor, in reply to Alice's status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from conftest import localhost, send
from fake_mastodon import FakeMastodon
from helpers import page_text
from test_reply_watch import check, number
from test_website_claims import Site, serve_site

from webapp.extensions import db
from webapp.models import Business, Crosspost
from webapp.networks import replies as crosspost


@pytest.fixture
def harbour_known_to_alice(make_business, fake_mastodon, harbour_server) -> Business:
    """Harbour Savings, @care on its server's handle domain, known to Alice's server too."""
    handle = f"care@{localhost(harbour_server)}"
    fake_mastodon.add_account("care", domain=localhost(harbour_server))
    business = make_business("Harbour Savings")
    business.handle = f"@{handle}"
    db.session.commit()
    return business


def genuine_reply(poster: FakeMastodon, home: FakeMastodon, row: Crosspost, text: str, **at):
    """Reply as @care on its own server to Alice's status, and federate a copy to hers."""
    ours = poster._find_status(row.remote_id)
    reply = home.reply(None, "care", text, in_reply_to_uri=ours["uri"], **at)
    poster.reply(
        row.remote_id,
        f"care@{localhost(home)}",
        text,
        at=reply["created_at"],
        uri=reply["uri"],
        url=reply["url"],
    )
    return reply


def due(row: Crosspost) -> None:
    """Make the row's reply check due, its sending time left as the server said."""
    row.next_reply_check_at = row.sent_at
    db.session.commit()


def shown(client, row: Crosspost, business: Business) -> tuple[str, str, str]:
    """Return what the post's page says of a reply, and the wall's reply rate and median."""
    post_page = page_text(client.get(f"/posts/{row.post_id}"))
    wall = client.get(f"/b/{business.slug}").text
    return (
        post_page,
        number(wall, "Replies"),
        number(wall, "Median reply time"),
    )


def notes_fetched(fake: FakeMastodon) -> list[str]:
    """Return the paths of the ActivityPub objects the fake served or refused."""
    return [r["path"] for r in fake.requests if r["path"].startswith("/users/")]


@pytest.mark.parametrize(
    "forgery",
    ["made-up uri", "on the business's server, but not there", "the business's other reply"],
)
def test_a_forged_reply_changes_nothing(
    client, connected, fake_mastodon, harbour_server, harbour_known_to_alice, forgery
):
    """A reply Alice's server invents under the business's name is neither shown nor counted."""
    row = send(client, harbour_known_to_alice)
    acct = f"care@{localhost(harbour_server)}"
    at = row.sent_at + timedelta(minutes=1)
    if forgery == "made-up uri":
        fake_mastodon.reply(row.remote_id, acct, "We're sorry!", at=at, url="javascript:alert(1)")
    elif forgery == "on the business's server, but not there":
        uri = f"{harbour_server.url}/users/care/statuses/123"
        fake_mastodon.reply(row.remote_id, acct, "We're sorry!", at=at, uri=uri, url=uri)
    else:
        # A real reply of the business's, but to someone else's status.
        other = harbour_server.reply(
            None, "care", "Happy to help!", in_reply_to_uri="https://elsewhere.example/s/1"
        )
        fake_mastodon.reply(
            row.remote_id, acct, "Happy to help!", at=at, uri=other["uri"], url=other["url"]
        )
    due(row)
    check(row)
    assert row.replied_at is None and row.reply_url is None and row.reply_text is None
    assert row.next_reply_check_at is not None  # still watching for a real one
    page, rate, median = shown(client, row, harbour_known_to_alice)
    assert "replied after" not in page
    assert (rate, median) == ("0%", "–")


def test_a_reply_confirmed_by_the_business_server_counts(
    client, connected, fake_mastodon, harbour_server, harbour_known_to_alice
):
    """A reply the business's own server has, by @care and to Alice's status, is counted."""
    row = send(client, harbour_known_to_alice)
    reply = genuine_reply(
        fake_mastodon, harbour_server, row, "Thanks, Alice!", at=row.sent_at + timedelta(hours=2)
    )
    due(row)
    check(row)
    assert abs(row.replied_at - reply["created_at"]) < timedelta(milliseconds=1)
    assert row.reply_url == reply["url"]
    assert row.reply_text == "Thanks, Alice!"
    page, rate, median = shown(client, row, harbour_known_to_alice)
    assert "Harbour Savings replied after 2 h." in page
    assert (rate, median) == ("100%", "2 h")
    # One WebFinger on the handle's domain, one fetch of the reply from the business's server.
    webfinger = [r for r in harbour_server.requests if r["path"] == "/.well-known/webfinger"]
    assert len(webfinger) == 1
    assert notes_fetched(harbour_server) == [urlsplit(reply["uri"]).path]


def test_the_time_is_the_business_servers_not_the_posters(
    client, connected, fake_mastodon, harbour_server, harbour_known_to_alice
):
    """Alice's server can't make a genuine reply look quicker than the business's server says."""
    row = send(client, harbour_known_to_alice)
    reply = harbour_server.reply(
        None,
        "care",
        "Thanks!",
        in_reply_to_uri=fake_mastodon._find_status(row.remote_id)["uri"],
        at=row.sent_at + timedelta(hours=5),
    )
    fake_mastodon.reply(
        row.remote_id,
        f"care@{localhost(harbour_server)}",
        "Thanks!",
        at=row.sent_at + timedelta(minutes=1),
        uri=reply["uri"],
        url="javascript:alert(1)",
    )
    due(row)
    check(row)
    assert row.reply_url == reply["url"]
    assert (
        number(client.get(f"/b/{harbour_known_to_alice.slug}").text, "Median reply time") == "5 h"
    )


@pytest.mark.parametrize("down", ["/.well-known/webfinger", "/users/care/statuses/"])
def test_a_reply_waits_while_the_business_server_is_unreachable(
    client, connected, fake_mastodon, harbour_server, harbour_known_to_alice, down
):
    """While the business's server doesn't answer, the reply isn't counted; later it is."""
    row = send(client, harbour_known_to_alice)
    genuine_reply(
        fake_mastodon, harbour_server, row, "Thanks!", at=row.sent_at + timedelta(minutes=30)
    )
    harbour_server.fail_next("GET", down, 503)
    due(row)
    check(row)
    assert row.replied_at is None
    assert row.next_reply_check_at is not None
    assert "replied after" not in page_text(client.get(f"/posts/{row.post_id}"))

    due(row)  # the next check comes round
    check(row)
    assert row.replied_at is not None
    page, rate, median = shown(client, row, harbour_known_to_alice)
    assert "Harbour Savings replied after 30 min." in page
    assert (rate, median) == ("100%", "30 min")


def test_a_genuine_reply_after_a_forged_one_still_counts(
    client, connected, fake_mastodon, harbour_server, harbour_known_to_alice
):
    """A forgery put first in the thread doesn't hide the business's real reply."""
    row = send(client, harbour_known_to_alice)
    fake_mastodon.reply(
        row.remote_id,
        f"care@{localhost(harbour_server)}",
        "Fake",
        at=row.sent_at + timedelta(seconds=30),
    )
    genuine_reply(
        fake_mastodon, harbour_server, row, "Real", at=row.sent_at + timedelta(minutes=10)
    )
    due(row)
    check(row)
    assert row.reply_text == "Real"
    assert (
        number(client.get(f"/b/{harbour_known_to_alice.slug}").text, "Median reply time")
        == "10 min"
    )


def test_a_reply_to_a_reply_in_the_thread_counts(
    client, connected, fake_mastodon, harbour_server, harbour_known_to_alice
):
    """The business answering Bob's reply to Alice counts: each step is fetched from its server."""
    row = send(client, harbour_known_to_alice)
    fake_mastodon.add_account("bob")
    bob = fake_mastodon.reply(row.remote_id, "bob", "Same here!")
    reply = harbour_server.reply(
        None, "care", "Thanks, both!", in_reply_to_uri=bob["uri"], at=bob["created_at"]
    )
    fake_mastodon.reply(
        bob["id"],
        f"care@{localhost(harbour_server)}",
        "Thanks, both!",
        at=reply["created_at"],
        uri=reply["uri"],
        url=reply["url"],
    )
    due(row)
    check(row)
    assert row.reply_url == reply["url"]
    assert urlsplit(bob["uri"]).path in notes_fetched(fake_mastodon)


def test_a_reply_dated_before_our_status_is_not_counted(
    client, connected, fake_mastodon, harbour_server, harbour_known_to_alice
):
    """A reply its own server dates before Alice's status was sent can't be a reply to it."""
    row = send(client, harbour_known_to_alice)
    genuine_reply(
        fake_mastodon, harbour_server, row, "Thanks!", at=row.sent_at - timedelta(hours=1)
    )
    due(row)
    check(row)
    assert row.replied_at is None
    assert "replied after" not in page_text(client.get(f"/posts/{row.post_id}"))


@pytest.fixture
def third_site() -> Iterator[Site]:
    """A website on loopback that is neither Alice's server nor the business's."""
    yield from serve_site()


def test_a_reply_in_between_on_a_third_server_is_not_believed(
    client, connected, fake_mastodon, harbour_server, harbour_known_to_alice, third_site
):
    """A note on another server saying it answers Alice's status doesn't make the business's
    answer to it a reply to Alice: only her server or the business's speak for the thread."""
    row = send(client, harbour_known_to_alice)
    ours = fake_mastodon._find_status(row.remote_id)["uri"]
    middle = f"{third_site.url}/notes/1"
    third_site.serve(
        "/notes/1",
        json.dumps({"id": middle, "type": "Note", "inReplyTo": ours}),
        **{"Content-Type": "application/activity+json"},
    )
    reply = harbour_server.reply(
        None, "care", "Hello!", in_reply_to_uri=middle, at=row.sent_at + timedelta(minutes=5)
    )
    fake_mastodon.reply(
        row.remote_id,
        f"care@{localhost(harbour_server)}",
        "Hello!",
        at=reply["created_at"],
        uri=reply["uri"],
        url=reply["url"],
    )
    due(row)
    check(row)
    assert row.replied_at is None
    assert third_site.requests == []


def test_a_garbled_thread_is_a_check_that_found_nothing(
    client, connected, fake_mastodon, harbour_server, harbour_known_to_alice
):
    """Replies without an author or a time, as a broken or hostile server may send, are skipped."""
    row = send(client, harbour_known_to_alice)
    garbled = [
        {"id": "1", "uri": "x"},
        {"id": "2", "account": "care", "created_at": "2026-01-01T00:00:00Z"},
        {"id": "3", "account": {"id": row.mention_account_id}, "created_at": "soon"},
    ]
    fake_mastodon.fail_next(
        "GET",
        f"/api/v1/statuses/{row.remote_id}/context",
        200,
        body={"ancestors": [], "descendants": garbled},
    )
    due(row)
    assert crosspost.check_reply(row.id) == "waiting"
    db.session.commit()
    db.session.expire_all()
    assert row.replied_at is None and row.next_reply_check_at is not None
