"""Composing for Bluesky: the exact post and its count on the compose page, shortened to fit
300 graphemes and 3,000 bytes with the mention, tag and link kept as facets; the switches that
remember; the business's Bluesky handle, added with it or by its verified owner."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from tests.conftest import AuthActions
from webapp.extensions import db
from webapp.infra import crypto
from webapp.models import BlueskyAccount, Business, Crosspost, Post, User
from webapp.networks.bluesky import text
from webapp.networks.bluesky.session import candidate, replies_in
from webapp.services import owners


def byte_slice(post: str, index: dict) -> str:
    """Return the stretch of the post a facet marks."""
    return post.encode("utf-8")[index["byteStart"] : index["byteEnd"]].decode("utf-8")


def features(status) -> dict[str, tuple[str, dict]]:
    """Map each facet's kind to the text it marks and what it says."""
    found = {}
    for facet in status.facets:
        feature = facet["features"][0]
        kind = feature["$type"].rsplit("#", 1)[1]
        found[kind] = (byte_slice(status.text, facet["index"]), feature)
    return found


def test_post_has_story_mention_tag_and_link_marked_by_byte_offsets() -> None:
    status = text.compose(
        "Le café était parfait ☕ — merci!",
        kind="praise",
        business_name="Café Crème",
        handle="cafe.example",
        did="did:plc:cafe",
        link="https://praisewall.test/posts/7",
    )
    assert status.text == (
        "Le café était parfait ☕ — merci!\n\n@cafe.example #CustomerServiceWin\n"
        "praisewall.test/posts/7"
    )
    marked = features(status)
    assert marked["mention"] == (
        "@cafe.example",
        {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:cafe"},
    )
    assert marked["tag"][0] == "#CustomerServiceWin"
    assert marked["tag"][1]["tag"] == "CustomerServiceWin"
    assert marked["link"] == (
        "praisewall.test/posts/7",
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://praisewall.test/posts/7"},
    )
    assert status.card.uri == "https://praisewall.test/posts/7"
    assert status.card.title == "Praise for Café Crème"
    assert status.card.description == "Le café était parfait ☕ — merci!"
    assert status.fits and not status.shortened


def test_unresolved_handle_is_the_plain_name_and_mentions_no_one() -> None:
    status = text.compose(
        "Slow refund.",
        kind="complaint",
        business_name="Harbour Ferries",
        handle=None,
        link="https://praisewall.test/posts/8",
    )
    assert "Harbour Ferries #CustomerService\n" in status.text
    assert "mention" not in features(status)
    assert status.card.title == "A complaint about Harbour Ferries"


def test_long_story_is_shortened_to_300_graphemes_never_split() -> None:
    story = "The staff went out of their way to help. " * 20
    status = text.compose(
        story,
        kind="praise",
        business_name="Bakery",
        handle="bakery.example",
        did="did:plc:bakery",
        link="https://praisewall.test/posts/9",
    )
    assert status.shortened and status.fits
    assert status.length <= 300
    assert status.text.endswith("…\n\n@bakery.example #CustomerServiceWin\npraisewall.test/posts/9")
    # The facets still mark the kept tail exactly.
    assert features(status)["mention"][0] == "@bakery.example"
    assert features(status)["link"][0] == "praisewall.test/posts/9"


def test_many_byte_graphemes_are_cut_by_bytes_too() -> None:
    # Each family emoji is one grapheme of 25 bytes: 300 of them would be 7,500 bytes.
    story = "👨‍👩‍👧‍👦" * 290
    status = text.compose(
        story, kind="praise", business_name="Toy Shop", handle=None, link="https://p.test/posts/1"
    )
    assert status.shortened and status.fits
    assert status.size <= 3000
    assert status.text.endswith("…\n\nToy Shop #CustomerServiceWin\np.test/posts/1")


def test_handles_are_read_as_domain_names() -> None:
    assert text.parse_handle("@Brand.bsky.social") == "brand.bsky.social"
    assert text.parse_handle("brand.example") == "brand.example"
    assert text.parse_handle("@support@brand.example") is None
    assert text.parse_handle("nodots") is None
    assert text.parse_handle("brand.123") is None


@pytest.fixture
def on_bluesky(make_user) -> User:
    """Alice, with a Bluesky account connected (an app password; nothing is sent here)."""
    user = make_user("alice")
    db.session.add(
        BlueskyAccount(
            user=user,
            did="did:plc:alice",
            handle="alice.test",
            pds_url="http://127.0.0.1:1",
            kind="app_password",
            access_token=crypto.encrypt("unused"),
        )
    )
    db.session.commit()
    return user


def compose_data(about: Business | None, **fields: str | None) -> dict[str, str]:
    """Return a complete compose form, with fields overridden (None leaves one out)."""
    data: dict[str, str | None] = {
        "kind": "praise",
        "business_id": str(about.id) if about else None,
        "body": "They saved the last sourdough for me.",
        "happened_on": date.today().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
        "to_bluesky": "y",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def test_compose_shows_the_bluesky_post_and_its_count(client, on_bluesky, make_business) -> None:
    bakery = make_business("Corner Bakery", bluesky_handle="bakery.example")
    AuthActions(client).login()
    page = client.get(f"/posts/new?business={bakery.slug}").text
    assert "The post as it will be posted from <strong>@alice.test</strong>" in page
    assert "@bakery.example #CustomerServiceWin\npraisewall.test/posts/new" in page
    assert "will be mentioned, so the business is notified" in page
    assert "/ 300 characters" in page
    assert "/ 3,000 bytes" in page
    # Without JavaScript: sending a too-long story shows it shortened, with the reason.
    long = "Wonderful service from start to finish. " * 20
    response = client.post("/posts/new", data=compose_data(bakery, body=long, happened_on="x"))
    assert response.status_code == 422
    assert "your story will be shortened with “…” to fit" in response.text
    assert "…\n\n@bakery.example #CustomerServiceWin" in response.text


def switched_on(page: str) -> bool:
    """Tell whether the page's "Also post to my Bluesky account" box is ticked."""
    box = re.search(r'<input[^>]*id="to_bluesky"[^>]*>', page)
    assert box is not None, "no Bluesky switch"
    return " checked" in box.group(0)


def test_switches_are_remembered_per_person(client, on_bluesky, bakery) -> None:
    AuthActions(client).login()
    assert switched_on(client.get("/posts/new").text)
    response = client.post("/posts/new", data=compose_data(bakery, to_bluesky=None))
    assert response.status_code == 302
    assert db.session.scalars(sa.select(Crosspost)).all() == []
    db.session.refresh(on_bluesky)
    assert on_bluesky.post_to_bluesky is False
    assert not switched_on(client.get("/posts/new").text)
    # Switched on again, it goes, and is remembered on.
    response = client.post("/posts/new", data=compose_data(bakery, body="Second time."))
    row = db.session.scalars(sa.select(Crosspost)).one()
    assert row.network == "bluesky" and row.idempotency_key and len(row.idempotency_key) == 13
    assert row.visibility == "public"
    db.session.refresh(on_bluesky)
    assert on_bluesky.post_to_bluesky is True


def test_new_business_gets_its_bluesky_handle(client, on_bluesky) -> None:
    AuthActions(client).login()
    data = compose_data(
        None,
        business="Lighthouse Books",
        new_business_name="Lighthouse Books",
        new_business_bluesky="@LighthouseBooks.example",
        to_bluesky=None,
    )
    response = client.post("/posts/new", data=data)
    assert response.status_code == 302, response.text
    business = db.session.scalars(sa.select(Business)).one()
    assert business.bluesky_handle == "lighthousebooks.example"
    api = client.get(f"/api/v1/businesses/{business.slug}").get_json()
    assert api["bluesky_handle"] == "lighthousebooks.example"


def test_a_bad_bluesky_handle_is_refused_with_the_words_kept(client, on_bluesky) -> None:
    AuthActions(client).login()
    data = compose_data(
        None,
        business="Lighthouse Books",
        new_business_name="Lighthouse Books",
        new_business_bluesky="@books@lighthouse.example",
    )
    response = client.post("/posts/new", data=data)
    assert response.status_code == 422
    assert "A Bluesky handle looks like @brand.bsky.social." in response.text
    assert "They saved the last sourdough for me." in response.text
    assert db.session.scalars(sa.select(Post)).all() == []


def test_verified_owner_edits_the_bluesky_handle(client, make_user, make_business) -> None:
    owner = make_user("owner")
    bakery = make_business("Corner Bakery")
    bakery.owner_id = owner.id
    db.session.commit()
    AuthActions(client).login("owner")
    page = client.get(f"/b/{bakery.slug}/manage").text
    assert "Bluesky handle" in page
    form = {"website": "", "description": "", "bluesky_handle": "not a handle"}
    response = client.post(f"/b/{bakery.slug}/manage", data=form)
    assert response.status_code == 422
    assert "A Bluesky handle looks like @brand.bsky.social." in response.text
    form["bluesky_handle"] = "@corner.bakery.example"
    assert client.post(f"/b/{bakery.slug}/manage", data=form).status_code == 302
    db.session.refresh(bakery)
    assert bakery.bluesky_handle == "corner.bakery.example"


def thread_reply(did: str, created_at: str, indexed_at: str, words: str = "Thanks!") -> dict:
    """Return a reply as the AppView shows it in a thread."""
    return {
        "uri": f"at://{did}/app.bsky.feed.post/3lreplyaaaaa2",
        "author": {"did": did, "handle": "anyone.test"},
        "record": {"$type": "app.bsky.feed.post", "text": words, "createdAt": created_at},
        "indexedAt": indexed_at,
    }


def test_a_thread_only_names_candidates_by_the_business_own_address() -> None:
    """A reply shown as the business's is only a candidate when its address is the business's
    own and its record key a TID; its words and time are read from the business's PDS later."""
    shop = "did:plc:shop"
    shown = thread_reply(shop, "2030-01-01T00:00:00.000Z", "2026-12-01T13:00:00.000Z")
    assert candidate(shown, shop) == ("3lreplyaaaaa2", datetime(2026, 12, 1, 13, 0, tzinfo=UTC))
    assert candidate(shown, "did:plc:stranger") is None
    forged = dict(shown, uri="at://did:plc:someone/app.bsky.feed.post/3lreplyaaaaa2")
    assert candidate(forged, shop) is None
    not_a_key = dict(shown, uri=f"at://{shop}/app.bsky.feed.post/../../evil")
    assert candidate(not_a_key, shop) is None


def test_only_the_business_did_counts_at_any_depth() -> None:
    shop, stranger = "did:plc:shop", "did:plc:stranger"

    def branch(post: dict, *replies: dict) -> dict:
        return {
            "$type": "app.bsky.feed.defs#threadViewPost",
            "post": post,
            "replies": list(replies),
        }

    thread = branch(
        {"uri": "at://did:plc:alice/app.bsky.feed.post/3lrootaaaaaa2"},
        branch(
            thread_reply(stranger, "2026-12-01T12:05:00Z", "2026-12-01T12:05:00Z"),
            branch(thread_reply(shop, "2026-12-01T12:40:00Z", "2026-12-01T12:40:00Z")),
        ),
        {"$type": "app.bsky.feed.defs#blockedPost", "uri": "at://x/y/z"},
    )
    authors = [post["author"]["did"] for post in replies_in(thread)]
    assert authors == [stranger, shop]


def test_a_manager_cannot_change_the_bluesky_handle(client, make_user, make_business) -> None:
    owner, helper = make_user("owner"), make_user("helper")
    bakery = make_business("Corner Bakery", bluesky_handle="corner.bakery.example")
    bakery.owner_id = owner.id
    owners.add_manager(bakery, owner, "helper")
    db.session.commit()
    AuthActions(client).login("helper")
    assert "Bluesky handle" not in client.get(f"/b/{bakery.slug}/manage").text
    form = {"website": "", "description": "Fresh bread daily.", "bluesky_handle": "evil.example"}
    assert client.post(f"/b/{bakery.slug}/manage", data=form).status_code == 302
    db.session.refresh(bakery)
    assert bakery.description == "Fresh bread daily."
    assert bakery.bluesky_handle == "corner.bakery.example"
    assert helper.id != owner.id
