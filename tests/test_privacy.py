"""Leaving: deleting my account revokes Mastodon access, can delete my statuses there, and leaves
nothing of mine on any wall, feed, badge, embed, card, API answer or cached page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import (
    FAR_FUTURE,
    PASSWORD,
    AuthActions,
    mastodon_sign_in,
    run_queued_tasks,
    send,
    submit,
)
from helpers import count, page_text
from mastodon import Mastodon, MastodonUnauthorizedError

from webapp import tasks
from webapp.extensions import db, limiter
from webapp.infra import crypto
from webapp.infra.queue import huey
from webapp.models import (
    Business,
    Crosspost,
    CrosspostState,
    MailMessage,
    MastodonAccount,
    Post,
    User,
    utcnow,
)

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
def sent(client, connected, bakery_with_handle, make_user, make_post):
    """Alice's two crossposted praise posts (sent), and Bob's praise of the same bakery."""
    rows = [send(client, bakery_with_handle, body=words) for words in ALICE_WORDS]
    make_post(make_user("bob"), bakery_with_handle, body=BOB_WORDS)
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
    """Ticked: every status we posted goes from Mastodon, in the background, then our token."""
    token = alice_token(connected)
    assert [s["deleted"] for s in fake_mastodon.statuses] == [False, False]

    page = leave(client, delete_statuses="y")

    assert "Your statuses on Mastodon are being deleted" in page_text(page)
    assert "2 in all" in page_text(page)
    assert count(User) == 1  # only Bob
    assert count(Post) == 1
    account = db.session.scalars(sa.select(MastodonAccount)).one()
    assert account.user_id is None
    assert token_works(fake_mastodon, token)

    run_queued_tasks()
    run_queued_tasks()  # the farewell ends once the last status is gone

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
    page = leave(client)
    assert "being deleted" not in page_text(page)
    assert [s["deleted"] for s in fake_mastodon.statuses] == [False, False]
    assert not token_works(fake_mastodon, token)
    assert count(MastodonAccount) == 0
    assert count(Crosspost) == 0
    assert run_queued_tasks() == 0


@pytest.fixture
def no_rate_limit(monkeypatch):
    """Let one person post dozens of times in a row."""
    monkeypatch.setattr(limiter, "enabled", False)


def sent_many(client, bakery_with_handle, how_many: int) -> None:
    """Send this many crossposted praise posts, delivering them as one batch."""
    for number in range(how_many):
        submit(client, bakery_with_handle, body=f"Alice's praise number {number}")
    run_queued_tasks()
    states = db.session.scalars(sa.select(Crosspost.state)).all()
    assert states == [CrosspostState.SENT] * how_many


def run_due_deletions() -> int:
    """Move every deletion's next attempt back to now, then run all queued and scheduled tasks."""
    db.session.execute(sa.update(Crosspost).values(next_attempt_at=utcnow()))
    db.session.commit()
    ran = 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task, timestamp=FAR_FUTURE)
        ran += 1
    for task in huey.read_schedule(FAR_FUTURE):
        huey.execute(task, timestamp=FAR_FUTURE)
        ran += 1
    db.session.expire_all()
    return ran


def test_all_statuses_go_within_the_rate_limit_then_access_ends(
    app, client, connected, bakery_with_handle, fake_mastodon, no_rate_limit
):
    """40 statuses: 30 go at once, the rest after the limit resets, backing off on a 429;
    then the token is revoked and the connection forgotten. Nothing waits on the page."""
    sent_many(client, bakery_with_handle, 40)
    token = alice_token(connected)
    slug = bakery_with_handle.slug

    text = page_text(leave(client, delete_statuses="y"))

    assert "up to 30 every half hour (Mastodon's limit), 40 in all" in text
    visitor = app.test_client()
    for url in public_urls(slug):
        assert "Alice's praise" not in visitor.get(url).text, url
    assert count(Post) == 0
    assert not any(s["deleted"] for s in fake_mastodon.statuses)  # nothing while they waited

    run_queued_tasks()  # the first batch is due now; the rest wait for the next window
    assert sum(s["deleted"] for s in fake_mastodon.statuses) == 30
    waiting = db.session.scalars(sa.select(Crosspost)).all()
    assert len(waiting) == 10
    assert all(row.next_attempt_at > utcnow() + timedelta(minutes=29) for row in waiting)
    assert token_works(fake_mastodon, token)

    # The server still counts deletions made elsewhere: it refuses, and says when to come back.
    reset = utcnow() + timedelta(minutes=20)
    fake_mastodon.fail_next(
        "DELETE",
        "/api/v1/statuses/",
        429,
        times=10,
        headers={
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    )
    run_due_deletions()
    waiting = db.session.scalars(sa.select(Crosspost)).all()
    assert len(waiting) == 10
    assert all(row.state == CrosspostState.DELETING for row in waiting)
    assert all(row.next_attempt_at >= reset - timedelta(seconds=1) for row in waiting)
    assert sum(s["deleted"] for s in fake_mastodon.statuses) == 30
    assert count(MastodonAccount) == 1

    run_due_deletions()
    run_queued_tasks()

    assert all(s["deleted"] for s in fake_mastodon.statuses)
    assert not token_works(fake_mastodon, token)
    assert count(MastodonAccount) == 0
    assert count(Crosspost) == 0


def test_signing_up_again_during_the_farewell_takes_the_connection_over(
    app, client, connected, bakery_with_handle, fake_mastodon, no_rate_limit
):
    """Back with the same Mastodon account mid-farewell: the new account takes it over."""
    sent_many(client, bakery_with_handle, 35)
    old_id = connected.id
    leave(client, delete_statuses="y")
    run_queued_tasks()
    assert sum(s["deleted"] for s in fake_mastodon.statuses) == 30

    response = mastodon_sign_in(client, fake_mastodon)

    assert response.status_code == 302, response.text
    newcomer = db.session.scalars(sa.select(User)).one()
    assert newcomer.id != old_id  # a new account, even if the name is free again
    account = db.session.scalars(sa.select(MastodonAccount)).one()
    assert account.user_id == newcomer.id
    assert count(Crosspost) == 5

    run_due_deletions()
    run_queued_tasks()

    assert all(s["deleted"] for s in fake_mastodon.statuses)
    assert count(Crosspost) == 0
    assert db.session.scalars(sa.select(MastodonAccount)).one().user_id == newcomer.id
    assert token_works(fake_mastodon, alice_token(newcomer))
    assert ("POST", "/oauth/revoke") not in [
        (r["method"], r["path"]) for r in fake_mastodon.requests
    ]


def test_connecting_from_settings_during_the_farewell_takes_the_connection_over(
    app, client, connected, bakery_with_handle, fake_mastodon, make_user, no_rate_limit
):
    """Someone signed in with a password may connect the account a deleted user left behind."""
    sent_many(client, bakery_with_handle, 35)
    leave(client, delete_statuses="y")
    run_queued_tasks()
    bob = make_user("bob")
    AuthActions(client).login("bob")

    response = mastodon_sign_in(client, fake_mastodon)

    assert response.status_code == 302, response.text
    assert "connected to another Praisewall account" not in page_text(
        client.get(response.headers["Location"])
    )
    assert db.session.scalars(sa.select(MastodonAccount)).one().user_id == bob.id
    run_due_deletions()
    run_queued_tasks()
    assert all(s["deleted"] for s in fake_mastodon.statuses)


def test_a_server_that_no_longer_knows_us_does_not_stop_leaving(
    client, connected, sent, fake_mastodon
):
    """With the token already revoked on the server, the account still goes, and the worker
    drops the deletions it can't make and forgets the connection."""
    fake_mastodon.revoke_tokens("alice")
    text = page_text(leave(client, delete_statuses="y"))
    assert "Your account and your posts are gone." in text
    assert count(User) == 1

    run_queued_tasks()
    run_queued_tasks()

    assert [s["deleted"] for s in fake_mastodon.statuses] == [False, False]
    assert count(Crosspost) == 0
    assert count(MastodonAccount) == 0


def test_the_sweep_ends_a_farewell_whose_message_was_lost(client, connected, sent, fake_mastodon):
    """If the queue loses the messages, the sweep finds the deletions and then the farewell."""
    token = alice_token(connected)
    leave(client, delete_statuses="y")
    while huey.dequeue() is not None:
        pass  # lost
    db.session.execute(sa.update(Crosspost).values(next_attempt_at=utcnow() - timedelta(hours=1)))
    db.session.commit()

    tasks.sweep.call_local()
    run_queued_tasks()
    tasks.sweep.call_local()  # as if the message ending the farewell had been lost too
    run_queued_tasks()

    assert [s["deleted"] for s in fake_mastodon.statuses] == [True, True]
    assert not token_works(fake_mastodon, token)
    assert count(MastodonAccount) == 0


def test_the_checkbox_shows_only_with_a_connected_account(client, connected, make_user, auth):
    """The settings page offers deleting statuses to people with a Mastodon account."""
    assert "Also delete my statuses on Mastodon" in page_text(client.get("/settings"))
    auth.logout()
    make_user("carol")
    auth.login("carol")
    assert "Also delete my statuses on Mastodon" not in page_text(client.get("/settings"))


def test_nothing_of_mine_remains_anywhere_public_or_cached(
    app, client, connected, sent, bakery_with_handle, fake_mastodon
):
    """Walls, feeds, badge, embed, cards and the API drop my posts and count them no more;
    a cache holding an old copy gets a new page, not a 304."""
    slug = bakery_with_handle.slug
    post_ids = [row.post_id for row in sent]
    visitor = app.test_client()
    before = {}
    for url in public_urls(slug):
        response = visitor.get(url)
        assert response.status_code == 200, url
        before[url] = response
    assert any(ALICE_WORDS[0] in r.text for r in before.values())
    assert db.session.get(Business, bakery_with_handle.id).praise_count == 3
    for post_id in post_ids:
        assert visitor.get(f"/posts/{post_id}/card.png").status_code == 200

    leave(client, delete_statuses="y")

    db.session.expire_all()
    assert db.session.get(Business, bakery_with_handle.id).praise_count == 1
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
    # Only what the worker needs to delete the statuses stays, tied to no post and no person.
    assert not db.session.scalars(sa.select(Crosspost).where(Crosspost.post_id.is_not(None))).all()
    assert db.session.scalars(sa.select(MastodonAccount.user_id)).all() == [None]
    run_queued_tasks()
    run_queued_tasks()
    assert count(Crosspost) == 0
    assert count(MastodonAccount) == 0


def test_leaving_deletes_my_email_address_and_my_mail(client, make_user):
    """My address, confirmed or not, and every message to it, sent or waiting, go with me."""
    user = make_user("alice")
    AuthActions(client).login()
    user.email = "alice@example.com"
    db.session.commit()
    assert (
        client.post(
            "/settings/email", data={"email": "alice@new.example", "password": PASSWORD}
        ).status_code
        == 302
    )
    assert count(MailMessage) == 2
    leave(client)
    db.session.expire_all()
    assert count(MailMessage) == 0
    assert db.session.scalar(sa.select(sa.func.count()).where(User.email.is_not(None))) == 0
    assert db.session.scalar(sa.select(sa.func.count()).where(User.new_email.is_not(None))) == 0
