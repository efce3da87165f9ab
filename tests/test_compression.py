"""Compressed responses, their ETags and 304s, and versioned static files with long lifetimes."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import brotli
import flask_compress
import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Post
from webapp.web.compression import CompressedCopies

STATIC = Path(__file__).resolve().parent.parent / "static"


@pytest.fixture
def wall(make_user, make_business, make_post):
    """A wall with enough praise for its pages and feeds to be worth compressing."""
    bob = make_user("bob")
    shop = make_business("Corner Bakery", handle="@support@cornerbakery.example")
    for n in range(5):
        make_post(bob, shop, body=f"Praise number {n}: warm bread, a kind word and a fair price.")
    return shop


def decoded(response) -> bytes:
    """Return the body as the browser would see it, undoing any Content-Encoding."""
    encoding = response.headers.get("Content-Encoding")
    if encoding == "gzip":
        return gzip.decompress(response.data)
    if encoding == "br":
        return brotli.decompress(response.data)
    assert encoding is None
    return response.data


def versioned_static_urls(html: str) -> dict[str, str]:
    """Map each static file a page links to onto its URL."""
    return {
        match.group(1): match.group(0)
        for match in re.finditer(r"/static/([\w./-]+)(?:\?v=[0-9a-f]+)?", html)
    }


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/wall", "text/html"),
        ("/static/style.css", "text/css"),
        ("/static/app.js", "text/javascript"),
        ("/api/v1/openapi.json", "application/json"),
        ("/wall/feed.atom", "application/atom+xml"),
    ],
)
@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_text_is_compressed_when_the_client_accepts_it(client, wall, path, mimetype, encoding):
    """Pages, styles, scripts, JSON and feeds come compressed, and decode to the plain body."""
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": encoding})
    assert plain.status_code == packed.status_code == 200
    assert packed.mimetype == mimetype
    assert packed.headers["Content-Encoding"] == encoding
    assert len(packed.data) < len(plain.data)
    assert decoded(packed) == plain.data
    assert "Accept-Encoding" in packed.headers["Vary"]


@pytest.mark.parametrize("path", ["/wall", "/static/style.css", "/wall/feed.atom"])
@pytest.mark.parametrize("accept", [None, "identity", "compress;q=1, gzip;q=0"])
def test_nothing_is_compressed_unless_asked(client, wall, path, accept):
    """Without an encoding the client accepts, the body goes plain, still marked as varying."""
    headers = {"Accept-Encoding": accept} if accept else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["Vary"]


def test_brotli_is_preferred_and_quality_respected(client, wall):
    """Brotli when both are fine; gzip when the client ranks it higher."""
    both = client.get("/wall", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert both.headers["Content-Encoding"] == "br"
    ranked = client.get("/wall", headers={"Accept-Encoding": "br;q=0.5, gzip"})
    assert ranked.headers["Content-Encoding"] == "gzip"


@pytest.mark.parametrize("path", ["/wall", "/b/corner-bakery", "/wall/feed.atom"])
@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_compressed_pages_still_revalidate_with_304(client, wall, path, encoding):
    """The compressed copy has its own ETag, and presenting it gets a 304."""
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": encoding})
    assert packed.headers["ETag"] != plain.headers["ETag"]
    assert packed.headers["ETag"].strip('"').endswith(":" + encoding)
    again = client.get(
        path, headers={"Accept-Encoding": encoding, "If-None-Match": packed.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""
    assert "Accept-Encoding" in again.headers["Vary"]
    still_plain = client.get(path, headers={"If-None-Match": plain.headers["ETag"]})
    assert still_plain.status_code == 304


def test_a_plain_etag_does_not_match_the_compressed_copy(client, wall):
    """A cache holding the plain copy never gets told it holds the compressed one, and back."""
    plain = client.get("/wall")
    packed = client.get("/wall", headers={"Accept-Encoding": "br"})
    mixed = client.get(
        "/wall", headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]}
    )
    assert mixed.status_code == 200 and mixed.headers["Content-Encoding"] == "gzip"
    assert client.get("/wall", headers={"If-None-Match": packed.headers["ETag"]}).status_code == 200
    assert plain.headers["ETag"] != mixed.headers["ETag"] != packed.headers["ETag"]


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_the_same_page_is_compressed_once_and_a_changed_one_afresh(
    client, wall, monkeypatch, encoding
):
    """A page sent again byte for byte reuses its compressed copy; after an edit the browser
    gets the new page, never the old copy, and each encoding keeps a copy of its own."""
    compressed = []
    real = flask_compress.flask_compress._compress_data

    def counting(app, data, algorithm):
        compressed.append(algorithm)
        return real(app, data, algorithm)

    monkeypatch.setattr(flask_compress.flask_compress, "_compress_data", counting)
    ask = {"Accept-Encoding": encoding}
    first, second = client.get("/wall", headers=ask), client.get("/wall", headers=ask)
    assert decoded(first) == decoded(second) and b"Praise number 4" in decoded(second)
    assert compressed == [encoding]

    post = db.session.scalar(sa.select(Post).where(Post.body.startswith("Praise number 4")))
    post.body = "Praise number 4, edited: the bread was still warm."
    db.session.commit()
    edited = client.get("/wall", headers=ask)
    assert b"the bread was still warm" in decoded(edited)
    assert compressed == [encoding, encoding]
    other = "gzip" if encoding == "br" else "br"
    assert b"the bread was still warm" in decoded(
        client.get("/wall", headers={"Accept-Encoding": other})
    )


def test_compressed_copies_keep_the_newest_within_their_size():
    """Past its size the store drops the copy used least lately, and never keeps unhashed ones."""
    copies = CompressedCopies(max_bytes=10)
    copies.set("br;a", b"12345")
    copies.set("br;b", b"12345")
    assert copies.get("br;a") == b"12345"
    copies.set("br;c", b"12345")
    assert copies.get("br;b") is None
    assert copies.get("br;a") == copies.get("br;c") == b"12345"
    copies.set("br;", b"1")
    assert copies.get("br;") is None


def test_small_bodies_and_pngs_are_sent_as_they_are(client, wall):
    """Tiny bodies aren't worth it, and PNGs are compressed already."""
    icon = client.get("/static/icon.svg", headers={"Accept-Encoding": "gzip, br"})
    assert icon.status_code == 200 and "Content-Encoding" not in icon.headers
    png = client.get("/static/icons/icon-192.png", headers={"Accept-Encoding": "gzip, br"})
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert "Content-Encoding" not in png.headers
    assert png.data.startswith(b"\x89PNG")
    post_id = db.session.scalar(sa.select(Post.id).limit(1))
    card = client.get(f"/posts/{post_id}/card.png", headers={"Accept-Encoding": "gzip, br"})
    assert card.status_code == 200 and card.mimetype == "image/png"
    assert "Content-Encoding" not in card.headers


def test_rendered_pages_link_static_files_by_version(client, wall):
    """Every static URL in a page carries the first 8 hex digits of the file's SHA-256."""
    html = client.get("/wall").get_data(as_text=True)
    urls = versioned_static_urls(html)
    assert {"style.css", "app.js"} <= set(urls)
    for name, url in urls.items():
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:8]
        assert url == f"/static/{name}?v={digest}"


def test_versioned_static_files_are_kept_for_a_year(client, wall):
    """A URL naming the current version may be cached for good, compressed or not."""
    urls = versioned_static_urls(client.get("/wall").get_data(as_text=True))
    for url in (urls["style.css"], urls["app.js"]):
        for headers in ({}, {"Accept-Encoding": "gzip"}):
            response = client.get(url, headers=headers)
            assert response.status_code == 200
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert "Cookie" not in response.headers.get("Vary", "")


@pytest.mark.parametrize("query", ["", "?v=00000000", "?v="])
def test_plain_or_stale_static_urls_are_kept_briefly(client, query):
    """Plain /static paths (the service worker's) and old versions still work, with a short life."""
    response = client.get(f"/static/style.css{query}")
    assert response.status_code == 200
    assert response.data == (STATIC / "style.css").read_bytes()
    cache_control = response.headers["Cache-Control"]
    assert "immutable" not in cache_control and "max-age=300" in cache_control


def test_compressed_static_files_revalidate_with_304(client):
    """A static file's compressed copy has its own ETag, and presenting it gets a 304."""
    first = client.get("/static/style.css", headers={"Accept-Encoding": "gzip"})
    assert first.headers["Content-Encoding"] == "gzip"
    again = client.get(
        "/static/style.css",
        headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]},
    )
    assert again.status_code == 304


def test_missing_static_files_are_still_404(client):
    """Unknown files get no version and a plain 404."""
    assert client.get("/static/nothing-here.css").status_code == 404


def test_the_widget_keeps_its_style_hashes_when_compressed(client, wall):
    """The embed's policy is worked out from the plain page, before compression."""
    plain = client.get("/b/corner-bakery/embed")
    packed = client.get("/b/corner-bakery/embed", headers={"Accept-Encoding": "br"})
    assert decoded(packed) == plain.data
    assert packed.headers["Content-Security-Policy"] == plain.headers["Content-Security-Policy"]
