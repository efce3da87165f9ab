"""Leaving: deleting my account revokes Mastodon access, can delete my statuses there, and leaves
nothing of mine on any wall, feed, badge, embed, card, API answer or cached page."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, send
from helpers import count, page_text
from mastodon import Mastodon, MastodonUnauthorizedError

from webapp import crypto
from webapp.extensions import db
from webapp.models import Business, Crosspost, MastodonAccount, Post, User
from webapp.services import accounts

ALICE_WORDS = ("Alice thanks the bakers", "Alice loves the rye")
BOB_WORDS = "Bob's praise stays."


def public_urls(slug: str) -> list[str]:
    """Return every public place a post or a business's numbers show up."""
    return [
        "/wall",
        f"/b/{slug}",
        f"/b/{slug}/embed",
        f"/b/{slug}/badge.svg",
        "/wall/feed.atom",
        f"/b/{slug}/feed.atom",
        "/api/v1/wall",
        f"/api/v1/businesses/{slug}",
        f"/api/v1/businesses/{slug}/posts",
    ]


def token_works(fake, token: str) -> bool:
    """Tell whether the fake server still accepts this access token."""
    client = Mastodon(access_token=token, api_base_url=fake.url, request_timeout=5)
    try:
        client.account_verify_credentials()
    except MastodonUnauthorizedError:
        return False
    return True


@pytest.fixture
def bakery(make_business):
    """Return a business with a Mastodon handle, so statuses mention it."""
    return make_business("Corner Bakery", handle="@support@cornerbakery.example")


@pytest.fixture
def sent(client, connected, bakery, make_user, make_post):
    """Alice's two crossposted praise posts (sent), and Bob's praise of the same bakery."""
    rows = [send(client, bakery, body=words) for words in ALICE_WORDS]
    make_post(make_user("bob"), bakery, body=BOB_WORDS)
    return rows


def alice_token(user: User) -> str:
    """Return Alice's Mastodon access token, decrypted."""
    return crypto.decrypt(user.mastodon_account.access_token)


def leave(client, **fields: str):
    """Delete the account through the settings form; return the page shown afterwards."""
    response = client.post("/settings/delete", data={"password": PASSWORD, **fields})
    assert response.status_code == 302, response.text
    return client.get("/")


def test_deleting_with_statuses_deletes_them_on_mastodon_then_revokes(
    client, connected, sent, fake_mastodon
):
    """Ticked: every status we posted goes from Mastodon, then our token stops working."""
    token = alice_token(connected)
    assert [s["deleted"] for s in fake_mastodon.statuses] == [False, False]

    page = leave(client, delete_statuses="y")

    assert "We deleted 2 of your statuses on Mastodon." in page_text(page)
    assert [s["deleted"] for s in fake_mastodon.statuses] == [True, True]
    assert not token_works(fake_mastodon, token)
    methods = [(r["method"], r["path"]) for r in fake_mastodon.requests]
    last_delete = max(i for i, m in enumerate(methods) if m[0] == "DELETE")
    assert methods.index(("POST", "/oauth/revoke")) > last_delete  # token used, then revoked
    assert count(MastodonAccount) == 0
    assert count(Crosspost) == 0


def test_deleting_without_statuses_leaves_them_but_revokes(client, connected, sent, fake_mastodon):
    """Unticked: the statuses stay on Mastodon (that account is theirs), but our access ends."""
    token = alice_token(connected)
    leave(client)
    assert [s["deleted"] for s in fake_mastodon.statuses] == [False, False]
    assert not token_works(fake_mastodon, token)
    assert count(MastodonAccount) == 0
    assert count(Crosspost) == 0


def test_statuses_beyond_the_limit_are_reported(
    client, connected, sent, fake_mastodon, monkeypatch
):
    """Only a bounded number are deleted while the person waits; the rest are named."""
    monkeypatch.setattr(accounts, "STATUS_DELETE_LIMIT", 1)
    text = page_text(leave(client, delete_statuses="y"))
    assert "We deleted 1 of your statuses on Mastodon." in text
    assert "1 of the statuses we posted for you are still on Mastodon" in text
    assert f"{fake_mastodon.url}/@alice" in text
    assert sorted(s["deleted"] for s in fake_mastodon.statuses) == [False, True]
    assert count(User) == 1  # only Bob


def test_a_server_that_no_longer_knows_us_does_not_stop_leaving(
    client, connected, sent, fake_mastodon
):
    """With the token already revoked on the server, the account still goes; statuses are named."""
    fake_mastodon.revoke_tokens("alice")
    text = page_text(leave(client, delete_statuses="y"))
    assert "Your account and your posts are gone." in text
    assert "2 of the statuses we posted for you are still on Mastodon" in text
    assert count(User) == 1
    assert count(Crosspost) == 0


def test_the_checkbox_shows_only_with_a_connected_account(client, connected, make_user, auth):
    """The settings page offers deleting statuses to people with a Mastodon account."""
    assert "Also delete my statuses on Mastodon" in page_text(client.get("/settings"))
    auth.logout()
    make_user("carol")
    auth.login("carol")
    assert "Also delete my statuses on Mastodon" not in page_text(client.get("/settings"))


def test_nothing_of_mine_remains_anywhere_public_or_cached(
    app, client, connected, sent, bakery, fake_mastodon
):
    """Walls, feeds, badge, embed, cards and the API drop my posts and count them no more;
    a cache holding an old copy gets a new page, not a 304."""
    slug = bakery.slug
    post_ids = [row.post_id for row in sent]
    visitor = app.test_client()
    before = {}
    for url in public_urls(slug):
        response = visitor.get(url)
        assert response.status_code == 200, url
        before[url] = response
    assert any(ALICE_WORDS[0] in r.text for r in before.values())
    assert db.session.get(Business, bakery.id).praise_count == 3
    for post_id in post_ids:
        assert visitor.get(f"/posts/{post_id}/card.png").status_code == 200

    leave(client, delete_statuses="y")

    db.session.expire_all()
    assert db.session.get(Business, bakery.id).praise_count == 1
    assert count(Post) == 1
    for url, old in before.items():
        headers = {"If-None-Match": old.headers["ETag"]} if old.headers.get("ETag") else {}
        if old.headers.get("Last-Modified"):
            headers["If-Modified-Since"] = old.headers["Last-Modified"]
        response = visitor.get(url, headers=headers)
        assert response.status_code == 200, url  # revalidated to a new page, not a 304
        assert response.get_data() != old.get_data(), url
        for words in ALICE_WORDS:
            assert words not in response.text, url
        assert "alice" not in response.text.lower(), url
    assert BOB_WORDS in visitor.get(f"/b/{slug}").text.replace("&#39;", "'")
    for post_id in post_ids:
        assert visitor.get(f"/posts/{post_id}").status_code == 404
        assert visitor.get(f"/posts/{post_id}/card.png").status_code == 404
        assert visitor.get(f"/api/v1/posts/{post_id}").status_code == 404
    assert visitor.get("/u/alice").status_code == 404
    assert visitor.get("/u/alice/feed.atom").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Crosspost)) == 0
