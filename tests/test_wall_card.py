"""A wall shared elsewhere: Open Graph tags with its numbers, and a 1200×630 card of it."""

from __future__ import annotations

import io
from html.parser import HTMLParser

from PIL import Image

from webapp.extensions import db
from webapp.models import utcnow


class _Meta(HTMLParser):
    """Collects <meta property|name=... content=...> of a page."""

    def __init__(self) -> None:
        """Start with none."""
        super().__init__()
        self.tags: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note a meta tag's content under its property or name."""
        values = dict(attrs)
        key = values.get("property") or values.get("name")
        if tag == "meta" and key:
            self.tags[key] = values.get("content") or ""


def meta_tags(page) -> dict[str, str]:
    """Return the page's meta tags by property or name."""
    finder = _Meta()
    finder.feed(page.text)
    return finder.tags


def test_a_wall_has_open_graph_tags_with_its_numbers(client, make_business):
    """og:title, og:description with the numbers, og:image the wall's card, and twitter:card."""
    business = make_business("Corner Bakery")
    business.praise_count, business.complaint_count = 12, 1
    business.mentioned_count, business.replied_count = 10, 8
    business.askable_count, business.answered_count = 10, 8
    business.median_reply_seconds = 2 * 3600
    db.session.commit()
    tags = meta_tags(client.get("/b/corner-bakery"))
    assert tags["og:title"] == "Corner Bakery on Praisewall"
    assert tags["og:description"] == (
        "12 praise, 1 complaint, replies to 80% of posts asking it, median reply time 2\u00a0h."
    )
    assert tags["og:image"] == "http://praisewall.test/b/corner-bakery/card.png"
    assert (tags["og:image:width"], tags["og:image:height"]) == ("1200", "630")
    assert tags["og:url"] == "http://praisewall.test/b/corner-bakery"
    assert tags["twitter:card"] == "summary_large_image"


def test_the_card_is_a_1200_by_630_png_revalidated_by_etag(client, make_business):
    """The card is an image of the right size, a 304 while unchanged, and new when it changes."""
    business = make_business("Corner Bakery")
    first = client.get(f"/b/{business.slug}/card.png")
    assert first.status_code == 200 and first.mimetype == "image/png"
    image = Image.open(io.BytesIO(first.data))
    assert (image.format, image.size) == ("PNG", (1200, 630))
    etag = first.headers["ETag"]
    again = client.get(f"/b/{business.slug}/card.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    business.praise_count = 3
    db.session.commit()
    changed = client.get(f"/b/{business.slug}/card.png", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_a_verified_wall_says_so_in_its_title(app, client, make_business, make_user):
    """The verified mark is in the shared title and drawn on the card."""
    business = make_business("Corner Bakery")
    plain = client.get(f"/b/{business.slug}/card.png").data
    business.owner = make_user("bakery")
    business.claimed_at = utcnow()
    db.session.commit()
    tags = meta_tags(client.get(f"/b/{business.slug}"))
    assert tags["og:title"] == "Corner Bakery (verified) on Praisewall"
    assert client.get(f"/b/{business.slug}/card.png").data != plain


def test_no_card_for_a_wall_that_isnt_there(client):
    """An unknown wall has no card."""
    assert client.get("/b/nowhere/card.png").status_code == 404
