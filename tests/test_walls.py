"""The public walls, business pages and their numbers, finding businesses, and paging."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from helpers import count_queries, utc

from webapp.extensions import db
from webapp.models import Post


def bodies(html: str) -> list[str]:
    """Return the post texts on a page, in order."""
    return re.findall(r'<p class="body">(.*?)</p>', html, re.S)


def test_wall_shows_public_praise_only(client, bob, bakery_with_website, make_post):
    """/wall lists public praise; complaints, private and hidden posts stay off it."""
    make_post(bob, bakery_with_website, body="Public praise")
    make_post(bob, bakery_with_website, body="A complaint", kind="complaint")
    make_post(bob, bakery_with_website, body="Private praise", is_on_wall=False)
    make_post(bob, bakery_with_website, body="Hidden praise", moderation="hidden")
    make_post(bob, bakery_with_website, body="Pending praise", moderation="pending")
    make_post(bob, bakery_with_website, body="Restored praise", moderation="restored")
    assert bodies(client.get("/wall").text) == ["Restored praise", "Public praise"]


def test_front_page_shows_latest_praise(client, bob, bakery_with_website, make_post):
    """The front page says what this is and shows recent praise."""
    make_post(bob, bakery_with_website, body="Lovely croissants")
    page = client.get("/").text
    assert "Log a win" in page and "Lovely croissants" in page


def test_business_wall_tabs_and_numbers(client, bob, bakery_with_website, make_user, make_post):
    """/b/<slug> shows praise by default, complaints on their tab, and the numbers."""
    carol = make_user("carol")
    made = utc(2026, 1, 1, 12)
    make_post(bob, bakery_with_website, body="Great", rating=5)
    make_post(carol, bakery_with_website, body="Good", rating=4)
    make_post(carol, bakery_with_website, body="Private", rating=1, is_on_wall=False)
    make_post(
        bob,
        bakery_with_website,
        body="Late order",
        kind="complaint",
        rating=2,
        created_at=made,
        complaint_status="resolved",
        resolved_at=made + timedelta(days=2),
    )
    make_post(
        carol,
        bakery_with_website,
        body="Rude",
        kind="complaint",
        rating=1,
        created_at=made,
        complaint_status="resolved",
        resolved_at=made + timedelta(days=4),
    )
    make_post(bob, bakery_with_website, body="Cold coffee", kind="complaint", rating=3)
    make_post(
        bob, bakery_with_website, body="Burnt toast", kind="complaint", complaint_status="replied"
    )

    page = client.get("/b/corner-bakery").text
    assert set(bodies(page)) == {"Great", "Good"}
    numbers = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page))
    assert numbers == {
        "Praise": "2",
        "Complaints": "4",
        "Resolved": "50%",
        "Median time to resolve": "3 days",
        "Replies": "–",
        "Median reply time": "–",
        "Average rating": "3.0",
    }
    complaints = client.get("/b/corner-bakery?tab=complaints").text
    assert set(bodies(complaints)) == {"Late order", "Rude", "Cold coffee", "Burnt toast"}
    assert "Resolved after 2 days" in complaints
    assert "Business replied" in complaints and "Open" in complaints


def test_a_business_with_no_posts_has_honest_numbers(client, bakery_with_website):
    """No posts means zeros and dashes, not errors."""
    page = client.get("/b/corner-bakery").text
    numbers = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page))
    assert numbers["Praise"] == "0" and numbers["Resolved"] == "–"
    assert numbers["Average rating"] == "–"
    assert "No praise yet" in page


def test_unknown_business_is_404(client):
    """A slug nobody has is a 404 with a plain message."""
    response = client.get("/b/no-such-shop")
    assert response.status_code == 404
    assert "We don&#39;t know a business at that address." in response.text


def test_profile_shows_named_public_posts_and_badges(client, bob, bakery_with_website, make_post):
    """/u/<name> shows public posts that carry the name, and finished challenge rounds."""
    for body in ("One", "Two", "Three"):
        make_post(bob, bakery_with_website, body=body)
    make_post(bob, bakery_with_website, body="Anonymous", shows_name=False)
    make_post(bob, bakery_with_website, body="Private", is_on_wall=False)
    page = client.get("/u/bob").text
    assert bodies(page) == ["Three", "Two", "One"]
    assert "Three-praise challenge × 1" in page
    assert client.get("/u/nobody").status_code == 404


def test_anonymous_posts_never_name_their_author(client, bob, bakery_with_website, make_post):
    """A post with "show my name" off says "a customer" everywhere."""
    post = make_post(bob, bakery_with_website, body="Quietly grateful", shows_name=False)
    for path in ("/wall", "/b/corner-bakery", f"/posts/{post.id}"):
        page = client.get(path).text
        assert "a customer" in page and "/u/bob" not in page


def test_wall_pages_by_cursor(app, client, bob, bakery_with_website, make_post):
    """Paging follows a cursor: every post once, in order, even with equal timestamps."""
    app.config["PER_PAGE"] = 3
    same_moment = utc(2026, 3, 1, 9)
    for n in range(4):
        make_post(bob, bakery_with_website, body=f"Same {n}", created_at=same_moment)
    for n in range(4):
        make_post(bob, bakery_with_website, body=f"Day {n}", created_at=utc(2026, 3, 2 + n))
    offsets: list[str] = []

    def record_offsets(conn, cursor, sql, params, *args):
        # SQLite always writes "OFFSET 0" after a LIMIT; any other offset would be paging by OFFSET.
        if "OFFSET" in sql.upper() and not (isinstance(params, tuple) and params[-1] == 0):
            offsets.append(sql)

    sa.event.listen(db.engine, "before_cursor_execute", record_offsets)
    seen, url = [], "/wall"
    while url:
        page = client.get(url).text
        seen += bodies(page)
        more = re.search(r'rel="next" href="([^"]+)"', page)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert offsets == []
    assert seen == [f"Day {n}" for n in (3, 2, 1, 0)] + [f"Same {n}" for n in (3, 2, 1, 0)]


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJ4IiwgMV0", "!!!", "eyJhIjogMX0"])
def test_a_broken_cursor_is_a_400(client, cursor):
    """A tampered page link gets a 400 with a way back, never a 500."""
    response = client.get("/wall", query_string={"cursor": cursor})
    assert response.status_code == 400
    assert "That page link is broken" in response.text


def test_queries_per_wall_page_do_not_grow_with_posts(
    client, bob, bakery_with_website, make_user, make_post
):
    """Authors and businesses load with the posts: one page costs the same queries for 2 or 20."""

    paths = ("/wall", "/b/corner-bakery", "/u/bob")
    for path in paths:
        client.get(path)  # the business or person an address names is looked up once, then kept
    make_post(bob, bakery_with_website)
    make_post(make_user("carol"), bakery_with_website)
    few = {path: count_queries(client, path) for path in paths}
    for n in range(18):
        # Bob among them: each page changes, so each is rendered again, not read as kept.
        author = bob if n % 3 == 0 else make_user(f"user{n}")
        make_post(author, bakery_with_website, body=f"Post {n}")
    many = {path: count_queries(client, path) for path in paths}
    assert many == few
    assert max(many.values()) <= 5


def test_businesses_search_page(client, make_business):
    """/businesses?q= finds by prefix and by word; empty q lists A to Z."""
    for name in ("Corner Bakery", "Bakery on the Corner", "Bike Hub", "Café Zürich"):
        make_business(name)
    found = client.get("/businesses?q=bak").text
    assert found.index("Bakery on the Corner") < found.index("Corner Bakery")
    assert "Bike Hub" not in found
    assert "Café Zürich" in client.get("/businesses?q=zurich").text
    everything = client.get("/businesses").text
    names = re.findall(r'<a href="/b/[^"]+">(.*?)</a>', everything)
    assert names == ["Bakery on the Corner", "Bike Hub", "Café Zürich", "Corner Bakery"]
    assert "No business matches" in client.get("/businesses?q=zzz").text


def test_businesses_list_pages_by_cursor(app, client, make_business):
    """The A-to-Z list pages by cursor too."""
    app.config["PER_PAGE"] = 2
    for name in ("Alpha", "Bravo", "Charlie", "Delta", "Echo"):
        make_business(name)
    seen, url = [], "/businesses"
    while url:
        page = client.get(url).text
        seen += re.findall(r'<a href="/b/[^"]+">(.*?)</a>', page)
        more = re.search(r'rel="next" href="([^"]+)"', page)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert seen == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("corner", ["Corner Bakery", "Corner Shop Co", "The Corner Cafe"]),
        ("CORNER bak", ["Corner Bakery"]),
        ("cafe", ["Café Central", "The Corner Cafe"]),
        ("joes", ["Joe's Garage"]),
        ("joe's", ["Joe's Garage"]),
        ("  ", []),
        ("%", []),
        ("zzz", []),
    ],
)
def test_business_type_ahead_api(client, make_business, q, expected):
    """GET /api/v1/businesses?q= matches prefixes and words of the normalized name, best first."""
    for name in (
        "The Corner Cafe",
        "Corner Bakery",
        "Café Central",
        "Joe's Garage",
        "Corner Shop Co",
    ):
        make_business(name)
    response = client.get("/api/v1/businesses", query_string={"q": q})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert [b["name"] for b in response.json["results"]] == expected


def test_type_ahead_gives_what_compose_needs(client, make_business):
    """Each result has the id compose posts and the slug for links."""
    shop = make_business("Corner Bakery", handle="@hello@cornerbakery.example")
    result = client.get("/api/v1/businesses?q=cor").json["results"][0]
    assert result["id"] == shop.id and result["slug"] == "corner-bakery"
    assert result["handle"] == "@hello@cornerbakery.example"


def test_api_errors_are_json(client):
    """An unknown API path answers JSON, not a web page."""
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json["status"] == 404


def test_posts_keep_their_order_after_edits(client, bob, bakery_with_website, make_post):
    """Editing does not move a post up the wall: it is ordered by when it was written."""
    first = make_post(bob, bakery_with_website, body="First", created_at=utc(2026, 1, 1))
    make_post(bob, bakery_with_website, body="Second", created_at=utc(2026, 1, 2))
    first.body = "First, edited"
    db.session.commit()
    assert bodies(client.get("/wall").text) == ["Second", "First, edited"]
    assert db.session.get(Post, first.id).updated_at is not None


@pytest.mark.parametrize(
    ("fields", "meta"),
    [
        ({}, None),
        ({"category": "cafe"}, "cafe"),
        (
            {"website": "beanline.example"},
            '<a href="https://beanline.example" rel="nofollow noopener">beanline.example</a>',
        ),
        ({"handle": "@hi@beanline.example", "category": "cafe"}, "cafe · @hi@beanline.example"),
    ],
)
def test_business_facts_line(client, make_business, fields, meta):
    """The line under a business's name lists only what we know, with no stray separators."""
    make_business("Beanline Coffee", **fields)
    page = client.get("/b/beanline-coffee").text
    found = re.search(r'<p class="meta">(.*?)</p>', page)
    assert (found.group(1) if found else None) == meta


@pytest.mark.parametrize("root", ["", "/praise"])
@pytest.mark.parametrize("external", [False, True])
def test_links_a_list_repeats_are_those_the_routing_map_builds(app, root, external):
    """A post's, person's and wall's links in a list are exactly what url_for gives."""
    from flask import url_for

    from webapp.web import links

    odd = ["bob", "a b", "ünï", "x/y", "50%", "q?x=1#f", "~._-!$&'()*+,;=:@", ""]
    host = "https://praise.example:8443"
    with app.test_request_context("/wall", base_url=host + root):
        for value in [*odd, 7, "7"]:
            if value != "":
                assert links.profile_url(value, _external=external) == url_for(
                    "main.profile", username=value, _external=external
                )
                assert links.wall_url(value, _external=external) == url_for(
                    "businesses.wall", slug=value, _external=external
                )
        for number in (1, 42, "42", 10**12):
            assert links.post_url(number, _external=external) == url_for(
                "posts.show", post_id=number, _external=external
            )


def test_signed_in_pages_cost_the_same_queries_for_few_or_many_posts(
    client, signed_in_alice, bakery_with_website, make_user, make_post
):
    """/me, /challenge, a profile, the compose page, the wall and the feeds load per page,
    never per post, for a signed-in person too."""
    paths = [
        "/me",
        "/challenge",
        "/posts/new",
        "/u/alice",
        "/wall",
        "/b/corner-bakery",
        "/b/corner-bakery?tab=complaints",
        "/wall/feed.atom",
        "/b/corner-bakery/feed.atom",
        "/u/alice/feed.atom",
    ]

    def add(n: int) -> None:
        complaint = make_post(
            signed_in_alice,
            bakery_with_website,
            kind="complaint",
            body=f"Complaint {n}",
            complaint_status="resolved",
            resolved_at=utc(2026, 1, 2),
        )
        make_post(signed_in_alice, bakery_with_website, body=f"Fixed {n}", fixes=complaint)
        make_post(make_user(f"user{n}"), bakery_with_website, body=f"Praise {n}", rating=4)

    for path in paths:
        client.get(path)  # the business or person an address names is looked up once, then kept
    add(0)
    few = {path: count_queries(client, path) for path in paths}
    for n in range(1, 8):
        add(n)
    many = {path: count_queries(client, path) for path in paths}
    assert many == few
    assert max(many.values()) <= 8, many
