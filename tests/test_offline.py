"""Phone-first over HTTP: exactly-once posting, the app manifest, the service worker, sharing."""

from __future__ import annotations

import json
import re
from datetime import date
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sqlalchemy as sa
from conftest import AuthActions, compose_form, run_queued_tasks
from helpers import count, page_text
from PIL import Image

from webapp.extensions import db
from webapp.models import Crosspost, Post
from webapp.pwa.share import shared_story
from webapp.services import submissions

STATIC = Path(__file__).resolve().parent.parent / "static"
KEY = "3f2b9c1e-7a4d-4e8b-9c0f-1a2b3c4d5e6f"
STORY = "They found my lost glove and kept it for a week."


def form(**fields: str | None) -> dict[str, str]:
    """Return a complete compose form about a new business, with fields overridden."""
    data: dict[str, str | None] = {
        "kind": "praise",
        "new_business_name": "Corner Bakery",
        "body": STORY,
        "happened_on": date.today().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
        "submission_key": KEY,
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def post_ids() -> list[int]:
    """Return every post's id, oldest first."""
    return list(db.session.scalars(sa.select(Post.id).order_by(Post.id)))


# --- Exactly once ---


def test_the_same_submission_twice_makes_one_post(client, signed_in_alice):
    """Sent again with the same key (even once its new business exists), it goes to that post."""
    first = client.post("/posts/new", data=form())
    assert first.status_code == 302
    [post_id] = post_ids()
    second = client.post("/posts/new", data=form())
    assert second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"] == f"/posts/{post_id}"
    assert post_ids() == [post_id]
    assert db.session.get(Post, post_id).submission_key == KEY


def test_the_outbox_gets_the_post_address_as_json(client, signed_in_alice):
    """The outbox's fetch asks for JSON: the address, with the flash kept for the page after."""
    headers = {"Accept": "application/json"}
    response = client.post("/posts/new", data=form(), headers=headers)
    assert response.status_code == 200
    [post_id] = post_ids()
    assert response.json == {"url": f"/posts/{post_id}", "id": post_id}
    assert "no-store" in response.headers["Cache-Control"]
    again = client.post("/posts/new", data=form(), headers=headers)
    assert again.json == response.json
    assert post_ids() == [post_id]
    page = client.get(response.json["url"])
    assert "Posted. Thank you for saying it in public." in page.text


def test_another_persons_same_key_is_their_own_post(client, make_user, signed_in_alice):
    """Keys belong to their author: the same key from someone else is a separate post."""
    client.post("/posts/new", data=form())
    make_user("bob")
    auth = AuthActions(client)
    auth.logout()
    auth.login("bob")
    response = client.post(
        "/posts/new", data=form(business="Corner Bakery", new_business_name=None)
    )
    assert response.status_code == 302
    posts = db.session.scalars(sa.select(Post).order_by(Post.id)).all()
    assert [p.author.username for p in posts] == ["alice", "bob"]
    assert response.headers["Location"] == f"/posts/{posts[1].id}"


def test_posts_without_a_key_still_work(client, signed_in_alice):
    """A form without the key (an old page, no JavaScript) posts as before, every time."""
    client.post("/posts/new", data=form(submission_key=None))
    client.post(
        "/posts/new", data=form(submission_key="", business="Corner Bakery", new_business_name=None)
    )
    assert count(Post) == 2


@pytest.mark.parametrize(
    "key",
    ["not a key", "x" * 65, "<script>", "abc\n", "ключ"],
    ids=["spaces", "too-long", "markup", "newline", "non-ascii"],
)
def test_a_broken_key_is_a_422_with_every_word_kept(client, signed_in_alice, key):
    """A malformed key posts nothing, says so, and keeps the text (with a key left blank)."""
    response = client.post("/posts/new", data=form(submission_key=key))
    assert response.status_code == 422
    assert count(Post) == 0
    assert STORY in response.text
    assert "That form came with a broken key. Post it again." in response.text
    assert re.search(r'name="submission_key" value=""', response.text)


def test_a_validation_error_keeps_the_key_for_the_next_try(client, signed_in_alice):
    """After a 422 the same draft keeps its key, so posting it then still makes one post."""
    response = client.post("/posts/new", data=form(body=""))
    assert response.status_code == 422
    assert f'name="submission_key" value="{KEY}"' in response.text
    assert count(Post) == 0


def test_a_race_on_the_same_key_ends_at_the_first_post(client, signed_in_alice, monkeypatch):
    """Two requests that both pass the check: the second loses on the constraint, not with a 500."""
    client.post("/posts/new", data=form())
    [post_id] = post_ids()
    real = submissions.earlier_post
    calls = []

    def miss_once(author, key):
        """Miss the earlier post the first time, as a request racing the first one would."""
        calls.append(key)
        return None if len(calls) == 1 else real(author, key)

    monkeypatch.setattr(submissions, "earlier_post", miss_once)
    response = client.post(
        "/posts/new", data=form(business="Corner Bakery", new_business_name=None)
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/posts/{post_id}"
    assert post_ids() == [post_id]
    assert len(calls) == 2


def test_one_post_and_one_status_when_sent_twice(client, connected, make_business, fake_mastodon):
    """Sent twice with crossposting on, one crosspost row is made and one status posted."""
    shop = make_business("Corner Bakery")
    data = compose_form(shop, submission_key=KEY)
    assert client.post("/posts/new", data=data).status_code == 302
    assert client.post("/posts/new", data=data).status_code == 302
    assert count(Post) == 1 and count(Crosspost) == 1
    run_queued_tasks()
    assert len(fake_mastodon.statuses) == 1


def test_a_fresh_csrf_token_sends_a_waiting_post(client, signed_in_alice, csrf_app):
    """The outbox takes a new token from /csrf-token, and the post goes through with it."""
    info = client.get("/csrf-token")
    assert info.status_code == 200
    assert info.headers["Cache-Control"] == "no-store"
    assert info.json["user"] == str(signed_in_alice.id)
    refused = client.post("/posts/new", data=form(), headers={"Accept": "application/json"})
    assert refused.status_code == 400
    response = client.post(
        "/posts/new",
        data=form(csrf_token=info.json["csrf_token"]),
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200 and response.json["url"].startswith("/posts/")


def test_the_csrf_token_endpoint_says_nobody_is_signed_in(client):
    """Signed out, the outbox learns it must wait for a log-in."""
    assert client.get("/csrf-token").json["user"] is None


# --- Sharing into the app ---


def test_text_shared_from_another_app_fills_the_story(client, signed_in_alice):
    """The share sheet opens compose with the shared text and link in the story."""
    response = client.get(
        "/posts/new?"
        + "&".join(
            f"{k}={quote(v)}"
            for k, v in {
                "title": "Corner Bakery",
                "text": "Best croissants in town",
                "url": "https://cornerbakery.example/",
            }.items()
        )
    )
    assert response.status_code == 200
    assert "Best croissants in town\nhttps://cornerbakery.example/</textarea>" in response.text


@pytest.mark.parametrize(
    ("shared", "story"),
    [
        (
            {"text": "Look https://a.example/x", "url": "https://a.example/x"},
            "Look https://a.example/x",
        ),
        ({"title": "A page", "url": "https://a.example/"}, "A page\nhttps://a.example/"),
        ({"url": "https://a.example/"}, "https://a.example/"),
        ({"title": "  ", "text": "\u200b"}, ""),
        ({"text": "x" * 5000}, "x" * 1000),
    ],
    ids=["link-in-text", "title-and-link", "link-only", "blank", "huge"],
)
def test_shared_story(shared, story):
    """A shared link isn't repeated, blank shares add nothing, and huge ones are cut."""
    assert shared_story(shared) == story


# --- Installable ---


def test_the_manifest_describes_an_installable_app_with_a_share_target(client):
    """The manifest is valid JSON with what Android and iOS need, and a share target."""
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.data)
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["theme_color"] == "#13795b"
    assert manifest["share_target"] == {
        "action": "/posts/new",
        "method": "GET",
        "params": {"title": "title", "text": "text", "url": "url"},
    }
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as image:
            assert image.status_code == 200 and image.mimetype == "image/png"
            with Image.open(BytesIO(image.data)) as png:
                assert "{}x{}".format(*png.size) == icon["sizes"]


def test_the_apple_touch_icon_is_an_opaque_180px_square():
    """iOS shows transparency as black, so the home-screen icon has none."""
    with Image.open(STATIC / "icons" / "apple-touch-icon.png") as image:
        assert image.size == (180, 180) and image.mode == "RGB"


def test_every_page_links_the_manifest_icon_and_app_script(client):
    """The head names the manifest, the iOS icon, the theme colour and the app script."""
    page = client.get("/").text
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert re.search(
        r'<link rel="apple-touch-icon" href="/static/icons/apple-touch-icon.png[?"]', page
    )
    assert '<meta name="theme-color" content="#13795b">' in page
    assert re.search(r'<script src="/static/app.js[?][^"]*" defer data-sw="/sw.js"', page)


def test_the_service_worker_is_served_from_the_root_and_never_stale(client):
    """/sw.js is JavaScript, checked on every visit, and caches the shell and offline page."""
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert "no-cache" in response.headers["Cache-Control"]
    script = response.text
    assert 'const OFFLINE = "/offline";' in script
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", script).group(1))
    for url in shell:
        with client.get(url) as kept:
            assert kept.status_code == 200, url
    paths = {url.split("?")[0] for url in shell}
    assert {"/static/style.css", "/static/app.js", "/static/icons/icon-192.png"} <= paths
    assert 'request.method !== "GET"' in script  # form posts pass straight through


def test_the_offline_page_is_the_same_for_everyone(client, signed_in_alice):
    """The offline page carries no one's name, form or token."""
    response = client.get("/offline")
    assert response.status_code == 200
    assert "You're offline" in response.text
    assert "csrf_token" not in response.text and "alice" not in response.text


# --- Sharing out ---


def enc(value: str) -> str:
    """Percent-encode a query value whole, as the share links do (spaces as %20)."""
    return quote(value, safe="")


def share_hrefs(html: str) -> dict[str, str]:
    """Return the share links on a page by their label."""
    section = re.search(r'<section class="share".*?</section>', html, re.S)
    assert section, "no share links on the page"
    links = re.findall(r'<a class="button" href="([^"]+)"[^>]*>([^<]+)</a>', section.group(0))
    return {label: href.replace("&amp;", "&") for href, label in links}


def test_a_public_post_has_share_links_and_a_private_one_none(
    client, signed_in_alice, make_business, make_post
):
    """Public posts offer plain share links, properly encoded; private ones offer none."""
    shop = make_business("Bread & Butter")
    post = make_post(signed_in_alice, shop)
    page = client.get(f"/posts/{post.id}").text
    url = f"http://praisewall.test/posts/{post.id}"
    text = "Praise for Bread & Butter on Praisewall"
    links = share_hrefs(page)
    assert links == {
        "Mastodon": "/share/mastodon?text=" + enc(f"{text} {url}"),
        "Bluesky": "https://bsky.app/intent/compose?text=" + enc(f"{text} {url}"),
        "X": f"https://x.com/intent/post?text={enc(text)}&url={enc(url)}",
        "Facebook": f"https://www.facebook.com/sharer/sharer.php?u={enc(url)}",
        "LinkedIn": f"https://www.linkedin.com/sharing/share-offsite/?url={enc(url)}",
        "Email": f"mailto:?subject={enc(text)}&body={enc(text + chr(10) * 2 + url)}",
    }
    assert f'value="{url}"' in page and "data-share" in page and "data-copy" in page
    assert 'rel="noopener noreferrer"' in page
    private = make_post(signed_in_alice, shop, is_on_wall=False)
    assert '<section class="share"' not in client.get(f"/posts/{private.id}").text


def test_challenge_progress_shares_the_profile_and_shows_its_card(
    client, signed_in_alice, make_business, make_post
):
    """The challenge page shares the public profile and shows the progress card."""
    make_post(signed_in_alice, make_business("Corner Bakery"))
    page = client.get("/challenge").text
    links = share_hrefs(page)
    profile = "http://praisewall.test/u/alice"
    assert links["Facebook"] == f"https://www.facebook.com/sharer/sharer.php?u={enc(profile)}"
    assert parse_qs(urlsplit(links["X"]).query) == {
        "text": ["I have praised 1 of 3 businesses in public in the three-praise challenge"],
        "url": [profile],
    }
    assert 'src="/u/alice/challenge.png"' in page


def test_share_to_my_own_mastodon_server(client):
    """The share page asks for the server, then sends the browser there with the text."""
    page = client.get("/share/mastodon?text=Hello%20%26%20thanks")
    assert page.status_code == 200
    assert "form-action 'self' https:" in page.headers["Content-Security-Policy"]
    assert 'value="Hello &amp; thanks"' in page.text
    response = client.get(
        "/share/mastodon?server=%40alice%40Social.Example&text=Hello%20%26%20thanks",
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://social.example/share?text=Hello%20%26%20thanks"


def test_a_share_link_from_elsewhere_shows_where_it_leads(client):
    """Not from our own form, it is no blind redirect: the page names the server first."""
    response = client.get(
        "/share/mastodon?server=social.example&text=Hi", headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 200
    assert (
        '<a class="button primary wide" href="https://social.example/share?text=Hi"'
        in response.text
    )
    assert "Continue to social.example" in response.text


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("", "Enter your server, like mastodon.social."),
        ("not a server", "That doesn't look like a server name. Try mastodon.social."),
        ("mastodon", "A server name has a dot in it"),
        ("javascript:alert(1)", "That server address has a broken port number."),
        ("http://social.example", "Mastodon servers are reached over https only."),
    ],
)
def test_share_to_mastodon_refuses_what_is_not_a_server(client, server, message):
    """Anything but a server name is a 422 with a plain reason, and the text is kept."""
    response = client.get(
        "/share/mastodon",
        query_string={"server": server, "text": "Hello"},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 422
    assert message in page_text(response)
    assert 'value="Hello"' in response.text


def test_share_to_mastodon_suggests_my_connected_server(client, connected, fake_mastodon):
    """A person connected to Mastodon finds their server already filled in."""
    page = client.get("/share/mastodon?text=Hi")
    assert f'value="{urlsplit(fake_mastodon.url).netloc}"' in page.text
