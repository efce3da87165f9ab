"""Atom feeds, the badge, and HTTP caching of what is public."""

from __future__ import annotations

import io
from xml.etree import ElementTree as ET

import pytest
from helpers import utc
from PIL import Image

A = "{http://www.w3.org/2005/Atom}"


def parse(response) -> ET.Element:
    """Parse an Atom response, checking its type."""
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{A}feed"
    return feed


def entries(feed: ET.Element) -> list[dict[str, str]]:
    """Return each entry's title, id, link and content."""
    return [
        {
            "title": e.findtext(f"{A}title"),
            "id": e.findtext(f"{A}id"),
            "link": e.find(f"{A}link").get("href"),
            "content": e.findtext(f"{A}content"),
            "author": e.findtext(f"{A}author/{A}name"),
        }
        for e in feed.findall(f"{A}entry")
    ]


def test_wall_feed_lists_public_praise_newest_first(client, bob, bakery_with_handle, make_post):
    """/wall/feed.atom is valid Atom with the wall's entries, newest first."""
    make_post(bob, bakery_with_handle, body="Older", created_at=utc(2026, 3, 1))
    make_post(bob, bakery_with_handle, body="Newer", created_at=utc(2026, 3, 2))
    make_post(bob, bakery_with_handle, body="A complaint", kind="complaint")
    make_post(bob, bakery_with_handle, body="Private", is_on_wall=False)
    make_post(bob, bakery_with_handle, body="Hidden", moderation="hidden")
    feed = parse(client.get("/wall/feed.atom"))
    assert feed.findtext(f"{A}id").startswith("tag:praisewall.test,2026-01-01:")
    assert feed.findtext(f"{A}updated")
    assert [e["content"] for e in entries(feed)] == ["Newer", "Older"]
    first = entries(feed)[0]
    assert first["title"] == "Praise for Corner Bakery" and first["author"] == "bob"
    assert first["link"].startswith("http://praisewall.test/posts/")


def test_entry_ids_are_stable(client, bob, bakery_with_handle, make_post):
    """An entry keeps its id when edited and when newer posts arrive."""
    post = make_post(bob, bakery_with_handle, body="Original", created_at=utc(2026, 3, 1, 9))
    before = entries(parse(client.get("/wall/feed.atom")))[0]["id"]
    post.body = "Edited"
    make_post(bob, bakery_with_handle, body="Another")
    after = {e["content"]: e["id"] for e in entries(parse(client.get("/wall/feed.atom")))}
    assert after["Edited"] == before == f"tag:praisewall.test,2026-03-01:post:{post.id}"


def test_business_feed_has_its_praise_and_complaints(
    client, bob, bakery_with_handle, make_business, make_post
):
    """/b/<slug>/feed.atom carries that business's public posts only."""
    make_post(bob, bakery_with_handle, body="Great bread")
    make_post(bob, bakery_with_handle, body="Cold coffee", kind="complaint")
    make_post(bob, make_business("Other Shop"), body="Elsewhere")
    feed = parse(client.get("/b/corner-bakery/feed.atom"))
    assert feed.findtext(f"{A}title") == "Corner Bakery on Praisewall"
    assert {e["content"] for e in entries(feed)} == {"Great bread", "Cold coffee"}
    assert client.get("/b/no-such-shop/feed.atom").status_code == 404


def test_profile_feed_keeps_anonymous_posts_out(client, bob, bakery_with_handle, make_post):
    """/u/<name>/feed.atom lists the person's named public posts, never the anonymous ones."""
    make_post(bob, bakery_with_handle, body="Signed")
    make_post(bob, bakery_with_handle, body="Unsigned", shows_name=False)
    assert [e["content"] for e in entries(parse(client.get("/u/bob/feed.atom")))] == ["Signed"]
    assert client.get("/u/nobody/feed.atom").status_code == 404


def test_feeds_escape_hostile_text(client, bob, bakery_with_handle, make_post):
    """Markup in a post stays text inside the feed."""
    make_post(bob, bakery_with_handle, body="<script>alert(1)</script> & ]]>")
    raw = client.get("/wall/feed.atom").data.decode()
    assert "<script>" not in raw
    assert entries(parse(client.get("/wall/feed.atom")))[0]["content"].startswith("<script>")


@pytest.mark.parametrize(
    ("page", "feed"),
    [
        ("/wall", "/wall/feed.atom"),
        ("/b/corner-bakery", "/b/corner-bakery/feed.atom"),
        ("/u/bob", "/u/bob/feed.atom"),
    ],
)
def test_pages_point_feed_readers_at_their_feed(client, bob, bakery_with_handle, page, feed):
    """Each list page names its feed, so a reader finds it from the page address."""
    assert 'type="application/atom+xml"' in client.get(page).text
    assert f'href="{feed}"' in client.get(page).text


def test_badge_shows_praise_and_is_svg(client, bob, bakery_with_handle, make_post):
    """/b/<slug>/badge.svg is an SVG with the praise count."""
    for _ in range(3):
        make_post(bob, bakery_with_handle)
    response = client.get("/b/corner-bakery/badge.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    svg = ET.fromstring(response.data)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert "praise 3" in response.data.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/wall/feed.atom",
        "/b/corner-bakery/feed.atom",
        "/u/bob/feed.atom",
        "/b/corner-bakery/badge.svg",
    ],
)
def test_public_resources_revalidate_with_304(client, bob, bakery_with_handle, make_post, path):
    """Each carries an ETag and Cache-Control, and answers 304 while unchanged, 200 after."""
    make_post(bob, bakery_with_handle, body="First")
    first = client.get(path)
    etag = first.headers["ETag"]
    assert (
        "public" in first.headers["Cache-Control"] and "max-age" in first.headers["Cache-Control"]
    )
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    make_post(bob, bakery_with_handle, body="Second")
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


@pytest.mark.parametrize(
    "path",
    ["/", "/wall", "/b/corner-bakery", "/u/bob", "/businesses", "/businesses?q=corner", "post"],
)
def test_public_pages_revalidate_and_are_private_when_signed_in(
    client, auth, bob, bakery_with_handle, make_post, path
):
    """Visitors' copies are shared and revalidate with 304; a signed-in page is theirs alone."""
    if path == "post":
        path = f"/posts/{make_post(bob, bakery_with_handle).id}"
    first = client.get(path)
    assert "public" in first.headers["Cache-Control"] and "Cookie" in first.headers["Vary"]
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    auth.login("bob")
    mine = client.get(path)
    assert (
        "private" in mine.headers["Cache-Control"] and "no-cache" in mine.headers["Cache-Control"]
    )
    assert mine.headers["ETag"] != first.headers["ETag"]


def test_post_share_card_is_a_1200_by_630_png(client, bob, bakery_with_handle, make_post):
    """/posts/<id>/card.png is the Open Graph image: a PNG of the right size."""
    post = make_post(bob, bakery_with_handle, body="They stayed open late for me. " * 20)
    response = client.get(f"/posts/{post.id}/card.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert Image.open(io.BytesIO(response.data)).size == (1200, 630)
    page = client.get(f"/posts/{post.id}").text
    assert (
        f'<meta property="og:image" content="http://praisewall.test/posts/{post.id}/card.png">'
        in page
    )
    private = make_post(bob, bakery_with_handle, is_on_wall=False)
    assert client.get(f"/posts/{private.id}/card.png").status_code == 404


def test_challenge_card_is_a_1200_by_630_png(client, bob, bakery_with_handle, make_post):
    """/u/<name>/challenge.png draws the person's progress, even before any round."""
    empty = client.get("/u/bob/challenge.png")
    assert Image.open(io.BytesIO(empty.data)).size == (1200, 630)
    make_post(bob, bakery_with_handle)
    after = client.get("/u/bob/challenge.png")
    assert after.mimetype == "image/png" and after.data != empty.data
    assert Image.open(io.BytesIO(after.data)).size == (1200, 630)
    assert client.get("/u/nobody/challenge.png").status_code == 404
