"""Posting to Mastodon: the previewed status, counting, delivery exactly once, states, deletion.

Everything runs against the fake Mastodon server over loopback, through the real compose form
and the real queued tasks. The app here is served under a real top-level domain, as in
production, so the permalink in a status counts as a link on the user's server.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import grapheme
import pytest
import sqlalchemy as sa
from conftest import (
    BAKERY_HANDLE,
    AuthActions,
    compose_form,
    mastodon_sign_in,
    run_queued_tasks,
    send,
    submit,
)
from cryptography.fernet import Fernet, MultiFernet
from fake_mastodon import FakeMastodon, countable_length
from mastodon import Mastodon

from webapp import tasks
from webapp.extensions import db
from webapp.infra.queue import huey
from webapp.models import (
    Crosspost,
    CrosspostState,
    Kind,
    MastodonAccount,
    Post,
    User,
    utcnow,
)
from webapp.networks import rows
from webapp.networks.mastodon import client as mastodon
from webapp.networks.mastodon import text as status_text
from webapp.networks.mastodon.servers import parse_server
from webapp.networks.mastodon.text import status_length
from webapp.services import challenge

SITE = "praisewall.example.com"
HANDLE = BAKERY_HANDLE  # the `bakery_with_handle` fixture's
BUSINESS_ACCT = "support@cornerbakery.example"
FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one grapheme made of seven code points


@pytest.fixture
def app(make_app):
    """Return the app under test, served under a real top-level domain, context pushed."""
    app = make_app(SERVER_NAME=SITE)
    with app.app_context():
        yield app


@pytest.fixture
def make_fake() -> Iterator[Callable[..., FakeMastodon]]:
    """Return a factory for extra fake servers (with alice and the bakery), stopped afterwards."""
    started: list[FakeMastodon] = []

    def factory(**limits) -> FakeMastodon:
        fake = FakeMastodon(**limits).start()
        started.append(fake)
        fake.add_account("alice", display_name="Alice")
        fake.add_account("support", domain="cornerbakery.example", display_name="Corner Bakery")
        return fake

    yield factory
    for fake in started:
        fake.stop()


@pytest.fixture
def connect_alice(client, make_user) -> Callable[[FakeMastodon], User]:
    """Return a helper that logs alice in with a password and connects her on a given fake."""

    def connect(fake: FakeMastodon) -> User:
        user = make_user("alice")
        AuthActions(client).login()
        assert mastodon_sign_in(client, fake).status_code == 302
        db.session.refresh(user)
        return user

    return connect


def permalink(row: Crosspost) -> str:
    """Return the public address of the row's post."""
    return f"http://{SITE}/posts/{row.post_id}"


def status_requests(fake: FakeMastodon) -> list[dict]:
    """Return every attempt to create a status that reached the fake."""
    return [r for r in fake.requests if r["method"] == "POST" and r["path"] == "/api/v1/statuses"]


def live_statuses(fake: FakeMastodon) -> list[dict]:
    """Return the statuses on the fake that were not deleted."""
    return [s for s in fake.statuses if not s["deleted"]]


def words(page: str) -> str:
    """Return a page's visible text, tags dropped and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def crosspost_box(page: str) -> str:
    """Return the HTML of the crosspost state box on a page."""
    match = re.search(r'<div class="crosspost crosspost-\w+">.*?</div>', page, re.S)
    assert match, "no crosspost state on the page"
    return match.group(0)


def preview_of(page: str) -> tuple[str, int, int]:
    """Return the previewed status text, its count and the limit from a compose page."""
    text = re.search(r'<pre class="status-text">(.*?)</pre>', page, re.S)
    count = re.search(r'<output id="status-count">(\d+)</output> / (\d+) characters', page)
    assert text and count, "no status preview on the page"
    return html.unescape(text.group(1)), int(count.group(1)), int(count.group(2))


def run_retries(times: int = 1) -> None:
    """Run the queue, including retries scheduled for later, this many times."""
    for _ in range(times):
        run_queued_tasks(scheduled=True)


# --- The preview is the status ---


@pytest.mark.parametrize(
    ("kind", "hashtag", "spoiler"),
    [
        ("praise", "#CustomerServiceWin", ""),
        ("complaint", "#CustomerService", ""),
        ("praise", "#CustomerServiceWin", "food talk"),
    ],
)
def test_preview_is_exactly_what_the_server_receives(
    client, connect_alice, make_fake, bakery_with_handle, kind, hashtag, spoiler
):
    """The compose preview shows the status the server then gets, counted by its own limits."""
    fake = make_fake(max_characters=1000, characters_reserved_per_url=30)
    connect_alice(fake)
    body = (
        "Fresh bread at seven, and the order page "
        "https://cornerbakery.example.com/orders/2026/11/23/sourdough-and-rye just worked."
    )
    fields = {"kind": kind, "body": body, "spoiler_text": spoiler}
    page = client.post(
        "/posts/new", data=compose_form(bakery_with_handle, **fields, happened_on="")
    )
    assert page.status_code == 422
    shown, count, limit = preview_of(page.text)
    assert limit == 1000
    assert shown == f"{body}\n\n{HANDLE} {hashtag}\nhttp://{SITE}/posts/new"
    assert f"{HANDLE} will be mentioned" in page.text

    row = submit(client, bakery_with_handle, **fields)
    run_queued_tasks()
    (status,) = fake.statuses
    assert status["status"] == shown.replace(f"http://{SITE}/posts/new", permalink(row))
    assert status["spoiler_text"] == spoiler
    assert count == countable_length(status["status"], spoiler, characters_reserved_per_url=30)


def test_preview_counts_against_the_users_own_server(
    client, connect_alice, make_fake, bakery_with_handle
):
    """A server with a 1000-character limit and 30-character links is what the count uses."""
    connect_alice(make_fake(max_characters=1000, characters_reserved_per_url=30))

    def preview_for(body: str) -> tuple[str, int, int]:
        page = client.post(
            "/posts/new", data=compose_form(bakery_with_handle, body=body, happened_on="")
        )
        assert 'data-max="1000"' in page.text and 'data-url-length="30"' in page.text
        return preview_of(page.text)

    _, plain, limit = preview_for("Lovely.")
    _, linked, _ = preview_for("Lovely. https://cornerbakery.example.com/a/rather/long/path/indeed")
    assert limit == 1000
    assert linked - plain == len(" ") + 30


def test_server_limits_are_fetched_once_and_cached(
    client, connect_alice, make_fake, bakery_with_handle
):
    """The instance's limits are read when connecting, not on every compose or delivery."""
    fake = make_fake(max_characters=1000)
    connect_alice(fake)
    for _ in range(3):
        assert "/ 1000 characters" in client.get("/posts/new").text
    send(client, bakery_with_handle)
    fetches = [r for r in fake.requests if r["path"] == "/api/v2/instance"]
    assert len(fetches) == 1


def test_unknown_server_limits_fall_back_to_500_and_23(
    client, connect_alice, make_fake, bakery_with_handle
):
    """When the server won't tell its limits, the stock 500 characters and 23 per link apply."""
    fake = make_fake(max_characters=1000, characters_reserved_per_url=30)
    fake.fail_next("GET", "/api/v2/instance", 500)
    connect_alice(fake)
    page = client.get(f"/posts/new?business={bakery_with_handle.slug}").text
    assert preview_of(page)[2] == 500
    assert 'data-url-length="23"' in page


# --- Counting characters as Mastodon does ---


@pytest.mark.parametrize(
    ("text", "spoiler", "url_length", "expected"),
    [
        (
            "see https://example.com/a/very/long/path/that/is/longer/than/twentythree?x=1 ok",
            "",
            23,
            30,
        ),
        (
            "see https://example.com/a/very/long/path/that/is/longer/than/twentythree?x=1 ok",
            "",
            30,
            37,
        ),
        ("short https://a.co", "", 23, 29),
        ("(see https://example.com/x).", "", 23, 30),
        ("example.com counts as typed", "", 23, 27),
        ("hi @support@brand.example thanks", "", 23, 18),
        ("@Support@Brand.Example", "", 23, 8),
        ("@alice is local", "", 23, 15),
        ("mail foo@bar.com", "", 23, 16),
        (FAMILY, "", 23, 1),
        ("👍🏽🇫🇷", "", 23, 2),
        ("e\u0301 and n\u0303", "", 23, 7),
        ("Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356", "", 23, 2),
        ("x", "cw", 23, 3),
        ("café", f"spoiler {FAMILY}", 23, 13),
    ],
)
def test_status_length_counts_like_the_server(text, spoiler, url_length, expected):
    """Links count as the server's URL length, remote mentions as @user, graphemes as one."""
    assert status_length(text, spoiler, url_length) == expected
    assert countable_length(text, spoiler, characters_reserved_per_url=url_length) == expected


def compose(body: str, *, limit: int, spoiler: str = "", handle: str | None = HANDLE, **kw):
    """Compose a praise status for the bakery with a given limit."""
    return status_text.compose(
        body,
        kind=Kind.PRAISE,
        business_name="Corner Bakery",
        handle=handle,
        link=f"http://{SITE}/posts/1",
        spoiler_text=spoiler,
        max_characters=limit,
        **kw,
    )


TAIL = f"{HANDLE} #CustomerServiceWin\nhttp://{SITE}/posts/1"


def test_status_exactly_at_the_limit_is_not_shortened():
    """A status that is exactly as long as the limit goes out whole."""
    body = "Kind words " * 20 + FAMILY
    full = f"{body.strip()}\n\n{TAIL}"
    status = compose(body, limit=status_length(full))
    assert status.text == full and not status.shortened and status.fits
    assert status.length == status.limit


@pytest.mark.parametrize(
    "body",
    [
        "Kind words " * 20 + "the end",
        FAMILY * 80,
        "e\u0301" * 150,
        "Look: https://cornerbakery.example.com/menu " * 10,
    ],
)
def test_one_over_the_limit_shortens_the_story_only(body):
    """One character over: the story gets "…", the handle, tags and link stay, nothing is split."""
    full = status_length(f"{body.strip()}\n\n{TAIL}")
    status = compose(body, limit=full - 1)
    assert status.shortened and status.fits
    assert status.length == status_length(status.text) <= full - 1
    story, end = status.text.split("\n\n", 1)
    assert end == TAIL
    assert story.endswith("…")
    kept = story.removesuffix("…")
    assert body.startswith(kept)
    # The cut falls between graphemes: the kept part is a whole number of them.
    assert grapheme.slice(body, 0, grapheme.length(kept)) == kept


def test_content_warning_counts_toward_the_limit():
    """A content warning takes room from the story, since the server counts it too."""
    body = "Kind words " * 30
    plain = compose(body, limit=200)
    warned = compose(body, limit=200, spoiler="a long content warning")
    assert plain.fits and warned.fits and warned.shortened
    assert warned.length == status_length(warned.text, "a long content warning") <= 200
    assert len(warned.text) < len(plain.text)


def test_long_post_is_accepted_by_a_small_server(
    client, connect_alice, make_fake, bakery_with_handle
):
    """A long story sent to a 100-character server goes out shortened, and the server takes it."""
    fake = make_fake(max_characters=100)
    connect_alice(fake)
    body = ("The baker remembered my name and my order. " * 12) + FAMILY * 5
    row = send(client, bakery_with_handle, body=body)
    (status,) = fake.statuses
    assert status["status"].endswith(f"…\n\n{HANDLE} #CustomerServiceWin\n{permalink(row)}")
    assert countable_length(status["status"]) <= 100
    assert [r["status"] for r in status_requests(fake)] == [200]


def test_too_long_even_shortened_is_refused_without_asking(
    client, connect_alice, make_fake, bakery_with_handle
):
    """When even the handle, tag and link don't fit, nothing is sent and the reason is shown."""
    fake = make_fake(max_characters=40)
    connect_alice(fake)
    row = submit(client, bakery_with_handle)
    run_queued_tasks(scheduled=True)
    assert row.state == CrosspostState.FAILED
    assert status_requests(fake) == []
    page = words(client.get(f"/posts/{row.post_id}").text)
    assert "Not sent: It is too long for your server, even shortened." in page


# --- Visibility, content warning, the business's handle ---


@pytest.mark.parametrize("visibility", ["public", "unlisted", "private", "direct"])
@pytest.mark.parametrize("spoiler", ["", "Bread talk"])
def test_visibility_and_content_warning_reach_the_server(
    client, connected, fake_mastodon, bakery_with_handle, visibility, spoiler
):
    """Each post's visibility and optional content warning are what the server stores."""
    send(client, bakery_with_handle, visibility=visibility, spoiler_text=spoiler)
    (status,) = fake_mastodon.statuses
    assert status["visibility"] == visibility
    assert status["spoiler_text"] == spoiler


def test_handle_is_resolved_through_the_users_server_first(
    client, connected, fake_mastodon, bakery_with_handle
):
    """The business's handle is looked up on the user's server before the status is posted."""
    row = send(client, bakery_with_handle)
    paths = [r["path"] for r in fake_mastodon.requests]
    lookup = paths.index("/api/v1/accounts/lookup")
    assert lookup < paths.index("/api/v1/statuses")
    assert fake_mastodon.requests[lookup]["query"]["acct"] == HANDLE.removeprefix("@")
    assert row.mention_resolved is True
    (status,) = fake_mastodon.statuses
    assert status["mentions"] == ["support@cornerbakery.example"]


def test_unresolvable_handle_names_the_business_in_plain_text(
    client, connected, fake_mastodon, make_business
):
    """A handle the server can't find becomes the business's name, and the permalink says so."""
    shop = make_business("Nowhere Shop", handle="@nobody@nowhere.example")
    row = send(client, shop)
    (status,) = fake_mastodon.statuses
    assert status["status"].endswith(f"\n\nNowhere Shop #CustomerServiceWin\n{permalink(row)}")
    assert "@nobody" not in status["status"]
    assert row.mention_resolved is False and row.next_reply_check_at is None
    page = words(client.get(f"/posts/{row.post_id}").text)
    assert (
        "We couldn't find @nobody@nowhere.example from your server, "
        "so the status names Nowhere Shop in plain text." in page
    )


# --- Delivery off the request path ---


def test_posting_commits_first_and_sends_later(
    client, connected, fake_mastodon, bakery_with_handle
):
    """The request saves the post and its crosspost and calls nobody; the worker sends it."""
    row = submit(client, bakery_with_handle)
    assert fake_mastodon.statuses == []
    assert [r for r in fake_mastodon.requests if r["path"].startswith("/api/v1/statuses")] == []
    assert row.state == CrosspostState.PENDING and row.post is not None
    box = words(crosspost_box(client.get(f"/posts/{row.post_id}").text))
    assert "Sending to Mastodon…" in box

    assert run_queued_tasks() == 1
    box = crosspost_box(client.get(f"/posts/{row.post_id}").text)
    assert "Sent to Mastodon." in words(box)
    assert f'href="{row.remote_url}"' in box
    assert row.remote_url == fake_mastodon.statuses[0]["url"]


def test_a_queue_that_is_down_loses_nothing(
    client, connected, fake_mastodon, bakery_with_handle, monkeypatch
):
    """If the queue refuses the message, the post is still saved and the sweep sends it."""

    def broken(*args, **kwargs):
        raise ConnectionError("queue is down")

    monkeypatch.setattr(huey.storage, "enqueue", broken)
    row = submit(client, bakery_with_handle)
    monkeypatch.undo()
    assert run_queued_tasks() == 0
    assert row.state == CrosspostState.PENDING and db.session.get(Post, row.post_id) is not None
    row.next_attempt_at = utcnow() - rows.STUCK_AFTER - timedelta(minutes=1)
    db.session.commit()
    tasks.sweep.call_local()
    run_queued_tasks()
    assert row.state == CrosspostState.SENT
    assert len(fake_mastodon.statuses) == 1


def test_a_retry_never_adopts_another_posts_status(
    client, connected, fake_mastodon, bakery_with_handle
):
    """Looking for an earlier attempt's status matches our exact link, not a longer one."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 503)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING
    # Another post's status, whose link starts with this post's link.
    token = fake_mastodon.create_token("alice")
    other = Mastodon(access_token=token, api_base_url=fake_mastodon.url).status_post(
        f"Another story\n{permalink(row)}7"
    )
    run_retries()
    assert row.state == CrosspostState.SENT
    assert row.remote_id != str(other.id)
    assert len(live_statuses(fake_mastodon)) == 2


def test_every_attempt_sends_the_same_idempotency_key(
    client, connected, fake_mastodon, bakery_with_handle
):
    """Retries carry the row's own key, fixed when the post was written."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 503, times=2)
    row = submit(client, bakery_with_handle)
    key = row.idempotency_key
    run_queued_tasks()
    run_retries(2)
    assert row.state == CrosspostState.SENT
    attempts = status_requests(fake_mastodon)
    assert [r["status"] for r in attempts] == [503, 503, 200]
    assert {r["headers"].get("Idempotency-Key") for r in attempts} == {key}
    assert len(fake_mastodon.statuses) == 1


def test_a_timeout_the_server_processed_makes_one_status(
    client, connected, fake_mastodon, bakery_with_handle, monkeypatch
):
    """The server made the status but answered too late: the retry finds it, never a second."""
    monkeypatch.setattr(mastodon, "TIMEOUT", 1)
    fake_mastodon.delay_next("POST", "/api/v1/statuses", 2)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING
    assert "Retrying: Your server didn't answer in time." in words(
        client.get(f"/posts/{row.post_id}").text
    )
    assert len(fake_mastodon.statuses) == 1  # it was made, though we never heard back

    run_retries()
    assert row.state == CrosspostState.SENT
    (status,) = fake_mastodon.statuses
    assert row.remote_id == status["id"]
    # The retry looked for the status first, found it, and adopted it instead of posting again.
    assert len(status_requests(fake_mastodon)) == 1
    assert any(
        r["path"].endswith("/statuses") and r["method"] == "GET" for r in fake_mastodon.requests
    )


def test_a_retry_after_the_idempotency_hour_makes_no_second_status(
    client, connected, fake_mastodon, bakery_with_handle, monkeypatch
):
    """A timed-out attempt the server processed, retried over an hour later, stays one status."""
    monkeypatch.setattr(mastodon, "TIMEOUT", 1)
    fake_mastodon.delay_next("POST", "/api/v1/statuses", 2)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING
    fake_mastodon.advance_clock(3601)
    run_retries()
    assert row.state == CrosspostState.SENT
    assert len(live_statuses(fake_mastodon)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_then_sent_once(
    client, connected, fake_mastodon, bakery_with_handle, status
):
    """A 5xx leaves the post retrying, with the reason shown, and the retry sends it once."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", status)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING and row.next_attempt_at > utcnow()
    page = words(client.get(f"/posts/{row.post_id}").text)
    assert f"Retrying: Your server had a problem ({status})." in page
    assert "Sending to Mastodon…" not in page
    run_retries()
    assert row.state == CrosspostState.SENT
    assert len(fake_mastodon.statuses) == 1


def test_rate_limit_waits_for_the_servers_reset(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A 429 is retried no sooner than the X-RateLimit-Reset time the server gave."""
    reset = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    fake_mastodon.fail_next(
        "POST",
        "/api/v1/statuses",
        429,
        headers={"X-RateLimit-Reset": reset.isoformat().replace("+00:00", "Z")},
    )
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING
    assert row.next_attempt_at >= reset
    (scheduled,) = huey.scheduled()
    assert scheduled.eta.replace(tzinfo=UTC) >= reset
    assert "Retrying: Your server asked us to slow down." in words(
        client.get(f"/posts/{row.post_id}").text
    )
    assert run_queued_tasks() == 0  # nothing runs before the reset
    assert len(status_requests(fake_mastodon)) == 1

    run_retries()
    assert row.state == CrosspostState.SENT
    assert len(fake_mastodon.statuses) == 1


def test_rate_limit_reset_as_http_date_is_honoured_too(
    client, connected, fake_mastodon, bakery_with_handle
):
    """Servers that give the reset in another date format are still waited for."""
    reset = (utcnow() + timedelta(minutes=40)).replace(microsecond=0)
    fake_mastodon.fail_next(
        "POST",
        "/api/v1/statuses",
        429,
        headers={"X-RateLimit-Reset": format_datetime(reset, usegmt=True)},
    )
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING and row.next_attempt_at >= reset


def test_revoked_token_asks_to_reconnect_then_sends_once(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A 401 marks the account, tells the user, and after reconnecting "Send again" sends once."""
    fake_mastodon.revoke_tokens("alice")
    row = submit(client, bakery_with_handle)
    run_retries(2)
    assert row.state == CrosspostState.NEEDS_LOGIN
    assert connected.mastodon_account.needs_login is True
    box = words(crosspost_box(client.get(f"/posts/{row.post_id}").text))
    assert "Needs re-login:" in box and "Send again" in box
    assert status_requests(fake_mastodon) == []

    assert mastodon_sign_in(client, fake_mastodon).status_code == 302
    db.session.expire_all()
    assert connected.mastodon_account.needs_login is False
    assert "Your Mastodon server no longer accepts our sign-in" not in client.get("/me").text
    response = client.post(f"/posts/{row.post_id}/crosspost/retry")
    assert response.status_code == 302
    run_queued_tasks()
    assert row.state == CrosspostState.SENT
    assert len(fake_mastodon.statuses) == 1
    (attempt,) = status_requests(fake_mastodon)
    assert attempt["headers"].get("Idempotency-Key") == row.idempotency_key


@pytest.mark.parametrize("path", ["/", "/me", "/wall", "/challenge", "/settings", "/posts/new"])
def test_reconnect_banner_shows_on_every_page(
    client, connected, fake_mastodon, bakery_with_handle, path
):
    """Once the server refuses our token, every page offers to reconnect."""
    assert "Reconnect Mastodon" not in client.get(path).text
    fake_mastodon.revoke_tokens("alice")
    send_row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert send_row.state == CrosspostState.NEEDS_LOGIN
    page = client.get(path).text
    assert "Your Mastodon server no longer accepts our sign-in" in page
    assert "Reconnect Mastodon" in page


def test_other_client_errors_fail_with_the_servers_reason(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A 422 is not retried: the post says "Not sent" with the server's own words."""
    fake_mastodon.fail_next(
        "POST", "/api/v1/statuses", 422, body={"error": "Validation failed: Text is spam"}
    )
    row = submit(client, bakery_with_handle)
    run_retries(3)
    assert row.state == CrosspostState.FAILED and row.next_attempt_at is None
    assert len(status_requests(fake_mastodon)) == 1
    box = words(crosspost_box(client.get(f"/posts/{row.post_id}").text))
    assert "Not sent: Your server refused it (HTTP 422): Validation failed: Text is spam" in box
    assert "Try again" in box


def test_giving_up_offers_a_retry_with_the_same_key(
    app, client, connected, fake_mastodon, bakery_with_handle
):
    """After the most attempts allowed the post says "Gave up", and "Try again" sends it once."""
    app.config["DELIVERY_MAX_ATTEMPTS"] = 3
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 502, times=3)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    run_retries(4)
    assert row.state == CrosspostState.GAVE_UP and row.next_attempt_at is None
    assert len(status_requests(fake_mastodon)) == 3
    box = words(crosspost_box(client.get(f"/posts/{row.post_id}").text))
    assert "Gave up after 3 tries: Your server had a problem (502)." in box
    assert "Try again" in box

    assert client.post(f"/posts/{row.post_id}/crosspost/retry").status_code == 302
    run_queued_tasks()
    assert row.state == CrosspostState.SENT
    attempts = status_requests(fake_mastodon)
    assert len(attempts) == 4 and len(fake_mastodon.statuses) == 1
    assert {r["headers"].get("Idempotency-Key") for r in attempts} == {row.idempotency_key}


def test_sweep_requeues_a_delivery_the_queue_lost(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A pending row whose queue message vanished is found by the sweep and sent once."""
    row = submit(client, bakery_with_handle)
    huey.storage.flush_queue()
    tasks.sweep.call_local()
    assert run_queued_tasks() == 0  # not overdue yet: the queue may simply be busy
    row.next_attempt_at = utcnow() - rows.STUCK_AFTER - timedelta(seconds=1)
    db.session.commit()
    tasks.sweep.call_local()
    assert run_queued_tasks() == 1
    assert row.state == CrosspostState.SENT
    assert len(fake_mastodon.statuses) == 1


# --- What the author sees, and who may press "retry" ---


def make_row(post: Post, account: MastodonAccount, **fields) -> Crosspost:
    """Add a crosspost row in a given state."""
    row = Crosspost(
        post=post,
        account=account,
        idempotency_key=f"key-{post.id}",
        post_url=f"http://{SITE}/posts/{post.id}",
        mention_acct=HANDLE,
        **fields,
    )
    db.session.add(row)
    db.session.commit()
    return row


STATES = [
    ({"state": "pending"}, ["Sending to Mastodon…"], None),
    # An attempt under way has counted itself, with nothing gone wrong yet.
    (
        {
            "state": "pending",
            "attempts": 1,
            "next_attempt_at": datetime.now(UTC) + timedelta(minutes=2),
        },
        ["Sending to Mastodon…"],
        None,
    ),
    (
        {
            "state": "pending",
            "attempts": 2,
            "last_error": "Your server had a problem (503).",
            "next_attempt_at": datetime.now(UTC) + timedelta(hours=1),
        },
        ["Retrying: Your server had a problem (503).", "We'll try again in"],
        None,
    ),
    (
        {"state": "sent", "remote_url": "https://social.example/@alice/1", "remote_id": "1"},
        ["Sent to Mastodon.", "See it there"],
        None,
    ),
    (
        {"state": "needs_login", "last_error": "Your server no longer accepts our sign-in."},
        ["Needs re-login: Your server no longer accepts our sign-in.", "Reconnect Mastodon"],
        "Send again",
    ),
    (
        {"state": "failed", "last_error": "Your server refused it: Validation failed"},
        ["Not sent: Your server refused it: Validation failed"],
        "Try again",
    ),
    (
        {"state": "gave_up", "attempts": 8, "last_error": "Your server didn't answer in time."},
        ["Gave up after 8 tries: Your server didn't answer in time."],
        "Try again",
    ),
    ({"state": "gone", "remote_id": "1"}, ["Deleted on Mastodon."], None),
]


@pytest.mark.parametrize(("fields", "phrases", "button"), STATES)
@pytest.mark.parametrize("where", ["me", "permalink"])
def test_author_sees_each_crosspost_state(
    client, connected, make_post, bakery_with_handle, fields, phrases, button, where
):
    """/me and the permalink show where the status stands, with a retry button when stopped."""
    post = make_post(connected, bakery_with_handle)
    make_row(post, connected.mastodon_account, **fields)
    page = client.get("/me" if where == "me" else f"/posts/{post.id}").text
    box = crosspost_box(page)
    assert f"crosspost-{fields['state']}" in box
    for phrase in phrases:
        assert phrase in words(box)
    retry_form = f'action="/posts/{post.id}/crosspost/retry?network=mastodon"'
    if button:
        assert retry_form in box and f">{button}</button>" in box
    else:
        assert retry_form not in box


def test_others_never_see_the_crosspost_state(
    client, connected, make_post, bakery_with_handle, make_user
):
    """Visitors to a public post don't see its delivery state or buttons."""
    post = make_post(connected, bakery_with_handle)
    make_row(post, connected.mastodon_account, state="failed", last_error="Refused")
    client.post("/logout")
    page = client.get(f"/posts/{post.id}").text
    assert 'class="crosspost' not in page and "crosspost/retry" not in page


@pytest.mark.parametrize(("who", "expected"), [("bob", 403), (None, 302)])
def test_only_the_author_may_retry(
    client, connected, make_post, bakery_with_handle, make_user, who, expected
):
    """Someone else gets 403 and an anonymous visitor is sent to log in; nothing is queued."""
    post = make_post(connected, bakery_with_handle)
    row = make_row(post, connected.mastodon_account, state="failed", last_error="Refused")
    client.post("/logout")
    if who:
        make_user(who)
        AuthActions(client).login(who)
    response = client.post(f"/posts/{post.id}/crosspost/retry")
    assert response.status_code == expected
    if expected == 302:
        assert "/login" in response.headers["Location"]
    db.session.expire_all()
    assert row.state == CrosspostState.FAILED
    assert run_queued_tasks() == 0


def test_a_sent_status_cannot_be_sent_again(client, connected, fake_mastodon, bakery_with_handle):
    """Retrying a status that is already out is refused, so it can't be doubled."""
    row = send(client, bakery_with_handle)
    assert client.post(f"/posts/{row.post_id}/crosspost/retry").status_code == 409
    assert run_queued_tasks(scheduled=True) == 0
    assert len(fake_mastodon.statuses) == 1


# --- Deleting ---


@pytest.mark.parametrize("failures", [0, 2])
def test_deleting_a_post_deletes_its_status(
    client, connected, fake_mastodon, bakery_with_handle, failures
):
    """The status goes with the post; a server error on the way is retried until it's done."""
    row = send(client, bakery_with_handle)
    row_id, post_id, remote_id = row.id, row.post_id, row.remote_id
    if failures:
        fake_mastodon.fail_next("DELETE", "/api/v1/statuses/", 503, times=failures)
    assert client.post(f"/posts/{post_id}/delete").status_code == 302
    assert db.session.get(Post, post_id) is None
    run_queued_tasks()
    for _ in range(failures):
        left = db.session.get(Crosspost, row_id)
        assert left is not None and left.state == CrosspostState.DELETING
        assert live_statuses(fake_mastodon) != []
        run_retries()
    deletes = [r for r in fake_mastodon.requests if r["method"] == "DELETE"]
    assert [r["path"] for r in deletes] == [f"/api/v1/statuses/{remote_id}"] * (failures + 1)
    assert [r["status"] for r in deletes] == [503] * failures + [200]
    assert live_statuses(fake_mastodon) == []
    assert db.session.get(Crosspost, row_id) is None


def test_deleting_an_unsent_post_calls_nobody(client, connected, fake_mastodon, bakery_with_handle):
    """A post whose status never went out is deleted here and nothing is sent or deleted there."""
    row = submit(client, bakery_with_handle)
    huey.storage.flush_queue()
    assert client.post(f"/posts/{row.post_id}/delete").status_code == 302
    run_queued_tasks(scheduled=True)
    tasks.sweep.call_local()
    run_queued_tasks(scheduled=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Crosspost)) == 0
    assert fake_mastodon.statuses == []
    assert [r for r in fake_mastodon.requests if r["method"] == "DELETE"] == []


def test_deleting_a_post_whose_sending_timed_out_deletes_its_status(
    client, connected, fake_mastodon, bakery_with_handle, monkeypatch
):
    """A status the server made although we never heard back still goes with its post."""
    monkeypatch.setattr(mastodon, "TIMEOUT", 1)
    fake_mastodon.delay_next("POST", "/api/v1/statuses", 2)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING and len(live_statuses(fake_mastodon)) == 1
    assert client.post(f"/posts/{row.post_id}/delete").status_code == 302
    run_retries(2)
    assert live_statuses(fake_mastodon) == []


def test_deleting_a_post_whose_sending_failed_deletes_nothing(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A status that every attempt failed to make is looked for, not found, and not deleted."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 503)
    row = submit(client, bakery_with_handle)
    row_id = row.id
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING and fake_mastodon.statuses == []
    assert client.post(f"/posts/{row.post_id}/delete").status_code == 302
    run_retries(2)
    assert db.session.get(Crosspost, row_id) is None
    assert fake_mastodon.statuses == []
    assert [r for r in fake_mastodon.requests if r["method"] == "DELETE"] == []


def test_a_status_deleted_on_the_server_shows_as_deleted(
    client, connected, fake_mastodon, bakery_with_handle
):
    """When the user deletes the status on Mastodon, the next reply check notices."""
    row = send(client, bakery_with_handle)
    token = fake_mastodon.create_token("alice")
    Mastodon(access_token=token, api_base_url=fake_mastodon.url).status_delete(row.remote_id)
    tasks.check_reply.call_local(row.id)
    db.session.expire_all()
    assert row.state == CrosspostState.GONE and row.next_reply_check_at is None
    box = words(crosspost_box(client.get(f"/posts/{row.post_id}").text))
    assert "Deleted on Mastodon." in box


# --- The challenge ---


@pytest.mark.parametrize(
    ("visibility", "counted"),
    [("public", 1), ("unlisted", 0), ("private", 0), ("direct", 0)],
)
def test_private_praise_counts_once_sent_publicly(
    client, connected, fake_mastodon, bakery_with_handle, visibility, counted
):
    """Praise kept off the wall counts for the challenge only once it went out publicly."""

    def progress() -> int:
        round_ = challenge.current_round(connected)
        return challenge.progress(round_).count if round_ else 0

    row = submit(client, bakery_with_handle, is_on_wall=None, visibility=visibility)
    assert progress() == 0
    run_queued_tasks()
    assert row.state == CrosspostState.SENT
    assert progress() == counted


# --- Robustness of the worker ---


def test_retries_are_scheduled_at_the_right_moment_in_any_time_zone(
    client, connected, fake_mastodon, bakery_with_handle, monkeypatch
):
    """The queue gets the retry time as an aware UTC time, so the machine's zone can't shift it."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        fake_mastodon.fail_next("POST", "/api/v1/statuses", 503)
        row = submit(client, bakery_with_handle)
        run_queued_tasks()
        (task,) = huey.scheduled()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    eta = task.eta.replace(tzinfo=UTC)  # Huey keeps times as naive UTC
    assert abs((eta - row.next_attempt_at).total_seconds()) < 1


def test_an_early_or_repeated_task_does_not_attempt_again(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A delivery task that arrives before its row is due (the sweep and a retry) does nothing."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 503)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.attempts == 1 and row.next_attempt_at > utcnow()
    tasks.deliver.call_local(row.id)
    tasks.deliver.call_local(row.id)
    db.session.expire_all()
    assert row.attempts == 1 and len(status_requests(fake_mastodon)) == 1


def test_an_unforeseen_error_is_counted_and_retried(
    client, connected, fake_mastodon, bakery_with_handle, monkeypatch, caplog
):
    """An error nobody planned for leaves the row retrying with a plain reason, never stuck."""

    def broken(*args, **kwargs):
        raise TypeError("the server sent something odd")

    monkeypatch.setattr(mastodon, "post_status", broken)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING and row.attempts == 1
    assert row.next_attempt_at > utcnow()
    assert "Something unexpected went wrong" in words(client.get(f"/posts/{row.post_id}").text)
    monkeypatch.undo()
    run_retries()
    assert row.state == CrosspostState.SENT and len(fake_mastodon.statuses) == 1


def test_a_missing_encryption_key_is_logged_and_retried_not_blamed_on_the_person(
    app, client, connected, fake_mastodon, bakery_with_handle, caplog
):
    """No key reads the token: the operator is told, the person isn't asked to reconnect, and
    once the key is back the retry delivers."""
    row = submit(client, bakery_with_handle)
    keys = app.extensions["fernet"]
    app.extensions["fernet"] = MultiFernet([Fernet(Fernet.generate_key())])
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING and row.attempts == 1
    assert not row.account.needs_login and fake_mastodon.statuses == []
    assert "No encryption key reads" in caplog.text
    page = words(client.get(f"/posts/{row.post_id}").text)
    assert "reconnect" not in page.lower()
    app.extensions["fernet"] = keys
    run_retries()
    assert row.state == CrosspostState.SENT and len(fake_mastodon.statuses) == 1


def test_editing_a_pending_post_to_another_business_mentions_that_one(
    client, connected, fake_mastodon, bakery_with_handle, make_business
):
    """The status names the business the post is about when it goes out, not when written."""
    cafe = make_business("Harbour Cafe", handle="@hello@harbour.example")
    fake_mastodon.add_account("hello", domain="harbour.example")
    row = submit(client, bakery_with_handle)
    response = client.post(
        f"/posts/{row.post_id}/edit",
        data={**compose_form(cafe), "body": "Actually it was the cafe."},
    )
    assert response.status_code == 302
    run_queued_tasks()
    (status,) = fake_mastodon.statuses
    assert "@hello@harbour.example" in status["status"] and HANDLE not in status["status"]
    assert row.mention_acct == "@hello@harbour.example"


def test_reply_numbers_count_only_posts_on_the_wall(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A private post's status and its reply stay out of the business's public numbers."""
    row = send(client, bakery_with_handle, is_on_wall=None, visibility="direct")
    fake_mastodon.reply(
        row.remote_id, "support@cornerbakery.example", "Sorry!", visibility="direct"
    )
    tasks.check_reply.call_local(row.id)
    page = client.get(f"/b/{bakery_with_handle.slug}").text
    assert re.search(r"<dt>Replies</dt><dd>–</dd>", page)


def test_connecting_another_account_leaves_old_statuses_with_the_old_one(
    client, connected, fake_mastodon, bakery_with_handle
):
    """After switching accounts, an old status is not checked or deleted with the new token."""
    row = send(client, bakery_with_handle)
    fake_mastodon.add_account("alice2")
    assert mastodon_sign_in(client, fake_mastodon, "alice2").status_code == 302
    db.session.expire_all()
    assert row.account_id is None
    assert connected.mastodon_account.acct.startswith("alice2@")
    client.post(f"/posts/{row.post_id}/delete")
    run_queued_tasks()
    assert [r for r in fake_mastodon.requests if r["method"] == "DELETE"] == []


@pytest.mark.parametrize(
    ("entry", "base"),
    [
        ("mastodon.social:443", "https://mastodon.social"),
        ("https://a.example:8443", "https://a.example:8443"),
    ],
)
def test_default_ports_are_one_spelling_of_a_server(entry, base):
    """A server written with its default port is the same server as without it."""
    assert parse_server(entry) == base
